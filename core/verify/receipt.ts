import { KeyTrust, type TrustedKey } from '../keys/keyTrust.js';
import { verifySignature } from '../keys/signing.js';
import { type Checkpoint, laneOfOrigin, verifyCheckpoint } from '../log/checkpoint.js';
import { CompactRange, HASH_SIZE, leafHash, verifyInclusion } from '../log/merkle.js';
import { sha256Hex } from '../model/canonical.js';
import { canonicalRecordParts } from '../model/canonicalRecord.js';
import { RecordFormatError } from '../model/recordFormat.js';
import { validateAuditRecord } from '../model/recordParser.js';
import type { AuditRecord, KeyRecord } from '../model/records.js';

/**
 * Receipts: the proof that one record is in the log a signed checkpoint covers, checkable offline with
 * nothing but the root public key: the record, its RFC 6962 inclusion proof against the checkpoint, the
 * checkpoint, and (for a record signed by a session key) the `kind: key` record that certified that key,
 * with its own inclusion proof, so the certificate is proved to be in the same log.
 */

export const RECEIPT_FORMAT = 'zt.audit.receipt.v1';

export interface InclusionProofJson {
  /** `seq - 1`. */
  leafIndex: number;
  /** The checkpoint's size. */
  treeSize: number;
  /** Base64 hashes, leaf to root. */
  hashes: string[];
}

export interface AuditReceipt {
  receipt: typeof RECEIPT_FORMAT;
  record: AuditRecord;
  proof: InclusionProofJson;
  checkpoint: Checkpoint;
  /** The key record certifying the session key that signed `record`; null when a root key signed it. */
  certificate: { record: KeyRecord; proof: InclusionProofJson } | null;
}

export const RECEIPT_CODES = [
  'RECEIPT_MALFORMED',
  'SCHEMA_INVALID',
  'HASH_MISMATCH',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_SIGNATURE_INVALID',
  'CHECKPOINT_UNKNOWN_KEY',
  'CHECKPOINT_FIELDS_MISMATCH',
  'CHECKPOINT_LANE_MISMATCH',
  'UNKNOWN_SIGNING_KEY',
  'KEY_ID_MISMATCH',
  'CERTIFICATE_INVALID',
  'CERTIFICATE_NOT_ROOT_SIGNED',
  'SESSION_KEY_OUTSIDE_WINDOW',
  'SIGNATURE_INVALID',
  'INCLUSION_PROOF_INVALID',
] as const;

export type ReceiptCode = (typeof RECEIPT_CODES)[number];

export type ReceiptVerification =
  | {
      ok: true;
      id: string;
      seq: number;
      keyId: string;
      checkpointSize: number;
      checkpointTime: string | null;
    }
  | { ok: false; code: ReceiptCode; seq: number | null; message: string };

/** The ranges [start, end) whose subtree roots form the inclusion proof of `index` in a tree of `size`, leaf to root. */
export function inclusionProofRanges(index: number, size: number): Array<[number, number]> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    throw new RangeError(`leaf index must be below the tree size ${size}, got \`${index}\``);
  }
  const out: Array<[number, number]> = [];
  let start = 0;
  let end = size;
  // RFC 6962 PATH(m, D[start:end]), walked root to leaf, then reversed.
  while (end - start > 1) {
    let k = 1;
    while (k * 2 < end - start) k *= 2;
    if (index < start + k) {
      out.push([start + k, end]);
      end = start + k;
    } else {
      out.push([start, start + k]);
      start += k;
    }
  }
  return out.reverse();
}

/**
 * Computes an inclusion proof streaming: feed every leaf hash of the tree in order, O(log n) memory
 * (each proof hash is the root of a disjoint range, kept as its own compact range).
 */
