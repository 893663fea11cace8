/**
 * core/approvals: the approval flow's stored items (pending request, verdicts, claim) and the reads over
 * them that need no policy engine.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export type { ApproveItem, PendingApproval, PendingApprovalAges } from './approvalItems.js';
export { pendingApprovalAges, readApprovalState } from './approvalItems.js';
