import { CodedError } from '../core/errors/index.js';
import type { ZeroTrustErrorCode } from '../sdk/ZeroTrustClient.js';

/**
 * Why a broker ran nothing. No code means the approved command was started.
 *
 * - `INVALID_OPTIONS`: the broker was constructed with unsafe or malformed options (e.g. an `allowedEnv`
 *   name that steers the dynamic loader or an interpreter).
 * - `INVALID_SPEC`: the execution spec failed validation (including an `env` name outside the operator's
 *   allowlist, or a program file that cannot be read and hashed); the gateway was never asked.
 * - `DENIED`: a verified deny.
 * - `DECISION_FAILED`: no verified decision (timeout, 5xx, bad signature ...); `zeroTrustCode` says which.
 * - `DECISION_MISMATCH`: the allow is for another actor, action or resource than this broker runs, or the
 *   approval was not made by this broker's `authorize`.
 * - `PARAMS_MISMATCH`: the allow's `params_sha256` is not the canonical digest of the spec about to run.
 * - `DECISION_STALE`: the allow was issued more than the allowed age ago (or in the future).
 * - `ALREADY_STARTED`: the `started` claim got 409: the allow was already used.
 * - `CLAIM_FAILED`: the `started` claim failed for another reason.
 * - `SANDBOX_UNSAFE`: after the claim, the sandbox's preflight probe found capabilities, uid 0 or gid 0
 *   inside (or could not tell); reported `failed`, the command was not started.
 * - `PROGRAM_MISMATCH`: after the claim, the program file no longer hashes to the approved
 *   `programSha256`; reported `failed`, the command was not started.
 * - `EXECUTION_ERROR`: after the claim, the process could not be started (e.g. the sandbox binary is
 *   missing); reported `failed`.
 */
export type BrokerErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_SPEC'
  | 'DENIED'
  | 'DECISION_FAILED'
  | 'DECISION_MISMATCH'
  | 'PARAMS_MISMATCH'
  | 'DECISION_STALE'
  | 'ALREADY_STARTED'
  | 'CLAIM_FAILED'
  | 'SANDBOX_UNSAFE'
  | 'PROGRAM_MISMATCH'
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
export class BrokerError extends CodedError<BrokerErrorCode> {
  readonly zeroTrustCode?: ZeroTrustErrorCode;
  readonly recordId?: string;

  constructor(code: BrokerErrorCode, message: string, details: BrokerErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.zeroTrustCode !== undefined) this.zeroTrustCode = details.zeroTrustCode;
    if (details.recordId !== undefined) this.recordId = details.recordId;
  }
}

/** True when `err` is a {@link BrokerError}, optionally with the given code. */
export function isBrokerError(err: unknown, code?: BrokerErrorCode): err is BrokerError {
  return err instanceof BrokerError && (code === undefined || err.code === code);
}
