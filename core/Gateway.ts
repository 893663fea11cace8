import { randomUUID } from 'node:crypto';
import type { AppendedRecord, ChainWriter } from './ChainWriter.js';
import { canonicalize, canonicalizeData, canonicalSha256, sha256Hex } from './canonical.js';
import {
  BUILTIN_DECLARATIONS,
  type Declarations,
  type DeclaredAttribute,
  declarationFor,
  mergeDeclarations,
} from './declarations.js';
import {
  ConflictError,
  ForbiddenError,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZtError,
} from './errors.js';
import type { KeyRing, PublicKeyInfo } from './KeyRing.js';
import { assertPolicyId } from './PolicyEngine.js';
import { type Clock, type KeyValueStore, scanPartition } from './ports.js';
import type { AuditRecord, Decision, DecisionFields, DecisionRecord, KindFields } from './records.js';
import {
  type AgentAttributes,
  type AllowPolicyRequest,
  type DecisionRequest,
  type OutcomeRequest,
  parseAllowPolicyRequest,
  parseDecisionRequest,
  parseOutcomeRequest,
  parsePutPolicyRequest,
  parsePutSchemaRequest,
  parseRegisterAgentRequest,
  type RequestOrigin,
  signatureRequestId,
} from './requests.js';
import {
  idemPartition,
  META_CONFIG_SK,
  META_SCHEMA_SK,
  P_AGENT,
  P_META,
  P_OUTCOME,
  P_POLICY,
  P_PRINCIPAL,
} from './storageLayout.js';
import { ID_PATTERN } from './validate.js';

/** The authenticated caller, as the edge (API Gateway identity or the emulator's SigV4 check) says. */
export interface Caller {
  /** Normalised principal ARN (an assumed-role session maps to its role ARN). */
  principalArn: string;
  isAdmin: boolean;
}

export interface Agent {
  agentId: string;
  principalArn: string;
  attributes: AgentAttributes;
  status: 'active' | 'disabled';
  createdAt: string;
  disabledAt?: string;
}

export interface StoredPolicy {
  policyId: string;
  cedar: string;
  description?: string;
  sha256: string;
  updatedAt: string;
}

export interface EvaluationResult {
  decision: Decision;
  reason: string;
  policy_ids: string[];
  policy_set_sha256: string;
  errors: string[];
}

export interface PolicyDiagnostic {
  message: string;
  line: number;
  column: number;
}

/** Cedar behind an interface, so the core use cases stay testable and the engine swappable. */
export interface PolicyEvaluator {
  /** Decides one request; `params` are checked against `declarations` and read as `context.params`. */
  evaluate(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    request: {
      agentId: string;
      agentAttributes: AgentAttributes;
      action: string;
      resource: string;
      context: Record<string, unknown>;
      params: unknown;
    },
    declarations: Declarations,
  ): EvaluationResult;
  validate(
    policyId: string,
    cedar: string,
    declarations: Declarations,
  ): { ok: true } | { ok: false; diagnostics: PolicyDiagnostic[] };
  allowShorthand(input: AllowPolicyRequest): { policyId: string; cedar: string };
  /** Ids of the stored policies with a statement that can apply to (action, agent): what could decide it. */
  applicablePolicyIds(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    action: string,
    agentId: string,
  ): string[];
  /** The schema's common context attributes, which a declaration may not redeclare. */
  readonly commonContext: Readonly<Record<string, DeclaredAttribute>>;
}

/** The admin's declarations (`PUT /schema`) as stored, and the effective set decisions use. */
export interface StoredSchema {
  /** The admin's declarations only (the built-in ones are not repeated here). */
  declarations: Declarations;
  /** SHA-256 hex of the canonical JSON of `declarations`. */
  sha256: string;
  description?: string;
  updatedAt: string | null;
}

/** Mints SigV4 credentials for an agent registered without a principal ARN (the emulator only). */
export interface CredentialIssuer {
  issue(
    agentId: string,
  ): Promise<{ principalArn: string; accessKeyId: string; secretAccessKey: string; profile: string }>;
  revoke(agentId: string): Promise<void>;
}

/** Sink for operational events (metrics, alarms); the default does nothing. */
export interface GatewayEvents {
  decision?(record: DecisionRecord): void;
  appendFailed?(error: ZtError): void;
}

