import { randomUUID } from 'node:crypto';
import type { Configuration } from './Configuration.js';
import type { Caller } from './caller.js';
import { canonicalizeData, canonicalSha256, sha256Hex } from './canonical.js';
import { ConflictError, InfrastructureError } from './errors.js';
import { type KeptRequest, keepsAction, keptRequestPartition, type RequestKeeping } from './keptRequests.js';
import { AppendRefusedError, type LaneWriter } from './LaneWriter.js';
import type { GatewayEvents, KeyValueStore, PolicyEvaluator, TransactOp } from './ports.js';
import type { AuditRecord, Decision, DecisionFields, DecisionRecord } from './records.js';
import { PRE_POLICY_DENIAL } from './replay.js';
import {
  type DecisionRequest,
  parseDecisionRequest,
  type RequestOrigin,
  signatureRequestId,
} from './requests.js';
import { idemPartition, MAIN_LANE, parseRecordId, seqKey } from './storageLayout.js';

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

/** A first release's `pending` idempotency claim, which a crash left behind. */
function isLegacyClaim(text: string): boolean {
  return (JSON.parse(text) as IdempotencyItem).state === 'pending';
}

/**
 * Decides actions. A decision is evaluated inside its lane's append, against the configuration version
 * the lane is fenced at (or later), and its record is written in the same transaction as the item that
 * makes its request id idempotent: no claim to expire, and no allow chained after the admin change that
 * should have denied it.
 */
export class DecisionService {
  constructor(
    private readonly deps: {
      store: KeyValueStore;
      writer: LaneWriter;
      config: Configuration;
      policies: PolicyEvaluator;
      events?: GatewayEvents;
      /** Keep the request data of policy-evaluated decisions for replay (opt-in; see core/keptRequests.ts). */
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
            const built = await this.#evaluate(caller, request, ctx.fence);
            evaluated = built.evaluated;
            return built.fields;
          },
          extra:
            idem || keep
              ? (record) => {
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
                }
              : undefined,
        });
        const record = appended.record as DecisionRecord;
        this.deps.events?.decision?.(record);
        return {
          decision: record.decision,
          record: JSON.parse(appended.text) as AuditRecord,
          replayed: false,
        };
      } catch (error) {
        if (error instanceof InfrastructureError) this.deps.events?.appendFailed?.(error);
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
    // These texts are how replay tells a decision no policy could change (core/replay.ts).
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
