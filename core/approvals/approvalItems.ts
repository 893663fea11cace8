import type { JsonObject } from '../model/validate.js';
import type { Clock, KeyValueStore } from '../ports/ports.js';
import { approvalPartition, P_APPROVALS } from '../ports/storageLayout.js';

/**
 * The approval flow's items as the table holds them (a pending request, its verdicts, its claim) and the
 * reads over them that need no policy: the approvals use cases (core/gateway/ApprovalService.ts) and the
 * checkpoint function's "approvals pending too long" measurement both read through here, so the latter
 * is built without the decision services or Cedar.
 */

/**
 * A pending approval as stored beside its `approval_required` decision (in the same transaction): the
 * request itself, so an approver sees what the digests in the record stand for. Kept in the table only
 * (never in the log, which holds the digests); removed when the approval is rejected or claimed.
 */
export interface PendingApproval {
  approval_id: string;
  principal_arn: string;
  actor: string;
  action: string;
  resource: string;
  context: JsonObject;
  params: unknown;
  context_sha256: string;
  params_sha256: string;
  policy_ids: string[];
  approvals_required: number;
  requested_at: string;
  expires_at: string;
}

/** One approve verdict as its item holds it: the record that says it, by whom, until when. */
export interface ApproveItem {
  record_id: string;
  principal_arn: string;
  expires_at: string;
}

/** The verdicts and the claim of one approval, as stored. */
export interface ApprovalState {
  rejected: boolean;
  claimed: boolean;
  approves: Array<ApproveItem & { data: string; sk: string }>;
}

/** Approvers per approval are few (at most MAX_APPROVERS count); this bounds the read of its partition. */
const MAX_VOTE_ITEMS = 100;

/** Reads the verdicts and the claim of an approval. */
export async function readApprovalState(store: KeyValueStore, approvalId: string): Promise<ApprovalState> {
  const items = await store.query(approvalPartition(approvalId), { limit: MAX_VOTE_ITEMS });
  const state: ApprovalState = { rejected: false, claimed: false, approves: [] };
  for (const item of items) {
    if (item.sk === 'reject') state.rejected = true;
    else if (item.sk === 'claim') state.claimed = true;
    else if (item.sk.startsWith('approve#')) {
      state.approves.push({ ...(JSON.parse(item.data) as ApproveItem), data: item.data, sk: item.sk });
    }
  }
  return state;
}

/** How many approvals are pending (not expired) and how long the oldest has waited. */
export interface PendingApprovalAges {
  /** Age of the oldest pending approval, or null when none is pending. */
  oldestMs: number | null;
  pending: number;
}

/**
 * How many approvals are pending and how long the oldest has waited, at the clock's now: the figures the
 * "pending too long" alarm watches. Reads at most `limit` items (they are few: each is removed when claimed
 * or rejected, and expires within its window).
 */
export async function pendingApprovalAges(
  store: KeyValueStore,
  clock: Clock,
  limit = 1000,
): Promise<PendingApprovalAges> {
  const items = await store.query(P_APPROVALS, { limit });
  const now = clock.now().getTime();
  let oldest: number | null = null;
  let pending = 0;
  for (const item of items) {
    const p = JSON.parse(item.data) as PendingApproval;
    if (Date.parse(p.expires_at) <= now) continue;
    pending++;
    const age = now - Date.parse(p.requested_at);
    if (oldest === null || age > oldest) oldest = age;
  }
  return { oldestMs: oldest, pending };
}
