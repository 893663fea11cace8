import { ZtError } from '../errors/errors.js';
import type { RecordKind } from './records.js';

/**
 * The `zt.audit.v1` record format as data (DESIGN.md "Audit record"): the error a malformed stored record
 * raises, the fields of each kind (required and optional), and the patterns their values match. The reader
 * that applies them is recordParser.ts (with recordFieldReaders.ts); the canonical text, canonicalRecord.ts.
 */

export type RecordFormatCode = 'PARSE_ERROR' | 'SCHEMA_INVALID' | 'NOT_CANONICAL';

/** A stored record that is not a well-formed `zt.audit.v1` record. `code` is stable; the message names the field. */
export class RecordFormatError extends ZtError {
  declare readonly code: RecordFormatCode;
  constructor(
    code: RecordFormatCode,
    message: string,
    /** JSON path of the offending field (`$.kms_signature.key_id`), `$` for the whole record. */
    readonly path = '$',
  ) {
    super(code, message, { path });
  }
}

/** Fields every record has, in no particular order (canonical order is the sorted one). */
export const BASE_RECORD_FIELDS = [
  'schema',
  'chain',
  'seq',
  'id',
  'kind',
  'timestamp',
  'principal_arn',
  'signing_key_id',
  'previous_hash',
  'current_hash',
  'kms_signature',
] as const;

/** Fields of `kms_signature`. */
export const SIGNATURE_FIELDS = ['algorithm', 'key_id', 'signature'] as const;

/** Fields each kind adds to the base fields (`kind` itself is a base field). */
export const KIND_FIELDS = {
  decision: [
    'request_id',
    'actor',
    'action',
    'resource',
    'context_sha256',
    'params_sha256',
    'decision',
    'reason',
    'policy_ids',
    'policy_set_sha256',
    'errors',
  ],
  outcome: ['decision_id', 'status', 'exit_code', 'output_sha256'],
  policy: ['policy_id', 'change', 'cedar', 'policy_sha256'],
  agent: ['agent_id', 'change', 'bound_principal_arn'],
  key: ['certified_key_id', 'certified_public_key_pem', 'not_before', 'not_after'],
  schema: ['declarations', 'schema_sha256'],
  approval: ['decision_id', 'verdict', 'params_sha256', 'expires_at'],
} as const satisfies Record<RecordKind, readonly string[]>;

export const RECORD_KINDS = Object.keys(KIND_FIELDS) as RecordKind[];

/**
 * Fields a record of a kind may carry or leave out: added to the format after records without them were
 * written, which must keep verifying. Present, they are hashed and signed like any other field.
 */
export const OPTIONAL_KIND_FIELDS = {
  decision: [
    'config_version',
    'shadow',
    'approvals_required',
    'approval_expires_at',
    'approval_id',
    'approvals',
  ],
  outcome: ['nonce'],
  policy: ['config_version', 'mode'],
  agent: ['config_version'],
  key: [],
  schema: ['config_version'],
  approval: [],
} as const satisfies Record<RecordKind, readonly string[]>;

/** An outcome's client nonce: 16-128 URL-safe base64 characters (letters, digits, `-`, `_`). */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** Every required field of a record of `kind`, base fields first. */
export function recordFieldsOf(kind: RecordKind): readonly string[] {
  return [...BASE_RECORD_FIELDS, ...KIND_FIELDS[kind]];
}

/** Lower-case hex SHA-256. */
export const HASH_PATTERN = /^[0-9a-f]{64}$/;
/** A key id: `sha256:` + lower-case hex SHA-256 of the SPKI DER. */
export const KEY_ID_PATTERN = /^sha256:[0-9a-f]{64}$/;
/** ISO 8601 UTC with milliseconds, as `Date.prototype.toISOString` writes it. */
export const TIMESTAMP_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A chain name: what may appear before `-<seq>` in a record id. */
export const CHAIN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
