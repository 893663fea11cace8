import type { Signer } from '../ports/ports.js';
import { HASH_SIZE } from './merkle.js';
import {
  type CheckpointFailureCode,
  CheckpointMalformedError,
  checkOrigin,
  isNoteTime,
  type NoteSignature,
  noteTime,
  signNote,
  splitSignedNote,
  strictBase64,
  trustedKeyOf,
  verifyNoteSignatures,
} from './signedNote.js';

/**
 * C2SP `tlog-checkpoint` signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note) over the RFC 6962
 * root of one lane (one hash chain) of the audit log, signed by the root key with ECDSA P-256 (signed-note
 * signature type 0x02). The origin's last segment is the lane.
 *
 *     zt-infra/local/<id>/main
 *     250
 *     <base64 root>
 *     time 2026-11-26T08:00:00.000Z
 *
 *     — zt-infra/local/<id>/main <base64(4-byte key id || DER ECDSA signature)>
 *
 * The fourth line is an extension line (the spec allows them after the root; Go's
 * `golang.org/x/mod/sumdb/tlog.ParseTree` ignores them): the signed time at which the note was signed, ISO
 * 8601 UTC with milliseconds. Notes signed before this release have no such line and still verify; their
 * time is unknown.
 *
 * Here: the checkpoint's fields, its origin (the lane's name in the log's), and signing, parsing and
 * verifying one. The signed-note layer it shares with epoch statements (the strict split, signature lines,
 * key ids, the `time` line's format) is core/log/signedNote.ts.
 */

/** A signed checkpoint, exactly the JSON body of `GET /audit/checkpoint`. */
export interface Checkpoint {
  origin: string;
  size: number;
  /** Base64 of the 32-byte RFC 6962 root. */
  root: string;
  /** The signed time (the note's `time` extension line); absent for notes signed before it existed. */
  time?: string;
  /** The full C2SP signed note; `origin`, `size`, `root` and `time` repeat what it says. */
  note: string;
}

/** A note split into its checkpoint fields and its signature lines; nothing is verified yet. */
export interface ParsedCheckpointNote {
  origin: string;
  size: number;
  /** Base64 of the root, as written in the note. */
  root: string;
  rootBytes: Buffer;
  /** The signed time of the `time` extension line, or null when the note has none (an older note). */
  time: string | null;
  /** The signed text: the checkpoint lines, each ending in a newline. */
  body: string;
  signatures: NoteSignature[];
}

export type CheckpointVerification =
  | { ok: true; keyId: string; time: string | null }
  | { ok: false; code: CheckpointFailureCode; message: string };

/** The origin (and key name) of a chain's checkpoints when the gateway does not configure one. */
export function defaultCheckpointOrigin(chain: string): string {
  return `zt-infra/${chain}`;
}

/** One segment of an origin: non-empty, no `/`, no Unicode space, `+` or control character. */
const ORIGIN_SEGMENT = /^[^\s\p{Z}+/\p{Cc}]+$/u;

/**
 * The origin (and key name) of one log's checkpoints: `zt-infra/<scope...>/<chain>`. The scope names where
 * the log lives: in the cloud `[partition, account, region, stackName]`, in the emulator `['local', <data
 * dir id>]`. Two logs never share an origin, so a witness or monitor that keeps state per origin (the
 * newest size and root it saw) cannot mistake one deployment's checkpoints for another's.
 *
 * Throws `CHECKPOINT_MALFORMED` when a segment is empty or holds `/`, a space, `+` or a control character.
 */
export function checkpointOrigin(scope: readonly string[], chain: string): string {
  for (const segment of [...scope, chain]) {
    if (typeof segment !== 'string' || !ORIGIN_SEGMENT.test(segment)) {
      throw new CheckpointMalformedError(
        `origin segments must be non-empty, without \`/\`, spaces, \`+\` or control characters, got \`${segment}\``,
      );
    }
  }
  return ['zt-infra', ...scope, chain].join('/');
}

/** The lane a checkpoint origin names: its last segment (`.../main` is the lane `main`). */
export function laneOfOrigin(origin: string): string {
  return origin.slice(origin.lastIndexOf('/') + 1);
}

