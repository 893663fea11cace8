import type { KeyObject } from 'node:crypto';
import { certifiedKeyOf } from '../keys/keyTrust.js';
import { verifySignature } from '../keys/signing.js';
import { sha256Hex } from '../model/canonical.js';
import { inspectAuditRecord } from '../model/recordParser.js';
import type { AuditRecord, RecordKind } from '../model/records.js';

/**
 * The per-line work of chain verification that needs no sequential state, run on worker threads
 * (audit/verifyWorker.ts): {@link prepareLine} takes a stored line through the independent steps and reduces
 * it to what the sequential steps of core/verify/ChainVerifier.ts (`addPrepared`) and the reference checks
 * read.
 */

/** Fields a prepared record keeps beyond the base ones: what the reference checks read, per kind. */
const PREPARED_FIELDS: Record<RecordKind, readonly string[]> = {
  decision: ['actor', 'decision', 'policy_ids', 'config_version'],
  outcome: [],
  policy: ['policy_id', 'change', 'config_version', 'mode'],
  agent: ['agent_id', 'change', 'config_version'],
  key: [],
  schema: ['config_version'],
  approval: ['principal_arn', 'decision_id', 'verdict', 'params_sha256', 'expires_at'],
};

/** Fields a prepared decision keeps when it asks for or claims an approval (core/verify/approvalReferences.ts). */
const APPROVAL_DECISION_FIELDS = [
  'principal_arn',
  'action',
  'resource',
  'context_sha256',
  'params_sha256',
  'approvals_required',
  'approval_expires_at',
  'approval_id',
  'approvals',
] as const;

/** What {@link prepareLine} found of one stored line. */
export interface PreparedLine {
  /**
   * The reduced record (base fields the sequential steps read, `kms_signature.key_id`, and the fields of
   * {@link PREPARED_FIELDS}) when the line passed every independent step; null when it did not or could not
   * be decided here (then verify the line itself with {@link ChainVerifier.add}, which reports why).
   */
  record: AuditRecord | null;
  /** For a readable `kind: key` line whose PEM is a P-256 key with the id it claims: that key. */
  certifiedKey: { keyId: string; pem: string; publicKey: KeyObject } | null;
}

const NOT_PREPARED: PreparedLine = { record: null, certifiedKey: null };

/**
 * The per-line work of verification that needs no sequential state, for worker threads: parse, schema,
 * canonical text, the canonical hash, and the ECDSA check under the key that `kms_signature.key_id` names,
 * looked up in `keys` (key id -> key; any key whose id was computed from it, trusted or not: whether it
 * may sign this record is decided in order by {@link ChainVerifier.addPrepared}). Only a line that passes
 * all of them is prepared; anything else (a finding, a key record, a key `keys` does not hold) is left to
 * {@link ChainVerifier.add}, so findings are exactly those of the inline path.
 */
export function prepareLine(text: string, keys: ReadonlyMap<string, KeyObject>): PreparedLine {
  const inspected = inspectAuditRecord(text);
  const record = inspected.record;
  if (record === null || inspected.error !== null) return NOT_PREPARED;
  if (record.kind === 'key') {
    const certified = certifiedKeyOf(record);
    return { record: null, certifiedKey: 'error' in certified ? null : certified };
  }
  const sig = record.kms_signature;
  if (record.signing_key_id !== sig.key_id) return NOT_PREPARED;
  const key = keys.get(sig.key_id);
  if (key === undefined) return NOT_PREPARED;
  // Encoded once for both: the hash and the ECDSA check cover the same bytes.
  const payload = Buffer.from(inspected.payload, 'utf8');
  if (sha256Hex(payload) !== record.current_hash) return NOT_PREPARED;
  if (!verifySignature(key, payload, sig.signature)) return NOT_PREPARED;
  const r = record as unknown as Record<string, unknown>;
  const reduced: Record<string, unknown> = {
    seq: record.seq,
    chain: record.chain,
    kind: record.kind,
    timestamp: record.timestamp,
    signing_key_id: record.signing_key_id,
    previous_hash: record.previous_hash,
    current_hash: record.current_hash,
    kms_signature: { key_id: sig.key_id },
  };
  for (const field of PREPARED_FIELDS[record.kind]) if (Object.hasOwn(r, field)) reduced[field] = r[field];
  // The approval checks read more of the few decisions that ask for or claim an approval.
  if (
    record.kind === 'decision' &&
    (record.decision === 'approval_required' || record.approval_id !== undefined)
  ) {
    for (const field of APPROVAL_DECISION_FIELDS) if (Object.hasOwn(r, field)) reduced[field] = r[field];
  }
  return { record: reduced as unknown as AuditRecord, certifiedKey: null };
}
