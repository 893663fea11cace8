import { ForbiddenError } from '../errors/errors.js';
import type { KeyRing, PublicKeyInfo } from '../keys/KeyRing.js';
import type { LaneWriter } from '../log/LaneWriter.js';
import { type Caller, requireAdmin } from '../model/caller.js';
import type { RequestOrigin } from '../model/requests.js';
import type {
  Clock,
  CredentialIssuer,
  GatewayEvents,
  KeyValueStore,
  PolicyEvaluator,
} from '../ports/ports.js';
import { AdminService } from './AdminService.js';
import { AllowedActionsService } from './AllowedActionsService.js';
import { ApprovalService } from './ApprovalService.js';
import { Configuration } from './Configuration.js';
import { type DecisionOutcome, DecisionService } from './DecisionService.js';
import type { RequestKeeping } from './keptRequests.js';
import { OutcomeService } from './OutcomeService.js';

export { type Caller, requireAdmin, requireApprover } from '../model/caller.js';
export type {
  CredentialIssuer,
  EvaluationResult,
  GatewayEvents,
  PolicyDiagnostic,
  PolicyEvaluator,
} from '../ports/ports.js';
export type { Agent, StoredPolicy, StoredSchema } from './Configuration.js';
export type { DecisionOutcome } from './DecisionService.js';
export { DEFAULT_START_WINDOW_MS } from './OutcomeService.js';

export interface GatewayDeps {
  store: KeyValueStore;
  writer: LaneWriter;
  keys: KeyRing;
  policies: PolicyEvaluator;
  clock: Clock;
  issuer?: CredentialIssuer;
  events?: GatewayEvents;
  /** How long an allow may wait for its `started` outcome before it expires. Default 60 000 ms. */
  startWindowMs?: number;
  /** How long an `approval_required` request may wait for approvals and its claim. Default 1 hour. */
  approvalWindowMs?: number;
  /** How long one approve verdict counts. Default 15 minutes. */
  approvalTtlMs?: number;
  /** Keep decisions' request data for replay (opt-in; core/gateway/keptRequests.ts). Default: keep nothing. */
  keepRequests?: RequestKeeping | null;
}

/**
 * The use cases behind every route, one service each: decisions, outcomes, and the admin's agents,
 * policies and declarations, over one configuration and one lane writer. Callers are already
 * authenticated; the services authorise them, decide, and write the log. They return values and throw
 * `ZtError`s; HTTP mapping is the edge's.
 */
export class Gateway {
  readonly config: Configuration;
  readonly decisions: DecisionService;
  readonly outcomes: OutcomeService;
  readonly admin: AdminService;
  readonly allowed: AllowedActionsService;
  readonly approvals: ApprovalService;

  constructor(private readonly deps: GatewayDeps) {
    this.config = new Configuration(deps.store, deps.clock, { commonContext: deps.policies.commonContext });
    this.decisions = new DecisionService({
      store: deps.store,
      writer: deps.writer,
      config: this.config,
      policies: deps.policies,
      clock: deps.clock,
      ...(deps.events ? { events: deps.events } : {}),
      ...(deps.keepRequests ? { keepRequests: deps.keepRequests } : {}),
      ...(deps.approvalWindowMs !== undefined ? { approvalWindowMs: deps.approvalWindowMs } : {}),
    });
    this.approvals = new ApprovalService({
      store: deps.store,
      writer: deps.writer,
      config: this.config,
      decisions: this.decisions,
      policies: deps.policies,
      clock: deps.clock,
      ...(deps.approvalTtlMs !== undefined ? { approvalTtlMs: deps.approvalTtlMs } : {}),
    });
    this.outcomes = new OutcomeService({
      writer: deps.writer,
      config: this.config,
      decisions: this.decisions,
      policies: deps.policies,
      clock: deps.clock,
      ...(deps.events ? { events: deps.events } : {}),
      ...(deps.startWindowMs !== undefined ? { startWindowMs: deps.startWindowMs } : {}),
    });
    this.admin = new AdminService({
      writer: deps.writer,
      config: this.config,
      policies: deps.policies,
      clock: deps.clock,
      ...(deps.issuer ? { issuer: deps.issuer } : {}),
    });
    this.allowed = new AllowedActionsService({
      config: this.config,
      policies: deps.policies,
      writer: deps.writer,
      keys: deps.keys,
      clock: deps.clock,
    });
  }

