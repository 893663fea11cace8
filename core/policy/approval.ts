/**
 * Human approval as a third answer: the policy annotation that asks for it, and the limits of the flow.
 *
 * A `permit` annotated `@approval` (one approver), `@approval("N")` (N distinct approvers, 1-5) or
 * `@approval("two-person")` (two) does not allow on its own: a decision it determines is
 * `approval_required`, and only after enough distinct approvers approved the exact request can its agent
 * claim a single-use allow. When several permits determine a decision, the largest number any of them asks
 * for counts (the strictest one wins, as a forbid does). On a `forbid` the annotation is refused.
 */

/** Most approvers a policy may ask for. */
export const MAX_APPROVERS = 5;

/** What the annotation on one statement says: how many approvers (0: none asked), or why it is invalid. */
export type ApprovalAnnotation = { ok: true; approvers: number } | { ok: false; error: string };

/**
 * Reads `@approval` from a statement's annotations (Cedar's JSON form: a value, or null for a bare
 * `@approval`). `effect` is the statement's: the annotation belongs on a `permit` only.
 */
export function approvalAnnotation(
  annotations: Readonly<Record<string, string | null>> | undefined,
  effect: string,
): ApprovalAnnotation {
  if (annotations === undefined || !Object.hasOwn(annotations, 'approval')) return { ok: true, approvers: 0 };
  const value = annotations['approval'] ?? null;
  if (effect !== 'permit') {
    return { ok: false, error: '`@approval` belongs on a `permit`, not on a `forbid`' };
  }
  if (value === null || value === '') return { ok: true, approvers: 1 };
  if (value === 'two-person') return { ok: true, approvers: 2 };
  if (/^[1-9]$/.test(value) && Number(value) <= MAX_APPROVERS) return { ok: true, approvers: Number(value) };
  return {
    ok: false,
    error: `\`@approval\` must be empty, \`"two-person"\` or a number of approvers from 1 to ${MAX_APPROVERS}, got \`${value.slice(0, 40)}\``,
  };
}

/** Default of how long an `approval_required` request may wait for approvals and its claim (1 hour). */
export const DEFAULT_APPROVAL_WINDOW_MS = 60 * 60_000;
/** Default of how long one approve verdict counts (15 minutes), never beyond the request's window. */
export const DEFAULT_APPROVAL_TTL_MS = 15 * 60_000;
