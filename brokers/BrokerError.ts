import type { ZeroTrustErrorCode } from '../sdk/ZeroTrustClient.js';

/**
 * Why a broker ran nothing (or could not record what it ran). Every code but `OUTCOME_NOT_RECORDED` means
 * the process was never started.
 *
 * - `INVALID_SPEC`: the execution spec failed validation; the gateway was never asked.
 * - `DENIED`: a verified deny.
 * - `DECISION_FAILED`: no verified decision (timeout, 5xx, bad signature ...); `zeroTrustCode` says which.
 * - `DECISION_MISMATCH`: the allow is for another actor, action or resource than this broker runs, or the
 *   approval was not made by this broker's `authorize`.
 * - `PARAMS_MISMATCH`: the allow's `params_sha256` is not the canonical digest of the spec about to run.
 * - `DECISION_STALE`: the allow was issued more than the allowed age ago (or in the future).
 * - `ALREADY_STARTED`: the `started` claim got 409: the allow was already used.
 * - `CLAIM_FAILED`: the `started` claim failed for another reason.
 * - `EXECUTION_ERROR`: the process could not be started (e.g. the sandbox binary is missing).
 */
export type BrokerErrorCode =
  | 'INVALID_SPEC'
  | 'DENIED'
  | 'DECISION_FAILED'
  | 'DECISION_MISMATCH'
  | 'PARAMS_MISMATCH'
  | 'DECISION_STALE'
  | 'ALREADY_STARTED'
  | 'CLAIM_FAILED'
  | 'EXECUTION_ERROR';

/** Extra facts a {@link BrokerError} may carry. */
export interface BrokerErrorDetails {
  /** The SDK's code, when the SDK refused (`DENIED`, `DECISION_FAILED`, `ALREADY_STARTED`, `CLAIM_FAILED`). */
  zeroTrustCode?: ZeroTrustErrorCode;
  /** The decision record id, once one was verified. */
  recordId?: string;
  cause?: unknown;
}

/** The brokers' one error type. Branch on `code`, never on the message. */
export class BrokerError extends Error {
  readonly code: BrokerErrorCode;
  readonly zeroTrustCode?: ZeroTrustErrorCode;
  readonly recordId?: string;

  constructor(code: BrokerErrorCode, message: string, details: BrokerErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'BrokerError';
    this.code = code;
    if (details.zeroTrustCode !== undefined) this.zeroTrustCode = details.zeroTrustCode;
    if (details.recordId !== undefined) this.recordId = details.recordId;
  }
}

/** True when `err` is a {@link BrokerError}, optionally with the given code. */
export function isBrokerError(err: unknown, code?: BrokerErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
