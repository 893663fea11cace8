import { type ApproveItem, type PendingApproval, readApprovalState } from '../approvals/approvalItems.js';
import { ConflictError, ForbiddenError, InfrastructureError, NotFoundError } from '../errors/errors.js';
import { AppendRefusedError, type LaneWriter } from '../log/LaneWriter.js';
import { type Caller, requireApprover } from '../model/caller.js';
import type { ApprovalRecord, DecisionRecord } from '../model/records.js';
import { parseApprovalVoteRequest } from '../model/requests.js';
import { DEFAULT_APPROVAL_TTL_MS } from '../policy/approval.js';
import type { Clock, EvaluationResult, KeyValueStore, PolicyEvaluator, TransactOp } from '../ports/ports.js';
import { approvalPartition, P_APPROVALS } from '../ports/storageLayout.js';
import type { ConfigSnapshot, Configuration } from './Configuration.js';
import type { DecisionService } from './DecisionService.js';

/** What `GET /approvals` shows of one pending approval. */
export interface ApprovalView extends PendingApproval {
  /** The approve verdicts given so far that still count. */
  approvals: ApproveItem[];
}

/**
 * Evaluates a stored request again under `config`, for its agent as of that configuration: what an
 * approve and a claim must still find (an `approval_required` or an allow), or why not (a deny).
 */
export async function evaluateAgain(
  config: Configuration,
  policies: PolicyEvaluator,
  snapshot: ConfigSnapshot,
  request: Pick<PendingApproval, 'principal_arn' | 'actor' | 'action' | 'resource' | 'context' | 'params'>,
): Promise<EvaluationResult> {
  const { agent } = await config.agentFor(request.principal_arn, snapshot.version);
  const deny = (reason: string): EvaluationResult => ({
    decision: 'deny',
    reason,
    policy_ids: [],
    policy_set_sha256: '',
    errors: [],
  });
  if (agent?.status !== 'active' || agent.agentId !== request.actor) {
    return deny(`agent \`${request.actor}\` is no longer active`);
  }
  return policies.evaluate(
    snapshot.enforced,
    {
      agentId: agent.agentId,
      agentAttributes: agent.attributes,
      action: request.action,
      resource: request.resource,
      context: request.context,
      params: request.params,
    },
    snapshot.declarations,
  );
}

/**
 * Approvals: approvers list pending approvals, approve or reject them. Each verdict is a chained `approval`
 * record signed by the gateway and bound to the approver's verified principal and to the request's
 * `params_sha256`; its item lands in the same transaction, keyed by the approver, so one approver counts
 * once. The claim (an allow) is {@link DecisionService}'s.
 */
export class ApprovalService {
  constructor(
    private readonly deps: {
      store: KeyValueStore;
      writer: LaneWriter;
      config: Configuration;
      decisions: DecisionService;
      policies: PolicyEvaluator;
      clock: Clock;
      /** How long an approve counts (default 15 minutes); never beyond the request's own window. */
      approvalTtlMs?: number;
    },
  ) {}

  /** `GET /approvals`: pending approvals not yet expired, oldest first, a page at a time. */
  async list(
    caller: Caller,
    page: { after?: string; limit: number },
  ): Promise<{ approvals: ApprovalView[]; next: string | null }> {
    requireApprover(caller);
    const items = await this.deps.store.query(P_APPROVALS, {
      ...(page.after !== undefined ? { after: page.after } : {}),
      limit: page.limit,
    });
    const now = this.deps.clock.now().getTime();
    const approvals: ApprovalView[] = [];
    for (const item of items) {
      const pending = JSON.parse(item.data) as PendingApproval;
      if (Date.parse(pending.expires_at) <= now) continue;
      approvals.push(await this.#view(pending, now));
    }
    const last = items[items.length - 1];
    return { approvals, next: items.length === page.limit && last ? last.sk : null };
  }

  /** `GET /approvals/{id}`. */
  async get(caller: Caller, approvalId: string): Promise<ApprovalView> {
    requireApprover(caller);
    const pending = await this.#pending(approvalId);
    return this.#view(pending, this.deps.clock.now().getTime());
  }

  async #view(pending: PendingApproval, now: number): Promise<ApprovalView> {
    const state = await readApprovalState(this.deps.store, pending.approval_id);
    const approvals = state.approves
      .filter((a) => Date.parse(a.expires_at) > now)
      .map(({ record_id, principal_arn, expires_at }) => ({ record_id, principal_arn, expires_at }));
    return { ...pending, approvals };
  }

