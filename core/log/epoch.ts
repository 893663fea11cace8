import { LANE_NAME_PATTERN } from '../model/records.js';
import type { Signer } from '../ports/ports.js';
import { HASH_SIZE } from './merkle.js';
import {
  type CheckpointFailureCode,
  CheckpointMalformedError,
  checkOrigin,
  isNoteTime,
  noteTime,
  signNote,
  splitSignedNote,
  strictBase64,
  verifyNoteSignatures,
} from './signedNote.js';

/**
 * The epoch statement: one signed note per checkpoint epoch, by the root key, naming every lane of the log
 * with its size and RFC 6962 root, and the time it was signed. A lane dropped from an export, or a lane's
 * tail cut, no longer matches it; a lane missing from it was never part of the log at that time.
 *
 *     zt-infra/local/<id>
 *     epoch 17
 *     time 2026-11-26T08:00:00.000Z
 *     lane main 1200 <base64 root>
 *     lane w-1 300 <base64 root>
 *
 *     — zt-infra/local/<id> <base64(4-byte key id || DER ECDSA signature)>
 *
 * The first line is the log's origin: every lane's checkpoint origin is `<log origin>/<lane>`. The second
 * line (`epoch N`, never a decimal) keeps an epoch note from ever parsing as a lane checkpoint, and a
 * checkpoint from ever parsing as an epoch. Lanes are listed once each, sorted by name (byte order), `main`
 * always among them. Epoch numbers start at 1 and grow by one; the gateway signs epoch N+1 only with every
 * lane's size at least epoch N's and a later time, so an older epoch is a rollback.
 */

/** One lane as an epoch names it. */
export interface EpochLane {
  lane: string;
  size: number;
  /** Base64 of the 32-byte RFC 6962 root of the lane's first `size` records. */
  root: string;
}

/** A signed epoch statement as served (`epoch` of `GET /audit/checkpoint`); the fields repeat the note. */
export interface Epoch {
  /** The log's origin (the lanes' checkpoint origins without their last segment). */
  origin: string;
  epoch: number;
  /** ISO 8601 UTC with milliseconds: when the root key signed it. */
  time: string;
  lanes: EpochLane[];
  note: string;
}

/** More lanes than this in one statement is refused as abuse. */
export const MAX_EPOCH_LANES = 100_000;

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function decimal(text: string | undefined, what: string): number {
  if (text === undefined || !DECIMAL.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new CheckpointMalformedError(`${what} must be a decimal integer, got \`${String(text)}\``);
  }
  return Number(text);
}

/** Byte order of lane names (ASCII): the order an epoch lists them in. */
export function compareLanes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The text an epoch note signs. Throws `CHECKPOINT_MALFORMED` on a bad origin, lane, size or root. */
export function formatEpochBody(fields: {
  origin: string;
  epoch: number;
  time: Date;
  lanes: ReadonlyArray<{ lane: string; size: number; root: Uint8Array | string }>;
}): string {
  checkOrigin(fields.origin);
  if (!Number.isSafeInteger(fields.epoch) || fields.epoch < 1) {
    throw new CheckpointMalformedError(`epoch must be an integer >= 1, got \`${fields.epoch}\``);
  }
  const lanes = [...fields.lanes].sort((a, b) => compareLanes(a.lane, b.lane));
  if (lanes.length === 0 || lanes.length > MAX_EPOCH_LANES) {
    throw new CheckpointMalformedError(`an epoch names 1 to ${MAX_EPOCH_LANES} lanes, got ${lanes.length}`);
  }
  let text = `${fields.origin}\nepoch ${fields.epoch}\ntime ${noteTime(fields.time)}\n`;
  let previous: string | null = null;
  for (const { lane, size, root } of lanes) {
    if (!LANE_NAME_PATTERN.test(lane)) throw new CheckpointMalformedError(`invalid lane name \`${lane}\``);
    if (lane === previous) throw new CheckpointMalformedError(`lane \`${lane}\` is named twice`);
    previous = lane;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new CheckpointMalformedError(`size of lane \`${lane}\` must be an integer >= 0, got \`${size}\``);
    }
    const bytes = typeof root === 'string' ? strictBase64(root) : Buffer.from(root);
    if (bytes === null || bytes.length !== HASH_SIZE) {
      throw new CheckpointMalformedError(`root of lane \`${lane}\` must be ${HASH_SIZE} bytes`);
    }
    text += `lane ${lane} ${size} ${bytes.toString('base64')}\n`;
  }
  return text;
}

/** Signs an epoch statement with the root key (key name: the log's origin). A signer failure rejects. */
export async function signEpoch(
  fields: {
    origin: string;
    epoch: number;
    time: Date;
    lanes: ReadonlyArray<{ lane: string; size: number; root: Uint8Array | string }>;
  },
  signer: Signer,
): Promise<Epoch> {
  const body = formatEpochBody(fields);
  const note = await signNote(body, signer, fields.origin);
  const parsed = parseEpochNote(note);
  return { origin: parsed.origin, epoch: parsed.epoch, time: parsed.time, lanes: parsed.lanes, note };
}

/** An epoch note split into its fields; nothing verified yet. */
export interface ParsedEpochNote {
  origin: string;
  epoch: number;
  time: string;
  lanes: EpochLane[];
  body: string;
  signatures: ReturnType<typeof splitSignedNote>['signatures'];
}

