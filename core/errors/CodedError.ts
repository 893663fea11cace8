/**
 * The one error base of the project: a stable SCREAMING_SNAKE `code` from a typed union per family
 * (the gateway's {@link ZtErrorCode} in `core/errors/errors.ts`, the SDK's `GatewayErrorCode` and
 * `ZeroTrustErrorCode`, the brokers' `BrokerErrorCode`), and the underlying failure as the standard
 * `cause` (`ErrorOptions`). Callers branch on `code`, never on the message.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `error` is a {@link CodedError}, optionally of the given code(s). */
export function hasCode<C extends string>(error: unknown, ...codes: C[]): error is CodedError<C> {
  return error instanceof CodedError && (codes.length === 0 || codes.includes(error.code as C));
}
