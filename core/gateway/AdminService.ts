import { ConflictError, NotFoundError, ValidationError } from '../errors/errors.js';
import { AppendRefusedError, type LaneWriter } from '../log/LaneWriter.js';
import { type Caller, requireAdmin } from '../model/caller.js';
import { canonicalize, sha256Hex } from '../model/canonical.js';
import {
  BUILTIN_DECLARATIONS,
  type Declarations,
  declarationFor,
  mergeDeclarations,
} from '../model/declarations.js';
import type { KindFields } from '../model/records.js';
import {
  parseAllowPolicyRequest,
  parsePutPolicyRequest,
  parsePutSchemaRequest,
  parseRegisterAgentRequest,
} from '../model/requests.js';
import { assertPolicyId } from '../policy/storedPolicy.js';
import type {
  Clock,
  CredentialIssuer,
  PolicyDiagnostic,
  PolicyEvaluator,
  TransactOp,
} from '../ports/ports.js';
import { META_SCHEMA_SK, P_AGENT, P_META, P_POLICY, P_PRINCIPAL } from '../ports/storageLayout.js';
import type {
  Agent,
  ConfigSnapshot,
  Configuration,
  StoredAgent,
  StoredPolicy,
  StoredSchema,
} from './Configuration.js';

/** One admin change: its record, the writes that make it, and what a failed condition of theirs means. */
interface ChangePlan<T> {
  fields: Exclude<KindFields, { kind: 'decision' | 'outcome' | 'key' }>;
  ops: TransactOp[];
  result: T;
  /** The error for the change's own write `index` whose condition failed. */
  refused(index: number): Error;
}

const MAX_CHANGE_ATTEMPTS = 8;

/**
 * Agents, policies and declarations: the admin's use cases. Each change is one transaction holding its
 * items, its chained record (`config_version` = the version it makes) and the move of the configuration
 * version from the one it was validated against to the next; then every lane is fenced at the new
 * version before the answer. INVARIANT: once a change is answered, no lane appends a decision evaluated
 * under an older configuration.
 */
export class AdminService {
  constructor(
    private readonly deps: {
      writer: LaneWriter;
      config: Configuration;
      policies: PolicyEvaluator;
      clock: Clock;
      issuer?: CredentialIssuer;
    },
  ) {}

