import { randomUUID } from 'node:crypto';
import { type PendingApproval, readApprovalState } from '../approvals/approvalItems.js';
import { ConflictError, InfrastructureError, NotFoundError } from '../errors/errors.js';
import { AppendRefusedError, type LaneWriter } from '../log/LaneWriter.js';
import type { Caller } from '../model/caller.js';
import { canonicalizeData, canonicalSha256, sha256Hex } from '../model/canonical.js';
import type { AuditRecord, Decision, DecisionFields, DecisionRecord } from '../model/records.js';
import { MAIN_LANE, parseRecordId } from '../model/records.js';
import {
  type DecisionRequest,
  parseDecisionRequest,
  type RequestOrigin,
  signatureRequestId,
} from '../model/requests.js';
import { DEFAULT_APPROVAL_WINDOW_MS } from '../policy/approval.js';
import {
  type Clock,
  emitEvent,
  type GatewayEvents,
  type KeyValueStore,
  type PolicyEvaluator,
  type TransactOp,
} from '../ports/ports.js';
import { approvalPartition, idemPartition, P_APPROVALS, seqKey } from '../ports/storageLayout.js';
import { evaluateAgain } from './ApprovalService.js';
import type { Configuration } from './Configuration.js';
import { type KeptRequest, keepsAction, keptRequestPartition, type RequestKeeping } from './keptRequests.js';
import { PRE_POLICY_DENIAL } from './replay.js';

export interface DecisionOutcome {
  decision: Decision;
  record: AuditRecord;
  /** True when an earlier record was returned for a repeated `request_id`. */
  replayed: boolean;
}

/** What a request id answered with, written in the decision's own transaction. */
interface IdempotencyItem {
  request_sha256: string;
  /** The record's lane (absent on items of the first release: `main`). */
  lane?: string;
  seq?: number;
  /** First release only: `pending` was a claim that never finished. */
  state?: 'pending' | 'done';
}

/** A claim of an approved request, checked before its append. */
interface Claim {
  approvalId: string;
  original: DecisionRecord;
  approves: ApprovalStateApprove[];
}
type ApprovalStateApprove = Awaited<ReturnType<typeof readApprovalState>>['approves'][number];

/**
 * The claim's writes, in the allow's transaction: the claim item (single use), no reject, the approve items
 * it counted still there, and the pending item removed.
 */
function claimOps(claim: Claim): TransactOp[] {
  const part = approvalPartition(claim.approvalId);
  return [
    // INVARIANT: an approval is claimed once: a second claim finds the item and writes nothing.
    { op: 'putIfAbsent', pk: part, sk: 'claim', data: 'claimed' },
    { op: 'check', pk: part, sk: 'reject', expected: null },
    ...claim.approves.map((a): TransactOp => ({ op: 'check', pk: part, sk: a.sk, expected: a.data })),
    { op: 'delete', pk: P_APPROVALS, sk: claim.approvalId },
  ];
}

function claimRefused(approvalId: string, index: number): ConflictError {
  if (index === 0) {
    return new ConflictError('APPROVAL_ALREADY_CLAIMED', `approval \`${approvalId}\` was already claimed`);
  }
  if (index === 1) return new ConflictError('APPROVAL_REJECTED', `approval \`${approvalId}\` was rejected`);
  return new ConflictError(
    'APPROVAL_PENDING',
    `the approvals of \`${approvalId}\` changed while it was claimed; retry`,
  );
}

/** A first release's `pending` idempotency claim, which a crash left behind. */
function isLegacyClaim(text: string): boolean {
  return (JSON.parse(text) as IdempotencyItem).state === 'pending';
}

/**
 * Decides actions. A decision is evaluated inside its lane's append, against the configuration version
 * the lane is fenced at (or later), and its record is written in the same transaction as the item that
 * makes its request id idempotent: no claim to expire, and no allow chained after the admin change that
 * should have denied it.
 *
 * The file (~440 lines) is this one use case, `POST /actions`: its early denials, evaluation, the
 * idempotent answer to a repeated request id and the claim of an approved request all build or check the
 * one append, inside the same retry loop, so they stay together.
 */
