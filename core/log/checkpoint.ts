import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ZtError } from '../errors/errors.js';
import { keyIdOf, verifySignature } from '../keys/signing.js';
import type { Signer } from '../ports/ports.js';
import { HASH_SIZE } from './merkle.js';

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

/** One signature line of a note. */
export interface NoteSignature {
  keyName: string;
  /** The 4-byte key id, big-endian, as the first bytes of the decoded signature. */
  keyId: Buffer;
  /** The signature bytes after the key id (DER ECDSA for our keys). */
  signature: Buffer;
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

export type CheckpointFailureCode =
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_SIGNATURE_INVALID'
  | 'CHECKPOINT_UNKNOWN_KEY'
  | 'CHECKPOINT_FIELDS_MISMATCH';

export type CheckpointVerification =
  | { ok: true; keyId: string; time: string | null }
  | { ok: false; code: CheckpointFailureCode; message: string };

/** A note or checkpoint that is not in the exact format this gateway writes. */
export class CheckpointMalformedError extends ZtError {
  constructor(message: string) {
    super('CHECKPOINT_MALFORMED', message);
  }
}

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

/** ISO 8601 UTC with milliseconds, as `Date.prototype.toISOString` writes it: the signed time of notes. */
const NOTE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** True when `text` is a real instant written exactly as `toISOString` writes it. */
export function isNoteTime(text: string): boolean {
  if (!NOTE_TIME.test(text)) return false;
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}

/** The signed-note signature line prefix: U+2014 EM DASH, then a space. */
const SIGNATURE_PREFIX = '\u2014 ';
/** c2sp.org/signed-note: verifiers must accept at least 16 signatures; more is refused as abuse. */
const MAX_SIGNATURES = 16;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const LONE_SURROGATE = /\p{Surrogate}/u;
/** Key names are non-empty, without Unicode spaces or `+`. */
const KEY_NAME = /^[^\s\p{Z}+]+$/u;

/** True when `text` holds an ASCII control character (below U+0020) other than newline: notes must not. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20 && unit !== 0x0a) return true;
  }
  return false;
}

/**
 * The 4-byte signed-note key id of an ECDSA (type 0x02) key: the first 4 bytes of SHA-256 of its SPKI DER.
 *
 * Followed: the C2SP signed-note spec, section "Signature types", entry `0x02` ("ECDSA signatures as
 * implemented by github.com/transparency-dev/witness"): "the key ID for these signatures is the
 * truncated SHA-256 hash of the DER encoded public key in SPKI format". It overrides the spec's
 * RECOMMENDED default (SHA-256(key name || 0x0A || type || key)[:4]), which Ed25519 (0x01) uses, so the
 * key name and type byte are NOT hashed here. REFERENCES.md ("Transparency-log formats") says the same.
 */
export function noteKeyIdOf(publicKey: KeyObject | string): Buffer {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const spki = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest().subarray(0, 4);
}

/** Throws `CHECKPOINT_MALFORMED` unless `origin` is a valid note origin (and key name). */
export function checkOrigin(origin: string): void {
  if (typeof origin !== 'string' || !KEY_NAME.test(origin) || hasControl(origin)) {
    throw new CheckpointMalformedError(
      `origin must be non-empty, without spaces, \`+\` or control characters, got \`${origin}\``,
    );
  }
}

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

/** A note's `time` text for `time`; throws `CHECKPOINT_MALFORMED` for an invalid date. */
export function noteTime(time: Date): string {
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw new CheckpointMalformedError('time must be a valid date');
  }
  return time.toISOString();
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
 * Signs a note's text (`body`, every line ending in a newline) with `signer` as key `keyName`: the body, a
 * blank line, and one signature line (ECDSA P-256 DER over SHA-256 of the body, after the 4-byte key id).
 */
export async function signNote(body: string, signer: Signer, keyName: string): Promise<string> {
  if (!KEY_NAME.test(keyName) || hasControl(keyName)) {
    throw new CheckpointMalformedError(
      `key name must be non-empty, without spaces or \`+\`, got \`${keyName}\``,
    );
  }
  const der = Buffer.from(await signer.sign(Buffer.from(body, 'utf8')), 'base64');
  const signature = Buffer.concat([noteKeyIdOf(signer.publicKeyPem), der]).toString('base64');
  return `${body}\n${SIGNATURE_PREFIX}${keyName} ${signature}\n`;
}

/** Decodes standard base64 (RFC 4648 section 4, padded), refusing anything that does not round-trip. */
export function strictBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}

