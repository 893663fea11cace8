/**
 * Errors carry a stable SCREAMING_SNAKE `code` that tests and the HTTP edge map on.
 * A deny is a result, never an exception: these are for bad input, conflicts and broken infrastructure.
 */
export class ZtError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The caller sent something invalid (400). */
export class ValidationError extends ZtError {
  constructor(message: string, details?: Record<string, unknown>, code = 'VALIDATION_FAILED') {
    super(code, message, details);
  }
}

/** The caller is authenticated but not allowed to use this route (403, no record). */
export class ForbiddenError extends ZtError {
  constructor(message: string, code = 'FORBIDDEN') {
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
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** A dependency (store, signer) failed: the answer is a 5xx deny without a record. */
export class InfrastructureError extends ZtError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