  async #pending(approvalId: string): Promise<PendingApproval> {
    const text = await this.deps.store.get(P_APPROVALS, approvalId);
    if (text !== null) return JSON.parse(text) as PendingApproval;
    // Removed on reject and claim: say which, when it was one of those.
    const state = await readApprovalState(this.deps.store, approvalId);
    if (state.rejected)
      throw new ConflictError('APPROVAL_REJECTED', `approval \`${approvalId}\` was rejected`);
    if (state.claimed) {
      throw new ConflictError('APPROVAL_ALREADY_CLAIMED', `approval \`${approvalId}\` was already claimed`);
    }
    throw new NotFoundError(`no pending approval \`${approvalId}\``);
  }

  /**
   * `POST /approvals/{id}/approve|reject`: one verdict, as a chained `approval` record. Refused (with a
   * code, nothing written) for a caller that is not an approver, the requesting agent itself, a digest
   * other than the request's, an expired or already rejected or claimed approval, an approver who already
   * approved it, and (approve) a request the policies in force no longer permit.
   */
  async vote(
    caller: Caller,
    approvalId: string,
    verdict: 'approve' | 'reject',
    body: unknown,
  ): Promise<ApprovalRecord> {
    requireApprover(caller);
    const vote = parseApprovalVoteRequest(body, verdict);
    const pending = await this.#pending(approvalId);
    const decision = await this.deps.decisions.readDecision(approvalId);
    if (decision === null || decision.decision !== 'approval_required') {
      throw new InfrastructureError('RECORD_MISSING', 'the approval names no `approval_required` decision');
    }
    await this.#refuseRequester(caller, decision);
    // INVARIANT: a verdict is bound to the exact request: the digest the approver saw must be the record's.
    if (vote.params_sha256 !== decision.params_sha256) {
      throw new ConflictError(
        'APPROVAL_PARAMS_MISMATCH',
        `approval \`${approvalId}\` is for params \`${decision.params_sha256}\`, the verdict names \`${vote.params_sha256}\``,
      );
    }
    const now = this.deps.clock.now().getTime();
    const windowEnd = Date.parse(decision.approval_expires_at as string);
    if (now >= windowEnd) {
      throw new ConflictError(
        'APPROVAL_EXPIRED',
        `approval \`${approvalId}\` expired at ${decision.approval_expires_at}`,
      );
    }
    const ttl = Math.min(
      this.deps.approvalTtlMs ?? DEFAULT_APPROVAL_TTL_MS,
      vote.ttl_seconds !== undefined ? vote.ttl_seconds * 1000 : Number.POSITIVE_INFINITY,
    );
    const expiresAt = verdict === 'approve' ? new Date(Math.min(now + ttl, windowEnd)).toISOString() : null;
    const part = approvalPartition(approvalId);
    const approveSk = `approve#${caller.principalArn}`;
    try {
      const appended = await this.deps.writer.append({
        principalArn: caller.principalArn,
        build: async (ctx) => {
          if (verdict === 'approve') {
            // INVARIANT: nobody approves what the policies in force no longer permit (a deleted or changed
            // policy); the claim checks again, this only spares approvers a useless verdict.
            const snapshot = await this.deps.config.snapshot(ctx.fence);
            const again = await evaluateAgain(this.deps.config, this.deps.policies, snapshot, pending);
            if (again.decision === 'deny') {
              throw new ConflictError(
                'APPROVAL_STALE',
                `approval \`${approvalId}\` cannot be approved: the policies in force no longer permit it (${again.reason})`,
              );
            }
          }
          return {
            kind: 'approval',
            decision_id: approvalId,
            verdict,
            params_sha256: decision.params_sha256,
            expires_at: expiresAt,
          };
        },
        extra: (record): TransactOp[] =>
          verdict === 'approve'
            ? [
                // INVARIANT: one approver counts once: the item is keyed by the approver's principal.
                {
                  op: 'putIfAbsent',
                  pk: part,
                  sk: approveSk,
                  data: JSON.stringify({
                    record_id: record.id,
                    principal_arn: caller.principalArn,
                    expires_at: expiresAt as string,
                  } satisfies ApproveItem),
                },
                { op: 'check', pk: part, sk: 'reject', expected: null },
                { op: 'check', pk: part, sk: 'claim', expected: null },
              ]
            : [
                { op: 'putIfAbsent', pk: part, sk: 'reject', data: record.id },
                { op: 'check', pk: part, sk: 'claim', expected: null },
                { op: 'delete', pk: P_APPROVALS, sk: approvalId },
              ],
      });
      return JSON.parse(appended.text) as ApprovalRecord;
    } catch (error) {
      if (!(error instanceof AppendRefusedError)) throw error;
      const approve = verdict === 'approve';
      if (approve && error.extraIndex === 0) {
        throw new ConflictError(
          'APPROVAL_DUPLICATE',
          `principal \`${caller.principalArn}\` already approved \`${approvalId}\`; a second approval must come from another approver`,
        );
      }
      if ((approve && error.extraIndex === 1) || (!approve && error.extraIndex === 0)) {
        throw new ConflictError('APPROVAL_REJECTED', `approval \`${approvalId}\` was rejected`);
      }
      throw new ConflictError('APPROVAL_ALREADY_CLAIMED', `approval \`${approvalId}\` was already claimed`);
    }
  }

  /** INVARIANT: the requesting agent never approves (or rejects) its own request, under any of its principals. */
  async #refuseRequester(caller: Caller, decision: DecisionRecord): Promise<void> {
    const refuse = () =>
      new ForbiddenError(
        `principal \`${caller.principalArn}\` asked for \`${decision.id}\`: a request is never approved by its own agent`,
        'APPROVER_IS_REQUESTER',
      );
    if (caller.principalArn === decision.principal_arn) throw refuse();
    const { agent } = await this.deps.config.agentFor(caller.principalArn);
    if (agent !== null && agent.agentId === decision.actor) throw refuse();
  }
}