export interface DecisionOutcome {
  decision: Decision;
  record: AuditRecord;
  /** True when an earlier record was returned for a repeated `request_id`. */
  replayed: boolean;
}

interface IdempotencyItem {
  state: 'pending' | 'done';
  request_sha256: string;
  seq?: number;
}

interface ConfigSnapshot {
  version: number;
  policies: StoredPolicy[];
  schema: StoredSchema;
  /** Built-in declarations with the admin's over them: what decisions and policy checks use. */
  declarations: Declarations;
  agents: Map<string, StoredAgent | null>;
}

const EMPTY_SCHEMA: StoredSchema = { declarations: {}, sha256: sha256Hex('{}'), updatedAt: null };

interface StoredAgent extends Agent {
  /** Registration in progress: not yet an agent (its record is not written). */
  pending?: boolean;
}

export interface GatewayDeps {
  store: KeyValueStore;
  writer: ChainWriter;
  keys: KeyRing;
  policies: PolicyEvaluator;
  clock: Clock;
  issuer?: CredentialIssuer;
  events?: GatewayEvents;
  /** How long an allow may wait for its `started` outcome before it expires. Default 60 000 ms. */
  startWindowMs?: number;
}

/** Default of {@link GatewayDeps.startWindowMs}. */
export const DEFAULT_START_WINDOW_MS = 60_000;

/**
 * The use cases behind every route. Callers are already authenticated; this class authorises them,
 * decides, and writes the chain. It returns values and throws `ZtError`s; HTTP mapping is the edge's.
 */
export class Gateway {
  /**
   * Agents and policies as of one value of the `meta/config` counter, which every agent or policy
   * change increments after writing. A decision reads that counter (one small read) and reuses the
   * snapshot while it has not moved, so a change is seen by the very next decision in every process.
   */
  /** Agent and policy changes made by this process: a queued decision re-evaluates when it moved. */
  #epoch = 0;
  #config: ConfigSnapshot | null = null;

  constructor(private readonly deps: GatewayDeps) {}

