import { CodedError } from '../errors/CodedError.js';
import { laneOfOrigin, logOriginOf, parseCheckpointNote } from '../log/checkpoint.js';
import { parseEpochNote } from '../log/epoch.js';
import { CheckpointMalformedError, verifyNoteSignatures } from '../log/signedNote.js';

/**
 * The verifier's memory (`zt-audit verify --state FILE`): the newest signed statement it accepted for one log,
 * so that a later bundle cut back to an older genuine checkpoint, or one inconsistent with it, is tamper
 * evidence. The file is JSON:
 *
 *     {"format": "zt-audit-state/v1", "note": "<signed note>", "origin": ..., "epoch": ..., "time": ...,
 *      "lanes": [{"lane", "size", "root"}], "verifiedAt": "<the verifier's clock>"}
 *
 * Only `note` counts: the newest epoch note accepted (or, for a log from before epochs, its newest lane
 * checkpoint note). It is verified again with the trusted root keys each time the file is read, and every
 * other field is derived from it (they repeat it for people reading the file).
 */

export const STATE_FORMAT = 'zt-audit-state/v1';

/** What the verifier remembers of a log. */
export interface RememberedLog {
  /** The log's origin (an epoch's origin, or a lane checkpoint's origin without its lane). */
  origin: string;
  /** The epoch number, or null when the note is a lane checkpoint (a log from before epochs). */
  epoch: number | null;
  /** The signed time, or null for a lane checkpoint without one. */
  time: string | null;
  lanes: Array<{ lane: string; size: number; root: string }>;
  note: string;
}

/** A state file that cannot be used: exit 2, never overwritten. */
export class VerifierStateError extends CodedError<'STATE_UNUSABLE'> {
  constructor(message: string, options?: ErrorOptions) {
    super('STATE_UNUSABLE', message, options);
  }
}

/** Reads what a signed note says, verifying its signature with the trusted root keys. */
export function rememberedFromNote(note: string, trustedRootKeys: string[]): RememberedLog {
  try {
    if (/^[^\n]*\nepoch /.test(note)) {
      const epoch = parseEpochNote(note);
      const signed = verifyNoteSignatures(epoch.body, epoch.signatures, epoch.origin, trustedRootKeys);
      if (!signed.ok) throw new VerifierStateError(`the state's note does not verify: ${signed.message}`);
      return { origin: epoch.origin, epoch: epoch.epoch, time: epoch.time, lanes: epoch.lanes, note };
    }
    const cp = parseCheckpointNote(note);
    const signed = verifyNoteSignatures(cp.body, cp.signatures, cp.origin, trustedRootKeys);
    if (!signed.ok) throw new VerifierStateError(`the state's note does not verify: ${signed.message}`);
    return {
      origin: logOriginOf(cp.origin),
      epoch: null,
      time: cp.time,
      lanes: [{ lane: laneOfOrigin(cp.origin), size: cp.size, root: cp.root }],
      note,
    };
  } catch (e) {
    if (e instanceof CheckpointMalformedError)
      throw new VerifierStateError(`the state's note is malformed: ${e.message}`);
    throw e;
  }
}

/** Reads a parsed state file (null: no file yet). Throws {@link VerifierStateError} when it is not usable. */
export function readVerifierState(doc: unknown, trustedRootKeys: string[]): RememberedLog | null {
  if (doc === null || doc === undefined) return null;
  const value = doc as Record<string, unknown>;
  if (typeof value !== 'object' || Array.isArray(value) || value['format'] !== STATE_FORMAT) {
    throw new VerifierStateError(`a state file is a JSON object with \`"format": "${STATE_FORMAT}"\``);
  }
  if (typeof value['note'] !== 'string') throw new VerifierStateError('the state file has no `note`');
  return rememberedFromNote(value['note'], trustedRootKeys);
}

/** The state file's JSON for `remembered`. */
export function formatVerifierState(remembered: RememberedLog, verifiedAt: Date): string {
  return `${JSON.stringify(
    {
      format: STATE_FORMAT,
      origin: remembered.origin,
      epoch: remembered.epoch,
      time: remembered.time,
      lanes: remembered.lanes,
      note: remembered.note,
      verifiedAt: verifiedAt.toISOString(),
    },
    null,
    2,
  )}\n`;
}
