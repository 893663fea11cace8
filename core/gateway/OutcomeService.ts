import { ConflictError, ForbiddenError, InfrastructureError, NotFoundError } from '../errors/errors.js';
import { AppendRefusedError, type LaneWriter } from '../log/LaneWriter.js';
import type { Caller } from '../model/caller.js';
import { declarationFor } from '../model/declarations.js';
import type { AuditRecord, DecisionRecord } from '../model/records.js';
import { type OutcomeRequest, parseOutcomeRequest } from '../model/requests.js';
import {
  type Clock,
  emitEvent,
  type GatewayEvents,
  type PolicyEvaluator,
  type TransactOp,
} from '../ports/ports.js';
import { P_OUTCOME } from '../ports/storageLayout.js';
import type { ConfigSnapshot, Configuration } from './Configuration.js';
import type { DecisionService } from './DecisionService.js';

/** Default of the start window: how long an allow may wait for its `started` outcome. */
export const DEFAULT_START_WINDOW_MS = 60_000;

/**
 * Records what happened to an allowed action. `started` is the single-use claim of an allow: its claim
 * item and its record land in one transaction, so a crash leaves either both or neither (no claim to
 * expire). A final status is accepted once, and only after `started`.
 */
export class OutcomeService {
  constructor(
    private readonly deps: {
      writer: LaneWriter;
      config: Configuration;
      decisions: DecisionService;
      policies: PolicyEvaluator;
      clock: Clock;
      events?: GatewayEvents;
      startWindowMs?: number;
    },
  ) {}

  /**
   * Records the outcome of an allowed action. `started` is accepted once per decision, within the start
   * window after the allow, while its agent is active and nothing that could decide it changed; that
   * makes an allow single-use before anything runs. A final status (`succeeded`/`failed`) is accepted
   * once, and only after `started`.
   */
  async report(caller: Caller, decisionId: string, body: unknown): Promise<AuditRecord> {
    const request: OutcomeRequest = parseOutcomeRequest(body);
    const decision = await this.deps.decisions.readDecision(decisionId);
    if (!decision || decision.principal_arn !== caller.principalArn) {
      // The same answer for "absent" and "someone else's": ids of other agents' decisions are not revealed.
      throw new NotFoundError(`no decision \`${decisionId}\` for this principal`);
    }
    if (decision.decision !== 'allow') {
      throw new ConflictError(
        'DECISION_NOT_ALLOWED',
        `decision \`${decisionId}\` was \`${decision.decision}\`, not an allow; nothing may run`,
      );
    }
    const started = request.status === 'started';
    if (started) await this.#checkStillAllowed(caller, decision);
    const claims: TransactOp[] = started
      ? [{ op: 'putIfAbsent', pk: P_OUTCOME, sk: `${decisionId}#started`, data: 'started' }]
      : [
          // INVARIANT: outcomes are ordered: nothing finishes that was never claimed as started.
          { op: 'check', pk: P_OUTCOME, sk: `${decisionId}#started`, expected: 'started' },
          { op: 'putIfAbsent', pk: P_OUTCOME, sk: `${decisionId}#final`, data: request.status },
        ];
    try {
      const appended = await this.deps.writer.append({
        principalArn: caller.principalArn,
        build: () => ({
          kind: 'outcome',
          decision_id: decisionId,
          status: request.status,
          exit_code: request.exit_code,
          output_sha256: request.output_sha256,
          ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
        }),
        extra: () => claims,
      });
      return JSON.parse(appended.text) as AuditRecord;
    } catch (error) {
      if (error instanceof InfrastructureError) emitEvent(this.deps.events, 'appendFailed', error);
      if (!(error instanceof AppendRefusedError)) throw error;
      if (started) {
        throw new ConflictError(
          'ALREADY_STARTED',
          `decision \`${decisionId}\` was already claimed by a \`started\` outcome`,
        );
      }
      if (error.extraIndex === 0) {
        throw new ConflictError(
          'OUTCOME_NOT_STARTED',
          `decision \`${decisionId}\` has no \`started\` outcome; report \`started\` before \`${request.status}\``,
        );
      }
      throw new ConflictError(
        'OUTCOME_ALREADY_REPORTED',
        `decision \`${decisionId}\` already has a final outcome`,
      );
    }
  }

  /**
   * What `started` re-checks: the allow is young enough, its agent is still active, and no policy that
   * could decide its (action, agent) was written or deleted after it, nor the declarations of its action.
   */
  async #checkStillAllowed(caller: Caller, decision: DecisionRecord): Promise<void> {
    const decidedAt = Date.parse(decision.timestamp);
    const window = this.deps.startWindowMs ?? DEFAULT_START_WINDOW_MS;
    // INVARIANT: an allow not claimed within the start window is dead; an old answer cannot start anything.
    if (this.deps.clock.now().getTime() - decidedAt > window) {
      throw new ConflictError(
        'DECISION_EXPIRED',
        `decision \`${decision.id}\` was not started within ${window / 1000} s of the allow; ask again`,
      );
    }
    // The configuration as it is now (a fresh read of its version), not a cached one: `started` is the
    // last moment a change can still stop this allow.
    const current = await this.deps.config.readVersion();
    const { snapshot: config, agent } = await this.deps.config.agentFor(caller.principalArn, current.version);
    // INVARIANT: nothing starts for an agent that is no longer active, whatever allow it still holds.
    if (agent?.status !== 'active' || agent.agentId !== decision.actor) {
      throw new ForbiddenError(
        `decision \`${decision.id}\` cannot be started: its agent is no longer active`,
      );
    }
    const stale = this.#staleness(config, decision, decidedAt);
    if (stale) {
      throw new ConflictError(
        'DECISION_STALE',
        `decision \`${decision.id}\` cannot be started: ${stale}; ask again`,
      );
    }
  }

  /**
   * Why the configuration no longer backs the allow, or null. INVARIANT: an allow starts only under the
   * policies it was decided by: a cited policy that is gone, any policy that can apply to its (action,
   * agent) changed since (a replaced permit, a new forbid), or new declarations for its action make it
   * stale. Changes are told by configuration version; a decision of the first release, which names no
   * version, by time.
   */
  #staleness(config: ConfigSnapshot, decision: DecisionRecord, decidedAt: number): string | null {
    const since = (item: { version?: number; updatedAt?: string | null }): boolean =>
      decision.config_version !== undefined && item.version !== undefined
        ? item.version > decision.config_version
        : Date.parse(item.updatedAt ?? '') >= decidedAt;
    // Shadow policies never decide, so they neither back nor stale an allow.
    const byId = new Map(config.enforced.map((p) => [p.policyId, p]));
    const gone = decision.policy_ids.find((id) => !byId.has(id));
    if (gone !== undefined) return `policy \`${gone}\` it was allowed by is gone`;
    const changed = this.deps.policies
      .applicablePolicyIds(config.enforced, decision.action, decision.actor)
      .find((id) => {
        const policy = byId.get(id);
        return policy !== undefined && since(policy);
      });
    if (changed !== undefined) return `policy \`${changed}\` changed after it`;
    if (
      config.schema.updatedAt !== null &&
      since(config.schema) &&
      declarationFor(config.declarations, decision.action)
    ) {
      return `the declarations of \`${decision.action}\` changed after it`;
    }
    return null;
  }
}
