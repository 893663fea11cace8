import { CodedError } from './CodedError.js';

/**
 * Errors carry a stable SCREAMING_SNAKE `code` that tests and the HTTP edge map on.
 * A deny is a result, never an exception: these are for bad input, conflicts and broken infrastructure.
 */
export class ZtError extends CodedError<ZtErrorCode> {
  constructor(
    code: ZtErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** The caller sent something invalid (400). */
export class ValidationError extends ZtError {
  constructor(message: string, details?: Record<string, unknown>, code: ZtErrorCode = 'VALIDATION_FAILED') {
    super(code, message, details);
  }
}

/** The caller is authenticated but not allowed to use this route (403, no record). */
export class ForbiddenError extends ZtError {
  constructor(message: string, code: ZtErrorCode = 'FORBIDDEN') {
    super(code, message);
  }
}

/** A named thing does not exist (404). */
export class NotFoundError extends ZtError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** The request conflicts with the current state (409). */
export class ConflictError extends ZtError {
  constructor(code: ZtErrorCode, message: string) {
    super(code, message);
  }
}

/** A dependency (store, signer) failed: the answer is a 5xx deny without a record. */
export class InfrastructureError extends ZtError {
  constructor(code: ZtErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, undefined, options);
  }
}

/** Every code a gateway error (core, the HTTP edge, the emulator) carries; SDK users may branch on it. */
export type ZtErrorCode = (typeof ZT_ERROR_CODES)[number];

export const ZT_ERROR_CODES = [
  // bad input (400) and the HTTP edge
  'VALIDATION_FAILED',
  'PARSE_ERROR',
  'MALFORMED_JSON',
  'DUPLICATE_KEY',
  'LONE_SURROGATE',
  'NESTING_TOO_DEEP',
  'NUMBER_OUT_OF_RANGE',
  'UNKNOWN_FIELD',
  'DUPLICATE_QUERY_PARAMETER',
  'PAYLOAD_TOO_LARGE',
  'METHOD_NOT_ALLOWED',
  // who may do what (403, 404)
  'FORBIDDEN',
  'NOT_FOUND',
  'AGENT_DISABLED',
  // conflicts with the current state (409)
  'AGENT_EXISTS',
  'PRINCIPAL_ALREADY_BOUND',
  'POLICY_WOULD_BREAK',
  'CONCURRENT_CHANGE',
  'REQUEST_ID_REUSED',
  'REQUEST_IN_PROGRESS',
  'ALREADY_STARTED',
  'OUTCOME_ALREADY_REPORTED',
  'OUTCOME_NOT_STARTED',
  'DECISION_NOT_ALLOWED',
  'DECISION_EXPIRED',
  'DECISION_STALE',
  // approvals (403 / 404 / 409)
  'NOT_AN_APPROVER',
  'APPROVER_IS_REQUESTER',
  'APPROVAL_PARAMS_MISMATCH',
  'APPROVAL_DUPLICATE',
  'APPROVAL_EXPIRED',
  'APPROVAL_REJECTED',
  'APPROVAL_ALREADY_CLAIMED',
  'APPROVAL_STALE',
  'APPROVAL_PENDING',
  'APPROVAL_MISMATCH',
  'APPROVAL_NOT_REQUIRED',
  // the log and its writers (5xx)
  'APPEND_REFUSED',
  'CHAIN_CONTENTION',
  'CHAIN_CORRUPT',
  'CHAIN_GAP',
  'CONFIG_BEHIND',
  'CONFIG_CONTENTION',
  'FENCE_FAILED',
  'LANE_UNAVAILABLE',
  'RECORD_MISSING',
  'SIGNING_FAILED',
  'CHECKPOINT_CONTENTION',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_ROOT_MISMATCH',
  'CHECKPOINT_STATE_CORRUPT',
  // stores (5xx)
  'STORE_BUSY',
  'STORE_CLOSED',
  'STORE_FAILED',
  'STORE_FORMAT',
  'STORE_FULL',
  'STORE_READ_ONLY',
  'STORE_INVALID_ITEM',
  'STORE_IN_USE',
  'STORE_UNAVAILABLE',
  'TABLE_NOT_READY',
  'TABLE_SCHEMA_MISMATCH',
  'MIGRATION_FAILED',
  // the emulator's data dir and root key
  'DATA_DIR_AMBIGUOUS',
  'DATA_DIR_IN_USE',
  'DATA_DIR_NOT_A_DIRECTORY',
  'DATA_DIR_PERMISSIONS',
  'INVALID_ROOT_KEY',
  'ROOT_KEY_MISMATCH',
  'ROOT_KEY_MISSING',
  'ROOT_KEY_PERMISSIONS',
  'ROTATION_INTERRUPTED',
  // the emulator's console (local/console/)
  'CONSOLE_PORT_IN_USE',
  'CONSOLE_FILES_MISSING',
  'CONSOLE_APPROVER_UNKNOWN',
  // records and verifier options (RecordFormatError, KeyTrustError, ChainVerifierOptionsError)
  'SCHEMA_INVALID',
  'NOT_CANONICAL',
  'INVALID_VERIFIER_OPTIONS',
  // replaying a verified log against candidate policies (ReplayError)
  'BUNDLE_INVALID',
  'REQUEST_DATA_INVALID',
  'REQUEST_DATA_MISMATCH',
  'REQUEST_DATA_UNKNOWN_RECORD',
  'REQUEST_DATA_DUPLICATE',
  'CANDIDATE_POLICY_INVALID',
] as const;
