import { ForbiddenError } from '../errors/errors.js';

/** The authenticated caller, as the edge (API Gateway identity or the emulator's SigV4 check) says. */
export interface Caller {
  /** Normalised principal ARN (an assumed-role session maps to its role ARN). */
  principalArn: string;
  isAdmin: boolean;
  /** A principal of the approver list (`APPROVER_PRINCIPAL_ARNS`); admins approve too. */
  isApprover?: boolean;
}

/** Refuses a non-admin caller (403), whatever IAM let through. */
export function requireAdmin(caller: Caller): void {
  // INVARIANT: only admins change policy or agents or read the log, whatever IAM let through.
  if (!caller.isAdmin) throw new ForbiddenError(`principal \`${caller.principalArn}\` is not an admin`);
}

/** Refuses a caller that is neither an approver nor an admin (403 `NOT_AN_APPROVER`). */
export function requireApprover(caller: Caller): void {
  // INVARIANT: only an approver (or an admin) gives or reads approvals, whatever IAM let through.
  if (!caller.isApprover && !caller.isAdmin) {
    throw new ForbiddenError(`principal \`${caller.principalArn}\` is not an approver`, 'NOT_AN_APPROVER');
  }
}