  // ---------------------------------------------------------------- decisions

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
    if (idem) {
      const replay = await this.#claimIdempotency(caller, idem.key, idem.hash);
      if (replay) return replay;
    }
    let recorded = false;
    try {
      // Evaluated here, outside the chain's queue; evaluated again inside it when this process changed
      // agents or policies meanwhile, or when another writer appended first (a lost race).
      const epoch = this.#epoch;
      const first = await this.#evaluate(caller, request);
      const appended = await this.#append(
        (attempt) =>
          attempt === 1 && this.#epoch === epoch ? Promise.resolve(first) : this.#evaluate(caller, request),
        caller.principalArn,
      );
      recorded = true;
      if (idem) {
        const done: IdempotencyItem = {
          state: 'done',
          request_sha256: idem.hash,
          seq: appended.record.seq,
        };
        await this.deps.store.put(idemPartition(caller.principalArn), idem.key, JSON.stringify(done));
      }
      const record = appended.record as DecisionRecord;
      this.deps.events?.decision?.(record);
      return { decision: record.decision, record: JSON.parse(appended.text) as AuditRecord, replayed: false };
    } catch (error) {
      if (idem && !recorded) {
        // Nothing was recorded: release the claim so a retry can decide again. Once a record exists the
        // claim stays (a retry gets 409, never a second record); if the release fails it stays too.
        await this.deps.store.delete(idemPartition(caller.principalArn), idem.key).catch(() => false);
      }
      throw error;
    }
  }

  async #claimIdempotency(
    caller: Caller,
    requestId: string,
    requestHash: string,
  ): Promise<DecisionOutcome | null> {
    const pk = idemPartition(caller.principalArn);
    const pending: IdempotencyItem = { state: 'pending', request_sha256: requestHash };
    if (await this.deps.store.putIfAbsent(pk, requestId, JSON.stringify(pending))) return null;
    const existing = await this.deps.store.get(pk, requestId);
    if (existing === null) {
      throw new ConflictError(
        'REQUEST_IN_PROGRESS',
        `request \`${requestId}\` is being decided; retry shortly`,
      );
    }
    const item = JSON.parse(existing) as IdempotencyItem;
    if (item.request_sha256 !== requestHash) {
      throw new ConflictError(
        'REQUEST_ID_REUSED',
        `request_id \`${requestId}\` was already used for a different request; use a new request_id`,
      );
    }
    if (item.state !== 'done' || item.seq === undefined) {
      throw new ConflictError(
        'REQUEST_IN_PROGRESS',
        `request \`${requestId}\` is being decided; retry shortly`,
      );
    }
    const text = await this.deps.writer.get(item.seq);
    if (text === null)
      throw new InfrastructureError('RECORD_MISSING', 'the recorded decision could not be read');
    const record = JSON.parse(text) as DecisionRecord;
    return { decision: record.decision, record, replayed: true };
  }

  async #evaluate(caller: Caller, request: DecisionRequest): Promise<DecisionFields> {
    const base = {
      kind: 'decision' as const,
      request_id: request.request_id ?? `srv-${randomUUID()}`,
      actor: request.actor,
      action: request.action,
      resource: request.resource,
      context_sha256: sha256Hex(canonicalizeData(request.context)),
      params_sha256: canonicalSha256(request.params),
    };
    const deny = (reason: string, policySetSha = '', errors: string[] = []): DecisionFields => ({
      ...base,
      decision: 'deny',
      reason,
      policy_ids: [],
      policy_set_sha256: policySetSha || sha256Hex('[]'),
      errors,
    });
    const config = await this.#snapshot();
    const agent = await this.#agentByPrincipal(config.agents, caller.principalArn);
    // INVARIANT: the actor is whoever the signature says; a body claim never overrides it.
    if (!agent) return deny(`principal \`${caller.principalArn}\` is not a registered agent`);
    if (agent.status !== 'active') return deny(`agent \`${agent.agentId}\` is disabled`);
    if (agent.agentId !== request.actor) return deny('actor does not match the authenticated principal');
    const result = this.deps.policies.evaluate(
      config.policies,
      {
        agentId: agent.agentId,
        agentAttributes: agent.attributes,
        action: request.action,
        resource: request.resource,
        context: request.context,
        params: request.params,
      },
      config.declarations,
    );
    return { ...base, ...result };
  }

  async #agentByPrincipal(
    cache: Map<string, StoredAgent | null>,
    principalArn: string,
  ): Promise<StoredAgent | null> {
    if (cache.has(principalArn)) return cache.get(principalArn) ?? null;
    const agentId = await this.deps.store.get(P_PRINCIPAL, principalArn);
    let agent = agentId === null ? null : await this.#readAgent(agentId);
    if (!agent || agent.pending || agent.principalArn !== principalArn) agent = null;
    // Bounded: a flood of unknown principals cannot grow the map without limit.
    if (cache.size >= 10_000) cache.clear();
    cache.set(principalArn, agent);
    return agent;
  }

  async #snapshot(): Promise<ConfigSnapshot> {
    const raw = await this.deps.store.get(P_META, META_CONFIG_SK);
    const version = raw === null ? 0 : Number(raw);
    if (this.#config && this.#config.version === version) return this.#config;
    const [policies, schema] = await Promise.all([this.listPolicies(), this.#readSchema()]);
    this.#config = {
      version,
      policies,
      schema,
      declarations: mergeDeclarations(BUILTIN_DECLARATIONS, schema.declarations),
      agents: new Map(),
    };
    return this.#config;
  }

  async #readSchema(): Promise<StoredSchema> {
    const raw = await this.deps.store.get(P_META, META_SCHEMA_SK);
    return raw === null ? EMPTY_SCHEMA : (JSON.parse(raw) as StoredSchema);
  }

  /** Marks agents and policies changed, for every process's next decision. */
  #changed(): Promise<number> {
    this.#epoch++;
    return this.deps.store.increment(P_META, META_CONFIG_SK);
  }

  async #append(
    fields: KindFields | ((attempt: number) => Promise<KindFields>),
    principalArn: string,
  ): Promise<AppendedRecord> {
    try {
      await this.deps.keys.ready();
    } catch (cause) {
      const error = new InfrastructureError('SIGNING_FAILED', 'could not certify a session signing key', {
        cause,
      });
      this.deps.events?.appendFailed?.(error);
      throw error;
    }
    try {
      return await this.deps.writer.append(fields, principalArn, this.deps.keys.signerFor);
    } catch (error) {
      if (error instanceof ZtError) this.deps.events?.appendFailed?.(error);
      throw error;
    }
  }

  // ---------------------------------------------------------------- outcomes

  /**
   * Records the outcome of an allowed action. `started` is accepted once per decision, within the start
   * window after the allow, while its agent is active and nothing that could decide it changed; that
   * makes an allow single-use before anything runs. A final status (`succeeded`/`failed`) is accepted
   * once, and only after `started`.
   */
  async reportOutcome(caller: Caller, decisionId: string, body: unknown): Promise<AuditRecord> {
    const request: OutcomeRequest = parseOutcomeRequest(body);
    const decision = await this.#readDecision(decisionId);
    if (!decision || decision.principal_arn !== caller.principalArn) {
      // The same answer for "absent" and "someone else's": ids of other agents' decisions are not revealed.
      throw new NotFoundError(`no decision \`${decisionId}\` for this principal`);
    }
    if (decision.decision !== 'allow') {
      throw new ConflictError(
        'DECISION_NOT_ALLOWED',
        `decision \`${decisionId}\` was a deny; nothing may run`,
      );
    }
    if (request.status === 'started') {
      await this.#checkStillAllowed(caller, decision);
    } else if ((await this.deps.store.get(P_OUTCOME, `${decisionId}#started`)) === null) {
      // INVARIANT: outcomes are ordered: nothing finishes that was never claimed as started.
      throw new ConflictError(
        'OUTCOME_NOT_STARTED',
        `decision \`${decisionId}\` has no \`started\` outcome; report \`started\` before \`${request.status}\``,
      );
    }
    const claimKey = `${decisionId}#${request.status === 'started' ? 'started' : 'final'}`;
    const claimed = await this.deps.store.putIfAbsent(P_OUTCOME, claimKey, request.status);
    if (!claimed) {
      throw request.status === 'started'
        ? new ConflictError(
            'ALREADY_STARTED',
            `decision \`${decisionId}\` was already claimed by a \`started\` outcome`,
          )
        : new ConflictError(
            'OUTCOME_ALREADY_REPORTED',
            `decision \`${decisionId}\` already has a final outcome`,
          );
    }
    try {
      const appended = await this.#append(
        {
          kind: 'outcome',
          decision_id: decisionId,
          status: request.status,
          exit_code: request.exit_code,
          output_sha256: request.output_sha256,
          ...(request.nonce !== undefined ? { nonce: request.nonce } : {}),
        },
        caller.principalArn,
      );
      return JSON.parse(appended.text) as AuditRecord;
    } catch (error) {
      await this.deps.store.delete(P_OUTCOME, claimKey).catch(() => false);
      throw error;
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
    const config = await this.#snapshot();
    // INVARIANT: nothing starts for an agent that is no longer active, whatever allow it still holds.
    const agent = await this.#agentByPrincipal(config.agents, caller.principalArn);
    if (agent?.status !== 'active' || agent.agentId !== decision.actor) {
      throw new ForbiddenError(
        `decision \`${decision.id}\` cannot be started: its agent is no longer active`,
      );
    }
    // INVARIANT: an allow starts only under the policies it was decided by. A cited policy that is gone, or
    // any policy that can apply to this (action, agent) written at or after the decision (a replaced permit,
    // a new forbid), or changed declarations for the action, make it stale: the agent must ask again.
    const byId = new Map(config.policies.map((p) => [p.policyId, p]));
    const gone = decision.policy_ids.filter((id) => !byId.has(id));
    const changed = this.deps.policies
      .applicablePolicyIds(config.policies, decision.action, decision.actor)
      .filter((id) => Date.parse(byId.get(id)?.updatedAt ?? '') >= decidedAt);
    const schemaChanged =
      config.schema.updatedAt !== null &&
      Date.parse(config.schema.updatedAt) >= decidedAt &&
      declarationFor(config.declarations, decision.action) !== undefined;
    if (gone.length > 0 || changed.length > 0 || schemaChanged) {
      const what =
        gone.length > 0
          ? `policy \`${gone[0]}\` it was allowed by is gone`
          : changed.length > 0
            ? `policy \`${changed[0]}\` changed after it`
            : `the declarations of \`${decision.action}\` changed after it`;
      throw new ConflictError(
        'DECISION_STALE',
        `decision \`${decision.id}\` cannot be started: ${what}; ask again`,
      );
    }
  }

  async #readDecision(decisionId: string): Promise<DecisionRecord | null> {
    const match = /^(.+)-([1-9]\d{0,15})$/.exec(decisionId);
    if (!match || match[1] !== this.deps.writer.chain) return null;
    const text = await this.deps.writer.get(Number(match[2]));
    if (text === null) return null;
    const record = JSON.parse(text) as AuditRecord;
    return record.kind === 'decision' ? record : null;
  }

  // ---------------------------------------------------------------- agents (admin)

  async registerAgent(
    caller: Caller,
    body: unknown,
  ): Promise<{
    agent: Agent;
    credentials?: { accessKeyId: string; secretAccessKey: string; profile: string };
  }> {
    requireAdmin(caller);
    const request = parseRegisterAgentRequest(body);
    const now = this.deps.clock.now().toISOString();
    const placeholder: StoredAgent = {
      agentId: request.agentId,
      principalArn: request.principalArn ?? '',
      attributes: request.attributes,
      status: 'active',
      createdAt: now,
      pending: true,
    };
    if (!request.principalArn && !this.deps.issuer) {
      throw new ValidationError('`principalArn` is required: the IAM role ARN the agent will call with');
    }
    if (!(await this.deps.store.putIfAbsent(P_AGENT, request.agentId, JSON.stringify(placeholder)))) {
      throw new ConflictError('AGENT_EXISTS', `agent \`${request.agentId}\` is already registered`);
    }
    let credentials: { accessKeyId: string; secretAccessKey: string; profile: string } | undefined;
    let boundArn: string | null = null;
    try {
      let principalArn = request.principalArn;
      if (!principalArn && this.deps.issuer) {
        const issued = await this.deps.issuer.issue(request.agentId);
        principalArn = issued.principalArn;
        credentials = {
          accessKeyId: issued.accessKeyId,
          secretAccessKey: issued.secretAccessKey,
          profile: issued.profile,
        };
      }
      const arn = principalArn as string;
      if (!(await this.deps.store.putIfAbsent(P_PRINCIPAL, arn, request.agentId))) {
        throw new ConflictError(
          'PRINCIPAL_ALREADY_BOUND',
          `principal \`${arn}\` is already bound to another agent`,
        );
      }
      boundArn = arn;
      // INVARIANT: the change is a chained record before it takes effect.
      await this.#append(
        { kind: 'agent', agent_id: request.agentId, change: 'register', bound_principal_arn: arn },
        caller.principalArn,
      );
      const agent: Agent = { ...placeholder, principalArn: arn };
      delete (agent as StoredAgent).pending;
      await this.deps.store.put(P_AGENT, request.agentId, JSON.stringify(agent));
      await this.#changed();
      return credentials ? { agent, credentials } : { agent };
    } catch (error) {
      // Undo the reservations so the same registration can be retried.
      if (boundArn !== null) await this.deps.store.delete(P_PRINCIPAL, boundArn).catch(() => false);
      if (credentials && this.deps.issuer)
        await this.deps.issuer.revoke(request.agentId).catch(() => undefined);
      await this.deps.store.delete(P_AGENT, request.agentId).catch(() => false);
      throw error;
    }
  }

  async listAgents(caller: Caller): Promise<Agent[]> {
    requireAdmin(caller);
    const agents: Agent[] = [];
    for await (const item of scanPartition(this.deps.store, P_AGENT)) {
      const agent = JSON.parse(item) as StoredAgent;
      if (!agent.pending) agents.push(agent);
    }
    return agents;
  }

  async getAgent(caller: Caller, agentId: string): Promise<Agent> {
    requireAdmin(caller);
    const agent = await this.#readAgent(agentId);
    if (!agent || agent.pending) throw new NotFoundError(`agent \`${agentId}\` is not registered`);
    return agent;
  }

  /** Disables an agent: its later decisions are recorded denies. Disabling twice is a 409. */
  async disableAgent(caller: Caller, agentId: string): Promise<Agent> {
    requireAdmin(caller);
    const agent = await this.getAgent(caller, agentId);
    if (agent.status === 'disabled') {
      throw new ConflictError('AGENT_DISABLED', `agent \`${agentId}\` is already disabled`);
    }
    const before = JSON.stringify(agent);
    const disabled: Agent = { ...agent, status: 'disabled', disabledAt: this.deps.clock.now().toISOString() };
    // Fail closed: the agent stops being allowed before the record is written; if the record cannot be
    // written the change is undone and the admin gets a 5xx to retry.
    if (!(await this.deps.store.replaceIf(P_AGENT, agentId, before, JSON.stringify(disabled)))) {
      throw new ConflictError('CONCURRENT_CHANGE', `agent \`${agentId}\` changed concurrently; retry`);
    }
    try {
      await this.#changed();
      await this.#append(
        { kind: 'agent', agent_id: agentId, change: 'disable', bound_principal_arn: agent.principalArn },
        caller.principalArn,
      );
    } catch (error) {
      await this.deps.store.replaceIf(P_AGENT, agentId, JSON.stringify(disabled), before).catch(() => false);
      await this.#changed().catch(() => 0);
      throw error;
    }
    return disabled;
  }

  async #readAgent(agentId: string): Promise<StoredAgent | null> {
    if (!ID_PATTERN.test(agentId)) return null;
    const raw = await this.deps.store.get(P_AGENT, agentId);
    return raw === null ? null : (JSON.parse(raw) as StoredAgent);
  }

  // ---------------------------------------------------------------- policies (admin)

  async putPolicy(caller: Caller, policyId: string, body: unknown): Promise<StoredPolicy> {
    requireAdmin(caller);
    assertPolicyId(policyId);
    const request = parsePutPolicyRequest(body);
    return this.#storePolicy(caller, policyId, request.cedar, request.description);
  }

  async allowPolicy(caller: Caller, body: unknown): Promise<StoredPolicy> {
    requireAdmin(caller);
    const request = parseAllowPolicyRequest(body);
    if (request.params !== undefined) {
      const config = await this.#snapshot();
      if (!declarationFor(config.declarations, request.action)?.params) {
        throw new ValidationError(
          `action \`${request.action}\` declares no params shape, so a policy cannot read its params; declare one first (\`zt schema put\`, \`PUT /schema\`)`,
        );
      }
    }
    const { policyId, cedar } = this.deps.policies.allowShorthand(request);
    return this.#storePolicy(caller, policyId, cedar, request.reason);
  }

  async #storePolicy(
    caller: Caller,
    policyId: string,
    cedar: string,
    description?: string,
  ): Promise<StoredPolicy> {
    const validation = this.deps.policies.validate(policyId, cedar, (await this.#snapshot()).declarations);
    if (!validation.ok) {
      const first = validation.diagnostics[0];
      const where = first ? ` at line ${first.line}, column ${first.column}: ${first.message}` : '';
      throw new ValidationError(`policy \`${policyId}\` is not valid Cedar${where}`, {
        diagnostics: validation.diagnostics,
      });
    }
    const policy: StoredPolicy = {
      policyId,
      cedar,
      sha256: sha256Hex(cedar),
      updatedAt: this.deps.clock.now().toISOString(),
    };
    if (description !== undefined) policy.description = description;
    // INVARIANT: the record (with the text itself) is chained before the policy can decide anything.
    await this.#append(
      { kind: 'policy', policy_id: policyId, change: 'put', cedar, policy_sha256: policy.sha256 },
      caller.principalArn,
    );
    await this.deps.store.put(P_POLICY, policyId, JSON.stringify(policy));
    await this.#changed();
    return policy;
  }

  async listPolicies(caller?: Caller): Promise<StoredPolicy[]> {
    if (caller) requireAdmin(caller);
    const policies: StoredPolicy[] = [];
    for await (const item of scanPartition(this.deps.store, P_POLICY))
      policies.push(JSON.parse(item) as StoredPolicy);
    return policies;
  }

  async getPolicy(caller: Caller, policyId: string): Promise<StoredPolicy> {
    requireAdmin(caller);
    assertPolicyId(policyId);
    const raw = await this.deps.store.get(P_POLICY, policyId);
    if (raw === null) throw new NotFoundError(`policy \`${policyId}\` does not exist`);
    return JSON.parse(raw) as StoredPolicy;
  }

  async deletePolicy(caller: Caller, policyId: string): Promise<{ policyId: string; deleted: true }> {
    requireAdmin(caller);
    const existing = await this.getPolicy(caller, policyId);
    // Fail closed: the policy stops allowing before its deletion is recorded; restored if the record fails.
    await this.deps.store.delete(P_POLICY, policyId);
    await this.#changed();
    try {
      await this.#append(
        { kind: 'policy', policy_id: policyId, change: 'delete', cedar: null, policy_sha256: null },
        caller.principalArn,
      );
    } catch (error) {
      await this.deps.store.putIfAbsent(P_POLICY, policyId, JSON.stringify(existing)).catch(() => false);
      await this.#changed().catch(() => 0);
      throw error;
    }
    return { policyId, deleted: true };
  }

  // ---------------------------------------------------------------- schema (admin)

  /**
   * Replaces the admin's declarations (the shape of actions' params and extra context attributes).
   * Every stored policy must still validate against them, or nothing changes (400 naming the policy);
   * the change is chained (`kind: schema`, the canonical text itself) before it takes effect.
   */
  async putSchema(caller: Caller, body: unknown): Promise<StoredSchema> {
    requireAdmin(caller);
    const request = parsePutSchemaRequest(body, Object.keys(this.deps.policies.commonContext));
    const declarations = mergeDeclarations(BUILTIN_DECLARATIONS, request.declarations);
    const broken: Array<{ policyId: string; diagnostics: PolicyDiagnostic[] }> = [];
    for (const policy of await this.listPolicies()) {
      const validation = this.deps.policies.validate(policy.policyId, policy.cedar, declarations);
      if (!validation.ok) broken.push({ policyId: policy.policyId, diagnostics: validation.diagnostics });
    }
    const first = broken[0];
    if (first) {
      const d = first.diagnostics[0];
      const where = d ? ` at line ${d.line}, column ${d.column}: ${d.message}` : '';
      throw new ValidationError(
        `these declarations would leave ${broken.length === 1 ? 'policy' : `${broken.length} policies, first`} \`${first.policyId}\` invalid${where}; change or delete it first`,
        { policies: broken },
        'POLICY_WOULD_BREAK',
      );
    }
    const text = canonicalize(request.declarations);
    const schema: StoredSchema = {
      declarations: request.declarations,
      sha256: sha256Hex(text),
      updatedAt: this.deps.clock.now().toISOString(),
    };
    if (request.description !== undefined) schema.description = request.description;
    // INVARIANT: the record (with the declarations themselves) is chained before they decide anything.
    await this.#append(
      { kind: 'schema', declarations: text, schema_sha256: schema.sha256 },
      caller.principalArn,
    );
    await this.deps.store.put(P_META, META_SCHEMA_SK, JSON.stringify(schema));
    await this.#changed();
    return schema;
  }

  /** The admin's declarations and the built-in ones. */
  async getSchema(caller: Caller): Promise<StoredSchema & { builtin: Declarations }> {
    requireAdmin(caller);
    return { ...(await this.#readSchema()), builtin: BUILTIN_DECLARATIONS };
  }

  // ---------------------------------------------------------------- audit and keys

  /** Records with `seq > after`, exactly as stored; `next` is the `after` of the next page or null. */
  async auditPage(
    caller: Caller,
    after: number,
    limit: number,
  ): Promise<{ records: string[]; next: number | null }> {
    requireAdmin(caller);
    const records = await this.deps.writer.page(after, limit);
    const last = records[records.length - 1];
    const next = records.length === limit && last ? (JSON.parse(last) as { seq: number }).seq : null;
    return { records, next };
  }

  async publicKeys(): Promise<PublicKeyInfo[]> {
    return this.deps.keys.publicKeys();
  }
}

/** Refuses a non-admin caller (403), whatever IAM let through. */
export function requireAdmin(caller: Caller): void {
  // INVARIANT: only admins change policy or agents or read the log, whatever IAM let through.
  if (!caller.isAdmin) throw new ForbiddenError(`principal \`${caller.principalArn}\` is not an admin`);
}