  async #change<T>(
    caller: Caller,
    plan: (config: ConfigSnapshot, next: number) => Promise<ChangePlan<T>>,
  ): Promise<T> {
    const { config, writer } = this.deps;
    for (let attempt = 0; attempt < MAX_CHANGE_ATTEMPTS; attempt++) {
      const read = await config.readVersion();
      const snapshot = await config.snapshot(read.version);
      if (snapshot.version !== read.version) continue;
      const next = read.version + 1;
      const change = await plan(snapshot, next);
      try {
        // INVARIANT: the change is a chained record in the same transaction as the writes that make it.
        await writer.append({
          principalArn: caller.principalArn,
          build: () => ({ ...change.fields, config_version: next }),
          extra: () => [...change.ops, config.versionOp(read)],
        });
      } catch (error) {
        if (!(error instanceof AppendRefusedError)) throw error;
        // Another change committed first: validate again against the configuration it made.
        if (error.extraIndex === change.ops.length) continue;
        throw change.refused(error.extraIndex);
      }
      await writer.fenceAll(next);
      return change.result;
    }
    throw new ConflictError('CONCURRENT_CHANGE', 'the configuration kept changing; retry');
  }

  // ---------------------------------------------------------------- agents

  async registerAgent(
    caller: Caller,
    body: unknown,
  ): Promise<{
    agent: Agent;
    credentials?: { accessKeyId: string; secretAccessKey: string; profile: string };
  }> {
    requireAdmin(caller);
    const request = parseRegisterAgentRequest(body);
    const issuer = this.deps.issuer;
    if (!request.principalArn && !issuer) {
      throw new ValidationError('`principalArn` is required: the IAM role ARN the agent will call with');
    }
    if (await this.#agentExists(request.agentId)) {
      throw new ConflictError('AGENT_EXISTS', `agent \`${request.agentId}\` is already registered`);
    }
    let principalArn = request.principalArn;
    let credentials: { accessKeyId: string; secretAccessKey: string; profile: string } | undefined;
    if (!principalArn && issuer) {
      const issued = await issuer.issue(request.agentId);
      principalArn = issued.principalArn;
      credentials = {
        accessKeyId: issued.accessKeyId,
        secretAccessKey: issued.secretAccessKey,
        profile: issued.profile,
      };
    }
    const arn = principalArn as string;
    try {
      const agent = await this.#change(caller, async (_config, next) => {
        const stored: StoredAgent = {
          agentId: request.agentId,
          principalArn: arn,
          attributes: request.attributes,
          status: 'active',
          createdAt: this.deps.clock.now().toISOString(),
          version: next,
        };
        // A first-release registration that never finished left a `pending` item: it is replaced.
        const orphan = await this.deps.config.readAgentText(request.agentId);
        const orphanIsPending = orphan !== null && (JSON.parse(orphan) as StoredAgent).pending === true;
        return {
          fields: { kind: 'agent', agent_id: request.agentId, change: 'register', bound_principal_arn: arn },
          ops: [
            orphanIsPending
              ? {
                  op: 'replaceIf',
                  pk: P_AGENT,
                  sk: request.agentId,
                  expected: orphan,
                  data: JSON.stringify(stored),
                }
              : { op: 'putIfAbsent', pk: P_AGENT, sk: request.agentId, data: JSON.stringify(stored) },
            { op: 'putIfAbsent', pk: P_PRINCIPAL, sk: arn, data: request.agentId },
          ],
          result: publicAgent(stored),
          refused: (index) =>
            index === 0
              ? new ConflictError('AGENT_EXISTS', `agent \`${request.agentId}\` is already registered`)
              : new ConflictError(
                  'PRINCIPAL_ALREADY_BOUND',
                  `principal \`${arn}\` is already bound to another agent`,
                ),
        };
      });
      return credentials ? { agent, credentials } : { agent };
    } catch (error) {
      // Nothing was registered: the minted credentials must not keep working.
      if (credentials && issuer) await issuer.revoke(request.agentId).catch(() => undefined);
      throw error;
    }
  }

  async #agentExists(agentId: string): Promise<boolean> {
    const agent = await this.deps.config.readAgent(agentId);
    return agent !== null && agent.pending !== true;
  }

  async listAgents(caller: Caller): Promise<Agent[]> {
    requireAdmin(caller);
    return (await this.deps.config.listAgents()).filter((a) => !a.pending).map(publicAgent);
  }

  async getAgent(caller: Caller, agentId: string): Promise<Agent> {
    requireAdmin(caller);
    const agent = await this.deps.config.readAgent(agentId);
    if (!agent || agent.pending) throw new NotFoundError(`agent \`${agentId}\` is not registered`);
    return publicAgent(agent);
  }

  /** Disables an agent: its later decisions are recorded denies. Disabling twice is a 409. */
  async disableAgent(caller: Caller, agentId: string): Promise<Agent> {
    requireAdmin(caller);
    return this.#change(caller, async (_config, next) => {
      const before = await this.deps.config.readAgentText(agentId);
      const agent = before === null ? null : (JSON.parse(before) as StoredAgent);
      if (!agent || agent.pending) throw new NotFoundError(`agent \`${agentId}\` is not registered`);
      if (agent.status === 'disabled') {
        throw new ConflictError('AGENT_DISABLED', `agent \`${agentId}\` is already disabled`);
      }
      const disabled: StoredAgent = {
        ...agent,
        status: 'disabled',
        disabledAt: this.deps.clock.now().toISOString(),
        version: next,
      };
      return {
        fields: {
          kind: 'agent',
          agent_id: agentId,
          change: 'disable',
          bound_principal_arn: agent.principalArn,
        },
        ops: [
          {
            op: 'replaceIf',
            pk: P_AGENT,
            sk: agentId,
            expected: before as string,
            data: JSON.stringify(disabled),
          },
        ],
        result: publicAgent(disabled),
        refused: () =>
          new ConflictError('CONCURRENT_CHANGE', `agent \`${agentId}\` changed concurrently; retry`),
      };
    });
  }

  // ---------------------------------------------------------------- policies

  async putPolicy(caller: Caller, policyId: string, body: unknown): Promise<StoredPolicy> {
    requireAdmin(caller);
    assertPolicyId(policyId);
    const request = parsePutPolicyRequest(body);
    return this.#storePolicy(caller, policyId, request.cedar, request.description, undefined, request.mode);
  }

  async allowPolicy(caller: Caller, body: unknown): Promise<StoredPolicy> {
    requireAdmin(caller);
    const request = parseAllowPolicyRequest(body);
    const { policyId, cedar } = this.deps.policies.allowShorthand(request);
    return this.#storePolicy(caller, policyId, cedar, request.reason, (config) => {
      if (request.params !== undefined && !declarationFor(config.declarations, request.action)?.params) {
        throw new ValidationError(
          `action \`${request.action}\` declares no params shape, so a policy cannot read its params; declare one first (\`zt schema put\`, \`PUT /schema\`)`,
        );
      }
    });
  }

  async #storePolicy(
    caller: Caller,
    policyId: string,
    cedar: string,
    description?: string,
    precheck?: (config: ConfigSnapshot) => void,
    mode?: 'shadow',
  ): Promise<StoredPolicy> {
    return this.#change(caller, async (config, next) => {
      precheck?.(config);
      // Validated against the declarations of the version the change replaces (the transaction checks it).
      const validation = this.deps.policies.validate(policyId, cedar, config.declarations);
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
        version: next,
      };
      if (description !== undefined) policy.description = description;
      if (mode !== undefined) policy.mode = mode;
      return {
        // INVARIANT: the record (with the text itself) is chained before the policy can decide anything.
        fields: {
          kind: 'policy',
          policy_id: policyId,
          change: 'put',
          cedar,
          policy_sha256: policy.sha256,
          ...(mode !== undefined ? { mode } : {}),
        },
        ops: [{ op: 'put', pk: P_POLICY, sk: policyId, data: JSON.stringify(policy) }],
        result: policy,
        refused: () =>
          new ConflictError('CONCURRENT_CHANGE', `policy \`${policyId}\` changed concurrently; retry`),
      };
    });
  }

  async listPolicies(caller: Caller): Promise<StoredPolicy[]> {
    requireAdmin(caller);
    return this.deps.config.listPolicies();
  }

  async getPolicy(caller: Caller, policyId: string): Promise<StoredPolicy> {
    requireAdmin(caller);
    assertPolicyId(policyId);
    const raw = await this.deps.config.readPolicyText(policyId);
    if (raw === null) throw new NotFoundError(`policy \`${policyId}\` does not exist`);
    return JSON.parse(raw) as StoredPolicy;
  }

  async deletePolicy(caller: Caller, policyId: string): Promise<{ policyId: string; deleted: true }> {
    requireAdmin(caller);
    assertPolicyId(policyId);
    return this.#change(caller, async () => {
      const existing = await this.deps.config.readPolicyText(policyId);
      if (existing === null) throw new NotFoundError(`policy \`${policyId}\` does not exist`);
      return {
        fields: { kind: 'policy', policy_id: policyId, change: 'delete', cedar: null, policy_sha256: null },
        ops: [{ op: 'delete', pk: P_POLICY, sk: policyId, expected: existing }],
        result: { policyId, deleted: true as const },
        refused: () =>
          new ConflictError('CONCURRENT_CHANGE', `policy \`${policyId}\` changed concurrently; retry`),
      };
    });
  }

  // ---------------------------------------------------------------- declarations

  /**
   * Replaces the admin's declarations (the shape of actions' params and extra context attributes).
   * Every stored policy must still validate against them, or nothing changes (400 naming the policy);
   * the change is chained (`kind: schema`, the canonical text itself) before it takes effect.
   */
  async putSchema(caller: Caller, body: unknown): Promise<StoredSchema> {
    requireAdmin(caller);
    const request = parsePutSchemaRequest(body, Object.keys(this.deps.config.commonContext));
    const declarations: Declarations = mergeDeclarations(BUILTIN_DECLARATIONS, request.declarations);
    return this.#change(caller, async (config, next) => {
      const broken: Array<{ policyId: string; diagnostics: PolicyDiagnostic[] }> = [];
      for (const policy of config.policies) {
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
        version: next,
      };
      if (request.description !== undefined) schema.description = request.description;
      return {
        // INVARIANT: the record (with the declarations themselves) is chained before they decide anything.
        fields: { kind: 'schema', declarations: text, schema_sha256: schema.sha256 },
        ops: [{ op: 'put', pk: P_META, sk: META_SCHEMA_SK, data: JSON.stringify(schema) }],
        result: schema,
        refused: () => new ConflictError('CONCURRENT_CHANGE', 'the declarations changed concurrently; retry'),
      };
    });
  }

  /** The admin's declarations and the built-in ones. */
  async getSchema(caller: Caller): Promise<StoredSchema & { builtin: Declarations }> {
    requireAdmin(caller);
    return { ...(await this.deps.config.readSchema()), builtin: BUILTIN_DECLARATIONS };
  }
}

/** An agent as the API shows it: without the storage-only fields. */
function publicAgent(agent: StoredAgent): Agent {
  const { version: _version, pending: _pending, ...rest } = agent;
  return rest;
}
