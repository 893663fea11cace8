import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ZtError } from '../errors/errors.js';
import { keyIdOf, verifySignature } from '../keys/signing.js';
import type { Signer } from '../ports/ports.js';

/**
 * C2SP signed notes (c2sp.org/signed-note) as this gateway writes and reads them, under both of its notes:
 * lane checkpoints (core/log/checkpoint.ts) and epoch statements (core/log/epoch.ts). A note is its text, a
 * blank line, and signature lines `— <key name> <base64(4-byte key id || signature)>`, signed by the root
 * key with ECDSA P-256 (signature type 0x02). Here: the strict split of a note, the key id, signing, the
 * check of signature lines against the trusted root keys, and the rules both notes share (origin and key
 * name, the `time` extension line's format, strict base64).
 */

/** One signature line of a note. */
export interface NoteSignature {
  keyName: string;
  /** The 4-byte key id, big-endian, as the first bytes of the decoded signature. */
  keyId: Buffer;
  /** The signature bytes after the key id (DER ECDSA for our keys). */
  signature: Buffer;
}

/** Why a checkpoint, or another note signed by the root key, does not verify. */
export type CheckpointFailureCode =
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_SIGNATURE_INVALID'
  | 'CHECKPOINT_UNKNOWN_KEY'
  | 'CHECKPOINT_FIELDS_MISMATCH';

/** A note or checkpoint that is not in the exact format this gateway writes. */
export class CheckpointMalformedError extends ZtError {
  constructor(message: string) {
    super('CHECKPOINT_MALFORMED', message);
  }
}

/** ISO 8601 UTC with milliseconds, as `Date.prototype.toISOString` writes it: the signed time of notes. */
const NOTE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** True when `text` is a real instant written exactly as `toISOString` writes it. */
export function isNoteTime(text: string): boolean {
  if (!NOTE_TIME.test(text)) return false;
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && new Date(ms).toISOString() === text;
}

/** A note's `time` text for `time`; throws `CHECKPOINT_MALFORMED` for an invalid date. */
export function noteTime(time: Date): string {
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw new CheckpointMalformedError('time must be a valid date');
  }
  return time.toISOString();
}

/** The signed-note signature line prefix: U+2014 EM DASH, then a space. */
const SIGNATURE_PREFIX = '\u2014 ';
/** c2sp.org/signed-note: verifiers must accept at least 16 signatures; more is refused as abuse. */
const MAX_SIGNATURES = 16;
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

/** Throws `CHECKPOINT_MALFORMED` unless `origin` is a valid note origin (and key name). */
export function checkOrigin(origin: string): void {
  if (typeof origin !== 'string' || !KEY_NAME.test(origin) || hasControl(origin)) {
    throw new CheckpointMalformedError(
      `origin must be non-empty, without spaces, \`+\` or control characters, got \`${origin}\``,
    );
  }
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

/** A trusted root key as signature lines are checked against it: the key, its `sha256:` id, its note key id. */
export interface TrustedKey {
  key: KeyObject;
  keyId: string;
  noteKeyId: Buffer;
}

export function trustedKeyOf(pem: string): TrustedKey {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new TypeError('trusted root key must be an EC P-256 public key');
  }
  return { key, keyId: keyIdOf(key), noteKeyId: noteKeyIdOf(key) };
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