function parseSignatureLine(line: string, n: number): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    throw new CheckpointMalformedError(`signature line ${n} must start with an em dash and a space`);
  }
  const parts = line.slice(SIGNATURE_PREFIX.length).split(' ');
  if (parts.length !== 2) {
    throw new CheckpointMalformedError(`signature line ${n} must be \`— <key name> <base64 signature>\``);
  }
  const [keyName, encoded] = parts as [string, string];
  if (!KEY_NAME.test(keyName)) {
    throw new CheckpointMalformedError(`signature line ${n} has an invalid key name \`${keyName}\``);
  }
  const bytes = strictBase64(encoded);
  if (bytes === null || bytes.length < 5) {
    throw new CheckpointMalformedError(`signature line ${n} is not base64 of a key id and a signature`);
  }
  return { keyName, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) };
}

/** A signed note split into its text and its signature lines; nothing is verified yet. */
export interface SignedNote {
  /** The signed text: every line before the blank line, each ending in a newline. */
  body: string;
  /** The text's lines, without their newlines. */
  lines: string[];
  signatures: NoteSignature[];
}

/**
 * Splits a signed note (c2sp.org/signed-note) strictly: valid unicode without control characters other than
 * newline, a final newline, the text, a blank line, then 1 to 16 well-formed signature lines.
 * Throws `CheckpointMalformedError`; verifies nothing.
 */
export function splitSignedNote(note: string): SignedNote {
  if (typeof note !== 'string') throw new CheckpointMalformedError('note must be a string');
  if (LONE_SURROGATE.test(note)) throw new CheckpointMalformedError('note is not valid unicode');
  if (hasControl(note)) {
    throw new CheckpointMalformedError('note must not contain control characters other than newline');
  }
  if (!note.endsWith('\n')) throw new CheckpointMalformedError('note must end with a newline');
  // The text is separated from the signatures by the last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new CheckpointMalformedError('note has no blank line before its signatures');
  const body = note.slice(0, split + 1);
  const signatureLines = note.slice(split + 2, -1).split('\n');
  if (signatureLines.length > MAX_SIGNATURES) {
    throw new CheckpointMalformedError(`note has more than ${MAX_SIGNATURES} signatures`);
  }
  const signatures = signatureLines.map((line, i) => parseSignatureLine(line, i + 1));
  return { body, lines: body.slice(0, -1).split('\n'), signatures };
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

interface TrustedKey {
  key: KeyObject;
  keyId: string;
  noteKeyId: Buffer;
}

function trustedKeyOf(pem: string): TrustedKey {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('trusted root key must be an EC P-256 public key');
  }
  return { key, keyId: keyIdOf(key), noteKeyId: noteKeyIdOf(key) };
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

/**
 * Steps 2 and 3 of {@link verifyCheckpoint} for any signed note: a signature line named `keyName` from a
 * trusted root key (others are ignored, as cosigners), and every such line verifying over `body`.
 */
export function verifyNoteSignatures(
  body: string,
  signatures: NoteSignature[],
  keyName: string,
  trustedRootPems: string[],
): { ok: true; keyId: string } | { ok: false; code: CheckpointFailureCode; message: string } {
  const trusted = trustedRootPems.map(trustedKeyOf);
  const candidates = signatures.flatMap((sig) =>
    sig.keyName === keyName
      ? trusted.filter((t) => t.noteKeyId.equals(sig.keyId)).map((t) => ({ sig, key: t }))
      : [],
  );
  if (candidates.length === 0) {
    return {
      ok: false,
      code: 'CHECKPOINT_UNKNOWN_KEY',
      message: `no signature by a trusted root key named \`${keyName}\` (the note's origin)`,
    };
  }
  const bytes = Buffer.from(body, 'utf8');
  // Group by signature line: a line verifies when any trusted key with its 4-byte id verifies it.
  let verifiedBy: string | null = null;
  for (const sig of new Set(candidates.map((c) => c.sig))) {
    const keys = candidates.filter((c) => c.sig === sig).map((c) => c.key);
    const key = keys.find((k) => verifySignature(k.key, bytes, sig.signature.toString('base64')));
    if (key === undefined) {
      return {
        ok: false,
        code: 'CHECKPOINT_SIGNATURE_INVALID',
        message: 'the root key signature does not verify over the note text',
      };
    }
    verifiedBy ??= key.keyId;
  }
  return { ok: true, keyId: verifiedBy as string };
}
