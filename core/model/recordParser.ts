import { type CanonicalRecordTexts, canonicalRecordParts } from './canonicalRecord.js';
import {
  exactFields,
  hash,
  integer,
  invalid,
  isObject,
  keyId,
  nonEmpty,
  nullableInteger,
  nullableStr,
  type Obj,
  oneOf,
  str,
  stringArray,
  timestamp,
} from './recordFieldReaders.js';
import {
  CHAIN_NAME_PATTERN,
  HASH_PATTERN,
  NONCE_PATTERN,
  OPTIONAL_KIND_FIELDS,
  RECORD_KINDS,
  RecordFormatError,
  recordFieldsOf,
  SIGNATURE_FIELDS,
} from './recordFormat.js';
import {
  type AuditRecord,
  RECORD_SCHEMA,
  type RecordKind,
  recordId,
  SIGNATURE_ALGORITHM,
} from './records.js';

/**
 * The strict reader of stored audit records (`zt.audit.v1`, DESIGN.md "Audit record").
 *
 * A stored record is accepted only when it is a JSON object with exactly the fields of its kind
 * (none missing, none extra), each of the right type, and when its text is its own RFC 8785 canonical
 * form. The checks run in a fixed order: JSON syntax (`PARSE_ERROR`), shape and types
 * (`SCHEMA_INVALID`), canonical text (`NOT_CANONICAL`); the first failure wins.
 *
 * The format's fields and patterns are in recordFormat.ts, the readers of one field in
 * recordFieldReaders.ts, the canonical text in canonicalRecord.ts; this file holds the rules per kind and
 * the order of the checks.
 */

/** Standard base64 with padding (a DER ECDSA P-256 signature is 70-72 bytes). */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function checkKindFields(r: Obj, kind: RecordKind): void {
  const $ = '$';
  // The configuration version a decision was evaluated at, or that an admin change produced.
  if (Object.hasOwn(r, 'config_version')) integer(r, 'config_version', $, 0);
  switch (kind) {
    case 'decision':
      nonEmpty(r, 'request_id', $);
      str(r, 'actor', $);
      str(r, 'action', $);
      str(r, 'resource', $);
      hash(r, 'context_sha256', $);
      hash(r, 'params_sha256', $);
      oneOf(r, 'decision', $, DECISIONS);
      str(r, 'reason', $);
      stringArray(r, 'policy_ids', $);
      hash(r, 'policy_set_sha256', $);
      stringArray(r, 'errors', $);
      checkApprovalFields(r);
      if (Object.hasOwn(r, 'shadow')) {
        const shadow = r['shadow'];
        if (shadow === null || typeof shadow !== 'object' || Array.isArray(shadow)) {
          throw invalid('$.shadow', 'an object', shadow);
        }
        const s = shadow as Obj;
        exactFields(s, ['decision', 'reason', 'policy_ids'], '$.shadow');
        oneOf(s, 'decision', '$.shadow', DECISIONS);
        str(s, 'reason', '$.shadow');
        stringArray(s, 'policy_ids', '$.shadow');
      }
      return;
    case 'outcome':
      nonEmpty(r, 'decision_id', $);
      oneOf(r, 'status', $, ['started', 'succeeded', 'failed']);
      nullableInteger(r, 'exit_code', $);
      nullableStr(r, 'output_sha256', $, HASH_PATTERN, '64 lower-case hex digits');
      if (Object.hasOwn(r, 'nonce')) {
        str(r, 'nonce', $, NONCE_PATTERN, '16-128 letters, digits, `-` or `_`');
      }
      return;
    case 'policy': {
      nonEmpty(r, 'policy_id', $);
      const change = oneOf(r, 'change', $, ['put', 'delete']);
      const cedar = nullableStr(r, 'cedar', $);
      nullableStr(r, 'policy_sha256', $, HASH_PATTERN, '64 lower-case hex digits');
      // records.ts: the Cedar text itself on `put`, null on `delete`.
      if (change === 'put' && cedar === null) throw invalid('$.cedar', 'the Cedar text on `put`', null);
      if (change === 'put' && r['policy_sha256'] === null) {
        throw invalid('$.policy_sha256', 'the policy hash on `put`', null);
      }
      if (change === 'delete' && cedar !== null) throw invalid('$.cedar', 'null on `delete`', cedar);
      if (Object.hasOwn(r, 'mode')) {
        oneOf(r, 'mode', $, ['shadow']);
        if (change !== 'put') throw invalid('$.mode', 'no mode on `delete`', r['mode']);
      }
      return;
    }
    case 'agent':
      nonEmpty(r, 'agent_id', $);
      oneOf(r, 'change', $, ['register', 'disable']);
      nonEmpty(r, 'bound_principal_arn', $);
      return;
    case 'key':
      keyId(r, 'certified_key_id', $);
      nonEmpty(r, 'certified_public_key_pem', $);
      timestamp(r, 'not_before', $);
      timestamp(r, 'not_after', $);
      return;
    case 'schema':
      str(r, 'declarations', $);
      hash(r, 'schema_sha256', $);
      return;
    case 'approval': {
      nonEmpty(r, 'decision_id', $);
      const verdict = oneOf(r, 'verdict', $, ['approve', 'reject']);
      hash(r, 'params_sha256', $);
      // An approve counts until it expires; a reject is final.
      if (verdict === 'approve') timestamp(r, 'expires_at', $);
      else if (r['expires_at'] !== null) throw invalid('$.expires_at', 'null on `reject`', r['expires_at']);
      return;
    }
  }
}

