import type { ZtErrorCode } from '../core/errors/index.js';
import { CodedError } from '../core/errors/index.js';

/**
 * Typed failures of the HTTP client layer. Tests and the CLI branch on `code`, never on message text.
 *
 * - `TIMEOUT`: no complete answer within the request timeout.
 * - `CONNECTION_FAILED`: the connection could not be made or broke (refused, reset, TLS, ...).
 * - `DNS_FAILURE`: the endpoint's host name did not resolve.
 * - `HTTP_ERROR`: the gateway answered with a non-2xx status; `serverCode`/`serverMessage` carry its
 *   `{ok:false, error:{code, message}}` when the body has that shape.
 * - `NON_JSON_RESPONSE`: a 2xx answer whose body is not JSON.
 * - `INVALID_RESPONSE`: a JSON answer that does not have the contract's shape (or audit paging that does not advance).
 * - `CREDENTIALS_UNAVAILABLE`: no credentials could be resolved (missing profile or file, bad provider).
 */
/** A gateway's error code: {@link ZtErrorCode} for this version's gateway, any string from another. */
export type ServerErrorCode = ZtErrorCode | (string & {});

export type GatewayErrorCode =
  | 'TIMEOUT'
  | 'CONNECTION_FAILED'
  | 'DNS_FAILURE'
  | 'HTTP_ERROR'
  | 'NON_JSON_RESPONSE'
  | 'INVALID_RESPONSE'
  | 'CREDENTIALS_UNAVAILABLE';

/** Extra facts a {@link GatewayError} may carry. */
export interface GatewayErrorDetails {
  /** HTTP status, for `HTTP_ERROR` and `NON_JSON_RESPONSE`. */
  status?: number;
  /** The parsed JSON body when there is one, otherwise the body text. */
  body?: unknown;
  /** `error.code` from the gateway's error body (e.g. `FORBIDDEN`): one of {@link ZtErrorCode} from this gateway. */
  serverCode?: ServerErrorCode;
  /** `error.message` from the gateway's error body. */
  serverMessage?: string;
  /** `error.trace_id` from a 5xx error body. */
  traceId?: string;
  cause?: unknown;
}

/** A failure to get a usable answer from the gateway. */
export class GatewayError extends CodedError<GatewayErrorCode> {
  readonly status?: number;
  readonly body?: unknown;
  readonly serverCode?: ServerErrorCode;
  readonly serverMessage?: string;
  readonly traceId?: string;

  constructor(code: GatewayErrorCode, message: string, details: GatewayErrorDetails = {}) {
    super(code, message, details.cause === undefined ? undefined : { cause: details.cause });
    if (details.status !== undefined) this.status = details.status;
    if (details.body !== undefined) this.body = details.body;
    if (details.serverCode !== undefined) this.serverCode = details.serverCode;
    if (details.serverMessage !== undefined) this.serverMessage = details.serverMessage;
    if (details.traceId !== undefined) this.traceId = details.traceId;
  }
}

/** True when `err` is a {@link GatewayError}, optionally with the given code. */
export function isGatewayError(err: unknown, code?: GatewayErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}