export class InclusionProofBuilder {
  readonly #ranges: Array<{ start: number; end: number; range: CompactRange }>;
  readonly #all = new CompactRange();
  constructor(
    readonly leafIndex: number,
    readonly treeSize: number,
  ) {
    this.#ranges = inclusionProofRanges(leafIndex, treeSize).map(([start, end]) => ({
      start,
      end,
      range: new CompactRange(),
    }));
  }

  /** Adds leaf number `this.size` (a `leafHash`); leaves past the tree size are ignored. */
  append(hash: Uint8Array): void {
    const i = this.#all.size;
    if (i >= this.treeSize) return;
    this.#all.append(hash);
    for (const r of this.#ranges) {
      if (i >= r.start && i < r.end) {
        r.range.append(hash);
        break;
      }
    }
  }

  get size(): number {
    return this.#all.size;
  }

  /** The root of the first `treeSize` leaves. */
  root(): Buffer {
    return this.#all.root();
  }

  proof(): InclusionProofJson {
    if (this.#all.size < this.treeSize) {
      throw new RangeError(`the tree has ${this.treeSize} leaves, only ${this.#all.size} were given`);
    }
    return {
      leafIndex: this.leafIndex,
      treeSize: this.treeSize,
      hashes: this.#ranges.map((r) => r.range.root().toString('base64')),
    };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function fail(code: ReceiptCode, seq: number | null, message: string): ReceiptVerification {
  return { ok: false, code, seq, message };
}

function decodeProof(value: unknown): { leafIndex: number; treeSize: number; hashes: Buffer[] } | null {
  if (!isObject(value) || !Array.isArray(value['hashes'])) return null;
  const { leafIndex, treeSize } = value;
  if (typeof leafIndex !== 'number' || typeof treeSize !== 'number') return null;
  const hashes: Buffer[] = [];
  for (const h of value['hashes']) {
    if (typeof h !== 'string') return null;
    const bytes = Buffer.from(h, 'base64');
    if (bytes.length !== HASH_SIZE || bytes.toString('base64') !== h) return null;
    hashes.push(bytes);
  }
  return { leafIndex, treeSize, hashes };
}

/** Schema, canonical text and hash of a record in a receipt; its canonical text is the leaf. */
function readRecord(
  value: unknown,
  what: string,
): { record: AuditRecord; text: string; payload: string } | ReceiptVerification {
  let record: AuditRecord;
  let parts: { text: string; payload: string };
  try {
    record = validateAuditRecord(value);
    parts = canonicalRecordParts(record);
  } catch (e) {
    if (e instanceof RecordFormatError) return fail('SCHEMA_INVALID', null, `${what}: ${e.message}`);
    throw e;
  }
  if (sha256Hex(parts.payload) !== record.current_hash) {
    return fail(
      'HASH_MISMATCH',
      record.seq,
      `${what}: current_hash is not the SHA-256 of the canonical record`,
    );
  }
  return { record, ...parts };
}

/**
 * Verifies a receipt trusting only `trustedRootKeys`, in fixed steps: shape; the record (schema, hash);
 * the checkpoint (root signature); the signing key (a root key, or a session key certified by a key
 * record that is itself root-signed, included in the same checkpoint, earlier in the log, with a window
 * covering the record's time, half-open as core/keys/keyTrust.ts rules); the record's signature; its inclusion
 * proof against the checkpoint root. Never throws on receipt input; throws `KeyTrustError` when a root key
 * given is not a P-256 public key.
 */
export function verifyReceipt(value: unknown, trustedRootKeys: string[]): ReceiptVerification {
  if (!isObject(value) || value['receipt'] !== RECEIPT_FORMAT) {
    return fail(
      'RECEIPT_MALFORMED',
      null,
      `a receipt is a JSON object with \`"receipt": "${RECEIPT_FORMAT}"\``,
    );
  }
  const read = readRecord(value['record'], 'record');
  if ('ok' in read) return read;
  const { record, text } = read;
  const seq = record.seq;

  const cpResult = verifyCheckpoint(value['checkpoint'] as Checkpoint, trustedRootKeys);
  if (!cpResult.ok) return fail(cpResult.code, seq, `checkpoint: ${cpResult.message}`);
  const checkpoint = value['checkpoint'] as Checkpoint;
  const root = Buffer.from(checkpoint.root, 'base64');
  // Each lane is its own tree: the checkpoint must be of the record's lane (its origin's last segment).
  if (laneOfOrigin(checkpoint.origin) !== record.chain) {
    return fail(
      'CHECKPOINT_LANE_MISMATCH',
      seq,
      `the checkpoint is of lane \`${laneOfOrigin(checkpoint.origin)}\`, the record of lane \`${record.chain}\``,
    );
  }

  // Which keys are trusted, and for which window, is the rule of core/keys/keyTrust.ts (shared with the chain
  // verifier, the SDK and the signer).
  const trust = new KeyTrust(trustedRootKeys);
  const sig = record.kms_signature;
  if (record.signing_key_id !== sig.key_id) {
    return fail('KEY_ID_MISMATCH', seq, 'signing_key_id and kms_signature.key_id differ');
  }
  if (!trust.isRoot(sig.key_id)) {
    const cert = value['certificate'];
    if (!isObject(cert)) {
      return fail(
        'UNKNOWN_SIGNING_KEY',
        seq,
        'the record is signed by a key that is not a trusted root, and the receipt has no certificate for it',
      );
    }
    const certRead = readRecord(cert['record'], 'certificate');
    if ('ok' in certRead) {
      return certRead.ok ? certRead : fail('CERTIFICATE_INVALID', certRead.seq, certRead.message);
    }
    const certRecord = certRead.record;
    if (
      certRecord.kind !== 'key' ||
      certRecord.certified_key_id !== sig.key_id ||
      certRecord.chain !== record.chain
    ) {
      return fail(
        'CERTIFICATE_INVALID',
        certRecord.seq,
        "the certificate is not a key record for the signing key in the record's lane",
      );
    }
    if (certRecord.seq >= seq) {
      return fail(
        'CERTIFICATE_INVALID',
        certRecord.seq,
        'the certificate comes after the record it certifies',
      );
    }
    const certified = trust.addCertificate(certRecord, sig.key_id);
    if (!certified.ok) return fail(certified.code, certRecord.seq, `certificate: ${certified.message}`);
    const certProof = decodeProof(cert['proof']);
    if (
      certProof === null ||
      certProof.leafIndex !== certRecord.seq - 1 ||
      certProof.treeSize !== checkpoint.size ||
      !verifyInclusion(
        leafHash(certRead.text),
        certProof.leafIndex,
        certProof.treeSize,
        certProof.hashes,
        root,
      )
    ) {
      return fail(
        'INCLUSION_PROOF_INVALID',
        certRecord.seq,
        'the certificate is not proved to be in the checkpointed log',
      );
    }
  }
  const resolved = trust.resolve(sig.key_id, record.timestamp);
  if (!resolved.ok) return fail(resolved.code, seq, resolved.message);
  const signingKey: TrustedKey = resolved.key;
  if (!verifySignature(signingKey.publicKey, read.payload, sig.signature)) {
    return fail('SIGNATURE_INVALID', seq, 'the record signature does not verify');
  }
  const proof = decodeProof(value['proof']);
  if (proof === null || proof.leafIndex !== seq - 1 || proof.treeSize !== checkpoint.size) {
    return fail(
      'INCLUSION_PROOF_INVALID',
      seq,
      `the proof must be for leaf ${seq - 1} of the checkpoint's ${checkpoint.size}`,
    );
  }
  if (!verifyInclusion(leafHash(text), proof.leafIndex, proof.treeSize, proof.hashes, root)) {
    return fail('INCLUSION_PROOF_INVALID', seq, 'the inclusion proof does not lead to the checkpoint root');
  }
  return {
    ok: true,
    id: record.id,
    seq,
    keyId: sig.key_id,
    checkpointSize: checkpoint.size,
    checkpointTime: cpResult.time,
  };
}