const DECISIONS = ['allow', 'deny', 'approval_required'] as const;

/**
 * The approval fields of a decision, which go together: an `approval_required` decision carries how many
 * approvers it needs and until when (and nothing of a claim); an allow that claimed an approval carries the
 * approval id, the approve records it rests on and how many it required; a deny may name the approval its
 * request tried to claim.
 */
function checkApprovalFields(r: Obj): void {
  const $ = '$';
  const has = (field: string) => Object.hasOwn(r, field);
  const decision = r['decision'];
  if (has('approvals_required')) integer(r, 'approvals_required', $, 1);
  if (has('approval_expires_at')) timestamp(r, 'approval_expires_at', $);
  if (has('approval_id')) nonEmpty(r, 'approval_id', $);
  if (has('approvals')) {
    const ids = stringArray(r, 'approvals', $);
    if (ids.length === 0) throw invalid('$.approvals', 'a non-empty array of record ids', ids);
  }
  if (decision === 'approval_required') {
    for (const field of ['approvals_required', 'approval_expires_at']) {
      if (!has(field)) {
        throw new RecordFormatError(
          'SCHEMA_INVALID',
          `missing field \`${field}\` in \`$\`: an \`approval_required\` decision carries it`,
          `$.${field}`,
        );
      }
    }
    if (has('approval_id')) throw invalid('$.approval_id', 'absent on `approval_required`', r['approval_id']);
    if (has('approvals')) throw invalid('$.approvals', 'absent on `approval_required`', r['approvals']);
    return;
  }
  if (has('approval_expires_at')) {
    throw invalid('$.approval_expires_at', 'present only on `approval_required`', r['approval_expires_at']);
  }
  // A claim is an allow naming its approval; it names the approve records and the count it required.
  const claim = decision === 'allow' && has('approval_id');
  for (const field of ['approvals', 'approvals_required']) {
    if (claim === has(field)) continue;
    throw new RecordFormatError(
      'SCHEMA_INVALID',
      claim
        ? `missing field \`${field}\` in \`$\`: an allow that claims an approval carries it`
        : `field \`${field}\` belongs only on an allow that names an \`approval_id\`${field === 'approvals_required' ? ' or on `approval_required`' : ''}`,
      `$.${field}`,
    );
  }
}

/**
 * Checks an already-parsed value against the `zt.audit.v1` schema: the same checks as
 * {@link parseAuditRecord} minus the canonical-text check (there is no text). Throws
 * {@link RecordFormatError} with code `SCHEMA_INVALID`.
 */