  decide(caller: Caller, body: unknown, origin: RequestOrigin = {}): Promise<DecisionOutcome> {
    return this.decisions.decide(caller, body, origin);
  }
  /** `POST /actions/allowed`: the signed subset of the named actions the caller may be allowed; records nothing. */
  allowedActions(caller: Caller, body: unknown) {
    return this.allowed.answer(caller, body);
  }
  /** `GET /approvals`: pending approvals (approvers and admins). */
  listApprovals(caller: Caller, page: { after?: string; limit: number }) {
    return this.approvals.list(caller, page);
  }
  getApproval(caller: Caller, approvalId: string) {
    return this.approvals.get(caller, approvalId);
  }
  /** `POST /approvals/{id}/approve|reject`: one approver's verdict, as a chained `approval` record. */
  voteApproval(caller: Caller, approvalId: string, verdict: 'approve' | 'reject', body: unknown) {
    return this.approvals.vote(caller, approvalId, verdict, body);
  }
  reportOutcome(caller: Caller, decisionId: string, body: unknown) {
    return this.outcomes.report(caller, decisionId, body);
  }
  /**
   * `GET /whoami`: the agent the authenticated principal is bound to, so a client can ask as itself without
   * naming its `actor`. Reads only the caller's own binding and records nothing; a principal that is no
   * registered agent is a 403 (the same answer `POST /actions/allowed` gives it).
   */
  async whoami(
    caller: Caller,
  ): Promise<{ agentId: string; principalArn: string; status: 'active' | 'disabled' }> {
    const { agent } = await this.config.agentFor(caller.principalArn);
    if (!agent) throw new ForbiddenError(`principal \`${caller.principalArn}\` is not a registered agent`);
    return { agentId: agent.agentId, principalArn: caller.principalArn, status: agent.status };
  }
  registerAgent(caller: Caller, body: unknown) {
    return this.admin.registerAgent(caller, body);
  }
  listAgents(caller: Caller) {
    return this.admin.listAgents(caller);
  }
  getAgent(caller: Caller, agentId: string) {
    return this.admin.getAgent(caller, agentId);
  }
  disableAgent(caller: Caller, agentId: string) {
    return this.admin.disableAgent(caller, agentId);
  }
  putPolicy(caller: Caller, policyId: string, body: unknown) {
    return this.admin.putPolicy(caller, policyId, body);
  }
  allowPolicy(caller: Caller, body: unknown) {
    return this.admin.allowPolicy(caller, body);
  }
  listPolicies(caller: Caller) {
    return this.admin.listPolicies(caller);
  }
  getPolicy(caller: Caller, policyId: string) {
    return this.admin.getPolicy(caller, policyId);
  }
  deletePolicy(caller: Caller, policyId: string) {
    return this.admin.deletePolicy(caller, policyId);
  }
  putSchema(caller: Caller, body: unknown) {
    return this.admin.putSchema(caller, body);
  }
  getSchema(caller: Caller) {
    return this.admin.getSchema(caller);
  }

  /** Records of the `main` lane with `seq > after`, exactly as stored; `next` is the next page's `after`. */
  async auditPage(
    caller: Caller,
    after: number,
    limit: number,
  ): Promise<{ records: string[]; next: number | null }> {
    requireAdmin(caller);
    const records = await this.deps.writer.page(after, limit, 'main');
    const last = records[records.length - 1];
    const next = records.length === limit && last ? (JSON.parse(last) as { seq: number }).seq : null;
    return { records, next };
  }

  publicKeys(): Promise<PublicKeyInfo[]> {
    return this.deps.keys.publicKeys();
  }
}
