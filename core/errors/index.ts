/**
 * core/errors: The one coded error base (`CodedError<C>`) and the server's error family (`ZtError` and its HTTP-mapped
 * subclasses, `ZT_ERROR_CODES`). Every other family (SDK, brokers, verifier) extends the base.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export { CodedError, hasCode } from './CodedError.js';
export type { ZtErrorCode } from './errors.js';
export {
  ConflictError,
  ForbiddenError,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZT_ERROR_CODES,
  ZtError,
} from './errors.js';