export function validateAuditRecord(value: unknown): AuditRecord {
  if (!isObject(value)) throw invalid('$', 'a JSON object', value);
  const r = value;
  // Kind first: it decides which fields are allowed.
  if (r['schema'] !== RECORD_SCHEMA) throw invalid('$.schema', `\`${RECORD_SCHEMA}\``, r['schema']);
  const kind = oneOf(r, 'kind', '$', RECORD_KINDS);
  exactFields(r, recordFieldsOf(kind), '$', OPTIONAL_KIND_FIELDS[kind]);

  const chain = str(
    r,
    'chain',
    '$',
    CHAIN_NAME_PATTERN,
    `a chain name matching ${CHAIN_NAME_PATTERN.source}`,
  );
  const seq = integer(r, 'seq', '$', 1);
  const id = str(r, 'id', '$');
  if (id !== recordId(chain, seq)) throw invalid('$.id', `\`${recordId(chain, seq)}\` (chain-seq)`, id);
  timestamp(r, 'timestamp', '$');
  nonEmpty(r, 'principal_arn', '$');
  keyId(r, 'signing_key_id', '$');
  hash(r, 'previous_hash', '$');
  hash(r, 'current_hash', '$');

  const sig = r['kms_signature'];
  if (!isObject(sig)) throw invalid('$.kms_signature', 'a JSON object', sig);
  exactFields(sig, SIGNATURE_FIELDS, '$.kms_signature');
  oneOf(sig, 'algorithm', '$.kms_signature', [SIGNATURE_ALGORITHM]);
  keyId(sig, 'key_id', '$.kms_signature');
  const signature = str(sig, 'signature', '$.kms_signature', BASE64_PATTERN, 'base64');
  if (signature.length === 0)
    throw invalid('$.kms_signature.signature', 'a non-empty base64 string', signature);

  checkKindFields(r, kind);
  return value as unknown as AuditRecord;
}

/** What {@link inspectAuditRecord} found: a usable record, possibly with a `NOT_CANONICAL` error. */
export type InspectedRecord =
  /** `payload`: the canonical signing payload (see {@link canonicalRecordParts}), computed on the way. */
  | { record: AuditRecord; error: null; payload: string }
  /** Schema-valid, but the text is not its canonical form: the record is still usable for the other checks. */
  | { record: AuditRecord; error: RecordFormatError & { code: 'NOT_CANONICAL' }; payload: string }
  /** Not JSON or not a valid record: nothing in it can be trusted. `parsed` is the JSON value, if any. */
  | { record: null; error: RecordFormatError; parsed?: unknown };

/**
 * Like {@link parseAuditRecord}, but returns the error instead of throwing and keeps the record when
 * only the canonical-text check failed (a verifier still checks its hash, link and signature).
 */
export function inspectAuditRecord(text: string): InspectedRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const detail = e instanceof Error ? `: ${e.message}` : '';
    return { record: null, error: new RecordFormatError('PARSE_ERROR', `record is not valid JSON${detail}`) };
  }
  let record: AuditRecord;
  try {
    record = validateAuditRecord(parsed);
  } catch (e) {
    if (e instanceof RecordFormatError) return { record: null, error: e, parsed };
    throw e;
  }
  let canonical: CanonicalRecordTexts;
  try {
    canonical = canonicalRecordParts(record);
  } catch (e) {
    if (e instanceof RecordFormatError) return { record: null, error: e, parsed };
    throw e;
  }
  if (text !== canonical.text) {
    const error = new RecordFormatError(
      'NOT_CANONICAL',
      'record text is not its RFC 8785 canonical form (key order, whitespace or number/string escaping differ)',
    ) as RecordFormatError & { code: 'NOT_CANONICAL' };
    return { record, error, payload: canonical.payload };
  }
  return { record, error: null, payload: canonical.payload };
}

/**
 * Parses one stored record (one JSONL line, without its newline). Strict: JSON object, exactly the
 * fields of its kind with the right types, `id` equal to `<chain>-<seq>`, and `text` equal to the
 * canonical JSON of what it parses to. Throws {@link RecordFormatError} (`PARSE_ERROR`,
 * `SCHEMA_INVALID`, `NOT_CANONICAL`). Says nothing about hashes, links or signatures.
 */
export function parseAuditRecord(text: string): AuditRecord {
  const { record, error } = inspectAuditRecord(text);
  if (error) throw error;
  return record;
}