/** Parses an epoch note strictly (the exact lines above, lanes sorted and unique). Throws `CheckpointMalformedError`. */
export function parseEpochNote(note: string): ParsedEpochNote {
  const { body, lines, signatures } = splitSignedNote(note);
  if (lines.length < 4) {
    throw new CheckpointMalformedError(
      `an epoch note holds its origin, \`epoch N\`, \`time T\` and at least one \`lane\` line, got ${lines.length} lines`,
    );
  }
  if (lines.length - 3 > MAX_EPOCH_LANES) {
    throw new CheckpointMalformedError(`an epoch names at most ${MAX_EPOCH_LANES} lanes`);
  }
  const [origin, epochLine, timeLine] = lines as [string, string, string];
  checkOrigin(origin);
  if (!epochLine.startsWith('epoch ')) {
    throw new CheckpointMalformedError(
      `the second line of an epoch note is \`epoch N\`, got \`${epochLine}\``,
    );
  }
  const epoch = decimal(epochLine.slice(6), 'epoch');
  if (epoch < 1) throw new CheckpointMalformedError('epoch numbers start at 1');
  const time = timeLine.startsWith('time ') ? timeLine.slice(5) : '';
  if (!isNoteTime(time)) {
    throw new CheckpointMalformedError(
      `the third line of an epoch note is \`time <ISO 8601 UTC with milliseconds>\`, got \`${timeLine}\``,
    );
  }
  const lanes: EpochLane[] = [];
  for (const line of lines.slice(3)) {
    const parts = line.split(' ');
    if (parts.length !== 4 || parts[0] !== 'lane') {
      throw new CheckpointMalformedError(
        `a lane line is \`lane <name> <size> <base64 root>\`, got \`${line}\``,
      );
    }
    const [, lane, sizeText, root] = parts as [string, string, string, string];
    if (!LANE_NAME_PATTERN.test(lane)) throw new CheckpointMalformedError(`invalid lane name \`${lane}\``);
    const previous = lanes[lanes.length - 1];
    if (previous !== undefined && compareLanes(previous.lane, lane) >= 0) {
      throw new CheckpointMalformedError(
        `lanes must be listed once each, sorted by name: \`${lane}\` after \`${previous.lane}\``,
      );
    }
    const size = decimal(sizeText, `size of lane \`${lane}\``);
    const bytes = strictBase64(root);
    if (bytes === null || bytes.length !== HASH_SIZE) {
      throw new CheckpointMalformedError(`root of lane \`${lane}\` must be base64 of ${HASH_SIZE} bytes`);
    }
    lanes.push({ lane, size, root });
  }
  return { origin, epoch, time, lanes, body, signatures };
}

export type EpochVerification =
  | { ok: true; keyId: string; epoch: ParsedEpochNote }
  | { ok: false; code: CheckpointFailureCode; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** True when `value` looks like an epoch body (has `epoch` and `lanes`), to tell it from a lane checkpoint. */
export function isEpochBody(value: unknown): boolean {
  return isObject(value) && typeof value['note'] === 'string' && Array.isArray(value['lanes']);
}

/**
 * Verifies an epoch body against the trusted root keys, in the steps of `verifyCheckpoint`: shape and strict
 * note format (`CHECKPOINT_MALFORMED`), a signature named by the origin from a trusted root
 * (`CHECKPOINT_UNKNOWN_KEY`), that signature over the text (`CHECKPOINT_SIGNATURE_INVALID`), the JSON fields
 * equal to the note's (`CHECKPOINT_FIELDS_MISMATCH`). Never throws on input.
 */
export function verifyEpoch(value: unknown, trustedRootPems: string[]): EpochVerification {
  if (!isObject(value) || typeof value['note'] !== 'string') {
    return { ok: false, code: 'CHECKPOINT_MALFORMED', message: 'an epoch is an object with a string `note`' };
  }
  let parsed: ParsedEpochNote;
  try {
    parsed = parseEpochNote(value['note']);
  } catch (e) {
    if (e instanceof CheckpointMalformedError)
      return { ok: false, code: 'CHECKPOINT_MALFORMED', message: e.message };
    throw e;
  }
  const signed = verifyNoteSignatures(parsed.body, parsed.signatures, parsed.origin, trustedRootPems);
  if (!signed.ok) return signed;
  const lanes = value['lanes'];
  const sameLanes =
    Array.isArray(lanes) &&
    lanes.length === parsed.lanes.length &&
    parsed.lanes.every((l, i) => {
      const given = lanes[i] as Record<string, unknown> | null;
      return (
        isObject(given) && given['lane'] === l.lane && given['size'] === l.size && given['root'] === l.root
      );
    });
  if (
    value['origin'] !== parsed.origin ||
    value['epoch'] !== parsed.epoch ||
    value['time'] !== parsed.time ||
    !sameLanes
  ) {
    return {
      ok: false,
      code: 'CHECKPOINT_FIELDS_MISMATCH',
      message: `the epoch's fields differ from its signed note (epoch ${parsed.epoch} of \`${parsed.origin}\`)`,
    };
  }
  return { ok: true, keyId: signed.keyId, epoch: parsed };
}