export class DecisionService {
  constructor(
    private readonly deps: {
      store: KeyValueStore;
      writer: LaneWriter;
      config: Configuration;
      policies: PolicyEvaluator;
      clock: Clock;
      events?: GatewayEvents;
      /** How long an `approval_required` request may wait for approvals and its claim (default 1 hour). */
      approvalWindowMs?: number;
      /** Keep the request data of policy-evaluated decisions for replay (opt-in; see core/gateway/keptRequests.ts). */
      keepRequests?: RequestKeeping | null;
    },
  ) {}

  /**
   * Decides an action for an agent. The answer is returned only after its signed record is durably
   * appended (no record, no allow); any failure before that throws, which the edge turns into a 5xx deny.
   */
  async decide(caller: Caller, body: unknown, origin: RequestOrigin = {}): Promise<DecisionOutcome> {
    const request = parseDecisionRequest(body);
    // INVARIANT: a signed request without request_id is keyed by its signature, so a replay of it within
    // the signature's window returns its record and never decides (or allows) a second time.
    if (request.request_id === undefined && origin.signature !== undefined) {
      request.request_id = signatureRequestId(caller.principalArn, origin.signature);
    }
    // Only an idempotent request (one with a request_id) needs the hash of the whole request.
    const idem =
      request.request_id === undefined ? null : { key: request.request_id, hash: canonicalSha256(request) };
    const pk = idemPartition(caller.principalArn);
    // The claim of an approved request: checked before, evaluated again inside the append, and made
    // single-use by its claim item, which lands with the allow.
    if (request.approval_id !== undefined && idem) {
      // A claim repeated with its request id (a retry after a lost answer) gets its allow back: the claim
      // item would refuse it as already claimed. Claims are rare, so this read costs nothing that matters.
      const replay = await this.#replay(await this.deps.store.get(pk, idem.key), idem.key, idem.hash);
      if (replay) return replay;
    }
    const claim = request.approval_id === undefined ? null : await this.#prepareClaim(caller, request);
    // A first-release `pending` claim (a crash left it), once seen, is taken over in the decision's
    // transaction. It is looked for only when the request id turned out to be taken: a new request id, the
    // common case, costs no read of its item (in DynamoDB a 2-4 ms round trip before every decision).
    let legacy: string | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        // The agent attributes the evaluation saw, set by the build (which may run again on a retry).
        let evaluated: { attributes: Record<string, unknown> } | null = null;
        const keeping = this.deps.keepRequests ?? null;
        const keep = keeping !== null && keepsAction(keeping, request.action) ? keeping : null;
        const appended = await this.deps.writer.append({
          principalArn: caller.principalArn,
          build: async (ctx) => {
            if (claim !== null) {
              evaluated = null;
              return this.#evaluateClaim(caller, request, claim, ctx.fence);
            }
            const built = await this.#evaluate(caller, request, ctx.fence);
            evaluated = built.evaluated;
            return built.fields;
          },
          extra: (record) => {
            const ops: TransactOp[] = [];
            if (idem) {
              const item: IdempotencyItem = {
                request_sha256: idem.hash,
                lane: record.chain,
                seq: record.seq,
              };
              const data = JSON.stringify(item);
              // INVARIANT: a request id answers with one record: the item and the record land together.
              ops.push(
                legacy === null
                  ? { op: 'putIfAbsent', pk, sk: idem.key, data }
                  : { op: 'replaceIf', pk, sk: idem.key, expected: legacy, data },
              );
            }
            const decided = record as DecisionRecord;
            if (decided.decision === 'approval_required') ops.push(this.#pendingItem(decided, request));
            if (claim !== null) ops.push(...claimOps(claim));
            // Only a decision that reached policy evaluation has request data worth replaying: the others
            // (unknown principal, disabled agent, actor mismatch) are denied whatever the policies say.
            const seen = evaluated as { attributes: Record<string, unknown> } | null;
            if (keep && seen !== null) {
              const kept: KeptRequest = {
                id: record.id,
                record_hash: record.current_hash,
                params: request.params,
                context: request.context,
                agent_attributes: seen.attributes,
                expires_at: Date.parse(record.timestamp) + keep.retentionDays * 86_400_000,
              };
              // Not chained and not signed: the record's hashes of params and context vouch for it.
              ops.push({
                op: 'put',
                pk: keptRequestPartition(record.chain),
                sk: seqKey(record.seq),
                data: JSON.stringify(kept),
              });
            }
            return ops;
          },
        });
        const record = appended.record as DecisionRecord;
        emitEvent(this.deps.events, 'decision', record);
        return {
          decision: record.decision,
          record: JSON.parse(appended.text) as AuditRecord,
          replayed: false,
        };
      } catch (error) {
        if (error instanceof InfrastructureError) emitEvent(this.deps.events, 'appendFailed', error);
        if (error instanceof AppendRefusedError && claim !== null && error.extraIndex >= (idem ? 1 : 0)) {
          throw claimRefused(claim.approvalId, error.extraIndex - (idem ? 1 : 0));
        }
        if (!(error instanceof AppendRefusedError) || !idem) throw error;
        const existing = await this.deps.store.get(pk, idem.key);
        legacy = existing !== null && isLegacyClaim(existing) ? existing : null;
        if (legacy !== null) continue;
        // Another request with this id landed first: answer with its record.
        const replay = await this.#replay(existing, idem.key, idem.hash);
        if (replay) return replay;
      }
    }
    throw new ConflictError(
      'REQUEST_IN_PROGRESS',
      `request \`${request.request_id}\` is being decided; retry shortly`,
    );
  }

  async #replay(
    existing: string | null,
    requestId: string,
    requestHash: string,
  ): Promise<DecisionOutcome | null> {
    if (existing === null) return null;
    const item = JSON.parse(existing) as IdempotencyItem;
    if (item.request_sha256 !== requestHash) {
      throw new ConflictError(
        'REQUEST_ID_REUSED',
        `request_id \`${requestId}\` was already used for a different request; use a new request_id`,
      );
    }
    if (item.seq === undefined || item.state === 'pending') return null;
    const text = await this.deps.writer.get(item.lane ?? MAIN_LANE, item.seq);
    if (text === null)
      throw new InfrastructureError('RECORD_MISSING', 'the recorded decision could not be read');
    const record = JSON.parse(text) as DecisionRecord;
    return { decision: record.decision, record, replayed: true };
  }

  async #evaluate(
    caller: Caller,
    request: DecisionRequest,
    fence: number,
  ): Promise<{ fields: DecisionFields; evaluated: { attributes: Record<string, unknown> } | null }> {
    const { snapshot: config, agent } = await this.deps.config.agentFor(caller.principalArn, fence);
    const base = {
      kind: 'decision' as const,
      request_id: request.request_id ?? `srv-${randomUUID()}`,
      actor: request.actor,
      action: request.action,
      resource: request.resource,
      context_sha256: sha256Hex(canonicalizeData(request.context)),
      params_sha256: canonicalSha256(request.params),
    };
    const deny = (reason: string) => ({
      fields: {
        ...base,
        decision: 'deny',
        reason,
        policy_ids: [],
        policy_set_sha256: sha256Hex('[]'),
        errors: [],
        config_version: config.version,
      } satisfies DecisionFields,
      evaluated: null,
    });
    // INVARIANT: the actor is whoever the signature says; a body claim never overrides it.
    // These texts are how replay tells a decision no policy could change (core/gateway/replay.ts).
    if (!agent) return deny(PRE_POLICY_DENIAL.unregistered(caller.principalArn));
    if (agent.status !== 'active') return deny(PRE_POLICY_DENIAL.disabled(agent.agentId));
    if (agent.agentId !== request.actor) return deny(PRE_POLICY_DENIAL.actorMismatch);
    const evaluation = {
      agentId: agent.agentId,
      agentAttributes: agent.attributes,
      action: request.action,
      resource: request.resource,
      context: request.context,
      params: request.params,
    };
    const result = this.deps.policies.evaluate(config.enforced, evaluation, config.declarations);
    const fields: DecisionFields = { ...base, ...result, config_version: config.version };
    if (result.decision === 'approval_required') {
      const window = this.deps.approvalWindowMs ?? DEFAULT_APPROVAL_WINDOW_MS;
      fields.approval_expires_at = new Date(this.deps.clock.now().getTime() + window).toISOString();
    }
    // Shadow policies: what the decision would be with them enforced, only where one can apply (a second
    // Cedar call for those requests alone). Recorded, never answered.
    if (config.shadow.length > 0) {
      const shadowIds = new Set(config.shadow.map((p) => p.policyId));
      const applies = this.deps.policies
        .applicablePolicyIds(config.shadow, request.action, agent.agentId)
        .some((id) => shadowIds.has(id));
      if (applies) {
        const would = this.deps.policies.evaluate(config.policies, evaluation, config.declarations);
        fields.shadow = {
          decision: would.decision,
          reason: would.reason,
          policy_ids: would.policy_ids.filter((id) => shadowIds.has(id)),
        };
      }
    }
    return { fields, evaluated: { attributes: { ...(agent.attributes ?? {}) } } };
  }

  /** The pending approval's item, written with its `approval_required` decision. */
  #pendingItem(record: DecisionRecord, request: DecisionRequest): TransactOp {
    const pending: PendingApproval = {
      approval_id: record.id,
      principal_arn: record.principal_arn,
      actor: record.actor,
      action: record.action,
      resource: record.resource,
      context: request.context,
      params: request.params,
      context_sha256: record.context_sha256,
      params_sha256: record.params_sha256,
      policy_ids: record.policy_ids,
      approvals_required: record.approvals_required as number,
      requested_at: record.timestamp,
      expires_at: record.approval_expires_at as string,
    };
    return { op: 'put', pk: P_APPROVALS, sk: record.id, data: JSON.stringify(pending) };
  }

  /**
   * What a claim must show before it is evaluated: its approval is this principal's `approval_required`
   * decision for exactly this request, within its window, neither rejected nor claimed. Each failure is a
   * coded conflict and writes nothing.
   */
  async #prepareClaim(caller: Caller, request: DecisionRequest): Promise<Claim> {
    const approvalId = request.approval_id as string;
    const original = await this.readDecision(approvalId);
    // INVARIANT: an approval is claimed only by the principal that asked for it.
    if (original === null || original.principal_arn !== caller.principalArn) {
      throw new NotFoundError(`no approval \`${approvalId}\` for this principal`);
    }
    if (original.decision !== 'approval_required') {
      throw new ConflictError(
        'APPROVAL_NOT_REQUIRED',
        `decision \`${approvalId}\` is \`${original.decision}\`, not \`approval_required\`; nothing to claim`,
      );
    }
    // INVARIANT: an approval is claimed only for exactly the request approved: actor, action, resource,
    // context and params all hash to the approved request's.
    const mismatch = (
      [
        ['actor', request.actor, original.actor],
        ['action', request.action, original.action],
        ['resource', request.resource, original.resource],
        ['context_sha256', sha256Hex(canonicalizeData(request.context)), original.context_sha256],
        ['params_sha256', canonicalSha256(request.params), original.params_sha256],
      ] as const
    ).find(([, asked, approved]) => asked !== approved);
    if (mismatch) {
      throw new ConflictError(
        'APPROVAL_MISMATCH',
        `approval \`${approvalId}\` is for another request: its \`${mismatch[0]}\` is \`${mismatch[2]}\`, the claim has \`${mismatch[1]}\``,
      );
    }
    const now = this.deps.clock.now().getTime();
    if (now >= Date.parse(original.approval_expires_at as string)) {
      throw new ConflictError(
        'APPROVAL_EXPIRED',
        `approval \`${approvalId}\` expired at ${original.approval_expires_at}; ask again`,
      );
    }
    const state = await readApprovalState(this.deps.store, approvalId);
    if (state.rejected)
      throw new ConflictError('APPROVAL_REJECTED', `approval \`${approvalId}\` was rejected`);
    if (state.claimed) {
      throw new ConflictError('APPROVAL_ALREADY_CLAIMED', `approval \`${approvalId}\` was already claimed`);
    }
    // Only approves that still count, by approvers other than the requester, each principal once.
    const approves = state.approves.filter(
      (a) => Date.parse(a.expires_at) > now && a.principal_arn !== original.principal_arn,
    );
    return { approvalId, original, approves };
  }

  /**
   * The claim's decision, under the configuration the lane is fenced at: the request is evaluated again; a
   * deny now (a deleted or changed policy, a disabled agent) refuses the claim (`APPROVAL_STALE`), and the
   * approvals needed are the larger of the original's and today's policies'.
   */
  async #evaluateClaim(
    caller: Caller,
    request: DecisionRequest,
    claim: Claim,
    fence: number,
  ): Promise<DecisionFields> {
    const { snapshot: config } = await this.deps.config.agentFor(caller.principalArn, fence);
    const again = await evaluateAgain(this.deps.config, this.deps.policies, config, {
      principal_arn: caller.principalArn,
      actor: request.actor,
      action: request.action,
      resource: request.resource,
      context: request.context,
      params: request.params,
    });
    // INVARIANT: an approval allows nothing the policies in force at the claim do not permit.
    if (again.decision === 'deny') {
      throw new ConflictError(
        'APPROVAL_STALE',
        `approval \`${claim.approvalId}\` cannot be claimed: the policies in force no longer permit it (${again.reason})`,
      );
    }
    const required = Math.max(claim.original.approvals_required ?? 1, again.approvals_required ?? 0);
    // INVARIANT: an approval is claimed only with as many distinct approvers as it requires.
    if (claim.approves.length < required) {
      throw new ConflictError(
        'APPROVAL_PENDING',
        `approval \`${claim.approvalId}\` has ${claim.approves.length} of the ${required} distinct approvals it needs`,
      );
    }
    const used = [...claim.approves].sort((a, b) => (a.record_id < b.record_id ? -1 : 1));
    return {
      kind: 'decision',
      request_id: request.request_id ?? `srv-${randomUUID()}`,
      actor: request.actor,
      action: request.action,
      resource: request.resource,
      context_sha256: claim.original.context_sha256,
      params_sha256: claim.original.params_sha256,
      decision: 'allow',
      reason: `${again.reason.replace(/ once .*$/, '')}, approved by ${used.length} approver${used.length > 1 ? 's' : ''} (approval \`${claim.approvalId}\`)`,
      policy_ids: again.policy_ids,
      policy_set_sha256: again.policy_set_sha256,
      errors: [],
      config_version: config.version,
      approval_id: claim.approvalId,
      approvals: used.map((a) => a.record_id),
      approvals_required: required,
    };
  }

  /** A decision record of any lane by its id, or null when there is none (or it is not a decision). */
  async readDecision(decisionId: string): Promise<DecisionRecord | null> {
    const id = parseRecordId(decisionId);
    if (!id) return null;
    const text = await this.deps.writer.get(id.lane, id.seq);
    if (text === null) return null;
    const record = JSON.parse(text) as AuditRecord;
    return record.kind === 'decision' ? record : null;
  }
}