/** The log's origin a lane origin belongs to: the origin without its last segment (`zt-infra/main` -> `zt-infra`). */
export function logOriginOf(laneOrigin: string): string {
  const cut = laneOrigin.lastIndexOf('/');
  return cut < 0 ? laneOrigin : laneOrigin.slice(0, cut);
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * The checkpoint text a note signs: `<origin>\n<size>\n<base64 root>\n`, then `time <ISO>\n` when a time is
 * given.
 */
export function formatCheckpointBody(origin: string, size: number, root: Uint8Array, time?: Date): string {
  checkOrigin(origin);
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new CheckpointMalformedError(`size must be a non-negative integer, got \`${size}\``);
  }
  if (!(root instanceof Uint8Array) || root.length !== HASH_SIZE) {
    throw new CheckpointMalformedError(`root must be ${HASH_SIZE} bytes`);
  }
  const base = `${origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
  return time === undefined ? base : `${base}time ${noteTime(time)}\n`;
}

/**
 * Signs a checkpoint with `signer` (the root key): ECDSA P-256 DER over SHA-256 of the body text, i.e.
 * `signer.sign(body)`, which a KMS adapter sends as `MessageType: RAW` (or its SHA-256 as `DIGEST`).
 * `keyName` defaults to the origin, as C2SP logs do. A signer failure rejects.
 */
export async function signCheckpoint(
  fields: { origin: string; size: number; root: Uint8Array; time?: Date },
  signer: Signer,
  keyName: string = fields.origin,
): Promise<Checkpoint> {
  const body = formatCheckpointBody(fields.origin, fields.size, fields.root, fields.time);
  const note = await signNote(body, signer, keyName);
  const checkpoint: Checkpoint = {
    origin: fields.origin,
    size: fields.size,
    root: Buffer.from(fields.root).toString('base64'),
    note,
  };
  if (fields.time !== undefined) checkpoint.time = noteTime(fields.time);
  // Key order as served: origin, size, root, time, note.
  return fields.time === undefined
    ? checkpoint
    : {
        origin: checkpoint.origin,
        size: checkpoint.size,
        root: checkpoint.root,
        time: checkpoint.time as string,
        note,
      };
}

/**
 * Parses a checkpoint note strictly: the three checkpoint lines and at most one extension line, which must
 * be `time <ISO 8601 UTC with milliseconds>` (a verifier that trusts a line it does not understand is not
 * strict), a blank line, then 1 to 16 well-formed signature lines, a final newline, no control characters.
 * Throws `CheckpointMalformedError`; verifies nothing.
 */
export function parseCheckpointNote(note: string): ParsedCheckpointNote {
  const { body, lines, signatures } = splitSignedNote(note);
  if (lines.length !== 3 && lines.length !== 4) {
    throw new CheckpointMalformedError(
      `checkpoint text must be 3 lines (origin, size, root) and an optional time line, got ${lines.length}`,
    );
  }
  const [origin, sizeText, root, timeLine] = lines as [string, string, string, string | undefined];
  checkOrigin(origin);
  if (!DECIMAL.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new CheckpointMalformedError(`checkpoint size must be a decimal integer, got \`${sizeText}\``);
  }
  const rootBytes = strictBase64(root);
  if (rootBytes === null || rootBytes.length !== HASH_SIZE) {
    throw new CheckpointMalformedError(
      `checkpoint root must be base64 of ${HASH_SIZE} bytes, got \`${root}\``,
    );
  }
  let time: string | null = null;
  if (timeLine !== undefined) {
    const text = timeLine.startsWith('time ') ? timeLine.slice(5) : '';
    if (!isNoteTime(text)) {
      throw new CheckpointMalformedError(
        `the extension line must be \`time <ISO 8601 UTC with milliseconds>\`, got \`${timeLine}\``,
      );
    }
    time = text;
  }
  return { origin, size: Number(sizeText), root, rootBytes, time, body, signatures };
}

function fail(code: CheckpointFailureCode, message: string): CheckpointVerification {
  return { ok: false, code, message };
}

/**
 * Verifies a checkpoint against the trusted root public keys, in fixed steps:
 *
 * 1. shape of `checkpoint` and strict note format, else `CHECKPOINT_MALFORMED`;
 * 2. a signature line from a known key: key name equal to the note's origin (the key name of our
 *    checkpoints) and key id of a trusted root key; lines from other keys are ignored (cosigners), as the
 *    spec requires; none, `CHECKPOINT_UNKNOWN_KEY`;
 * 3. every known-key signature verifies over the note text, else `CHECKPOINT_SIGNATURE_INVALID`
 *    (the spec: a failed known-key signature rejects the whole note);
 * 4. `origin`, `size`, `root` equal what the signed note says, else `CHECKPOINT_FIELDS_MISMATCH`.
 *
 * Returns the verifying key's `sha256:` id. Never throws on checkpoint input; throws a `TypeError` when a
 * trusted PEM is not a P-256 public key (a configuration bug).
 */
export function verifyCheckpoint(checkpoint: Checkpoint, trustedRootPems: string[]): CheckpointVerification {
  // A configuration bug (a root PEM that is not a P-256 key) throws before any input is read.
  trustedRootPems.forEach(trustedKeyOf);
  const c = checkpoint as unknown as Record<string, unknown>;
  if (
    c === null ||
    typeof c !== 'object' ||
    typeof c.origin !== 'string' ||
    typeof c.size !== 'number' ||
    typeof c.root !== 'string' ||
    typeof c.note !== 'string'
  ) {
    return fail(
      'CHECKPOINT_MALFORMED',
      'checkpoint must be an object with string `origin`, `root`, `note` and number `size`',
    );
  }
  let parsed: ParsedCheckpointNote;
  try {
    parsed = parseCheckpointNote(checkpoint.note);
  } catch (e) {
    if (e instanceof CheckpointMalformedError) return fail('CHECKPOINT_MALFORMED', e.message);
    throw e;
  }

  const signed = verifyNoteSignatures(parsed.body, parsed.signatures, parsed.origin, trustedRootPems);
  if (!signed.ok) return signed;
  const verifiedBy = signed.keyId;

  if (
    checkpoint.origin !== parsed.origin ||
    checkpoint.size !== parsed.size ||
    checkpoint.root !== parsed.root
  ) {
    return fail(
      'CHECKPOINT_FIELDS_MISMATCH',
      `checkpoint fields say \`${checkpoint.origin}\` size ${checkpoint.size} root \`${checkpoint.root}\`, the signed note says \`${parsed.origin}\` size ${parsed.size} root \`${parsed.root}\``,
    );
  }
  // `time` may be left out of the JSON (the note says it); given, it must be what the note signs.
  const time = (checkpoint as { time?: unknown }).time;
  if (time !== undefined && time !== parsed.time) {
    return fail(
      'CHECKPOINT_FIELDS_MISMATCH',
      `checkpoint field time says \`${String(time)}\`, the signed note says \`${parsed.time ?? 'no time'}\``,
    );
  }
  return { ok: true, keyId: verifiedBy, time: parsed.time };
}
