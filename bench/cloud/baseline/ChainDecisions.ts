/**
 * VENDORED BASELINE, not used by the gateway: the decision path of the single-chain design (core/gateway/Gateway.ts
 * `decide` at commit 9b826a8, before lanes), reduced to what a decision does to the table, so
 * `npm run bench:cloud` can drive it through the same harness as today's gateway:
 *
 * 1. claim the request id (`putIfAbsent` of a `pending` idempotency item);
 * 2. read `meta/config`, the change counter, strongly consistent, on every decision (and reload policies
 *    when it moved);
 * 3. evaluate, then append to the one chain `main` with {@link ChainWriter} (a conditional put at head + 1;
 *    a lost race re-reads the head, re-evaluates and retries, up to 20 times: `CHAIN_CONTENTION`);
 * 4. mark the idempotency item `done` (or release the claim when nothing was recorded).
 *
 * Records are signed by a session key certified in `main` by a `kind: key` record, as before.
 */
import { randomUUID } from 'node:crypto';
import type { PolicyEvaluator } from '../../../core/gateway/index.js';
import { type ConfigSnapshot, Configuration, type StoredAgent } from '../../../core/gateway/index.js';
import type { KeyRing } from '../../../core/keys/index.js';
import type { AuditRecord, Caller, DecisionFields, DecisionRecord } from '../../../core/model/index.js';
import {
  BUILTIN_DECLARATIONS,
  canonicalizeData,
  canonicalSha256,
  MAIN_LANE,
  mergeDeclarations,
  parseDecisionRequest,
  sha256Hex,
} from '../../../core/model/index.js';
import type { Clock, KeyValueStore } from '../../../core/ports/index.js';
import { idemPartition, META_CONFIG_SK, P_META, P_PRINCIPAL } from '../../../core/ports/index.js';
import type { ChainWriter } from './ChainWriter.js';

interface IdempotencyItem {
  state: 'pending' | 'done';
  request_sha256: string;
  seq?: number;
}

export class ChainDecisions {
  readonly #config: Configuration;
  #snapshot: ConfigSnapshot | null = null;

  constructor(
    private readonly deps: {
      store: KeyValueStore;
      writer: ChainWriter;
      keys: KeyRing;
      policies: PolicyEvaluator;
      clock: Clock;
    },
  ) {
    // Only its item readers (policies, schema, agents) are used: the snapshot rule is the old one, below.
    this.#config = new Configuration(deps.store, deps.clock, { commonContext: deps.policies.commonContext });
  }

  /** Certifies this instance's session key in `main`, as the old KeyRing did before the first decision. */
  async ready(): Promise<void> {
    const certificate = await this.deps.keys.certificateFor(MAIN_LANE, this.deps.clock.now());
    if (!certificate) return;
    const appended = await this.deps.writer.append(
      certificate.fields,
      certificate.principal,
      async () => certificate.signer,
    );
    for (const op of certificate.extra(appended.record, appended.text)) {
      if (op.op === 'put') await this.deps.store.put(op.pk, op.sk, op.data);
    }
    certificate.landed(appended.record, appended.text);
  }

  async decide(caller: Caller, body: unknown): Promise<{ decision: string; record: AuditRecord }> {
    const request = parseDecisionRequest(body);
    const requestId = request.request_id ?? `srv-${randomUUID()}`;
    request.request_id = requestId;
    const hash = canonicalSha256(request);
    const pk = idemPartition(caller.principalArn);
    const pending: IdempotencyItem = { state: 'pending', request_sha256: hash };
    if (!(await this.deps.store.putIfAbsent(pk, requestId, JSON.stringify(pending)))) {
      throw Object.assign(new Error(`request \`${requestId}\` is being decided or was decided`), {
        code: 'REQUEST_IN_PROGRESS',
      });
    }
    let recorded = false;
    try {
      const first = await this.#evaluate(caller, request, requestId);
      const appended = await this.deps.writer.append(
        (attempt) => (attempt === 1 ? Promise.resolve(first) : this.#evaluate(caller, request, requestId)),
        caller.principalArn,
        (timestamp) => this.deps.keys.signerFor(MAIN_LANE, timestamp),
      );
      recorded = true;
      const done: IdempotencyItem = { state: 'done', request_sha256: hash, seq: appended.record.seq };
      await this.deps.store.put(pk, requestId, JSON.stringify(done));
      const record = appended.record as DecisionRecord;
      return { decision: record.decision, record: JSON.parse(appended.text) as AuditRecord };
    } catch (error) {
      if (!recorded) await this.deps.store.delete(pk, requestId).catch(() => false);
      throw error;
    }
  }

  async #evaluate(
    caller: Caller,
    request: ReturnType<typeof parseDecisionRequest>,
    requestId: string,
  ): Promise<DecisionFields> {
    const config = await this.#snapshotNow();
    const agent = await this.#agentFor(config, caller.principalArn);
    const base = {
      kind: 'decision' as const,
      request_id: requestId,
      actor: request.actor,
      action: request.action,
      resource: request.resource,
      context_sha256: sha256Hex(canonicalizeData(request.context)),
      params_sha256: canonicalSha256(request.params),
    };
    const deny = (reason: string): DecisionFields => ({
      ...base,
      decision: 'deny',
      reason,
      policy_ids: [],
      policy_set_sha256: sha256Hex('[]'),
      errors: [],
    });
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

  /** The old rule: one strongly consistent read of the `meta/config` counter per decision. */
  async #snapshotNow(): Promise<ConfigSnapshot> {
    const raw = await this.deps.store.get(P_META, META_CONFIG_SK);
    const version = raw === null ? 0 : Number(raw);
    if (this.#snapshot && this.#snapshot.version === version) return this.#snapshot;
    const [policies, schema] = await Promise.all([this.#config.listPolicies(), this.#config.readSchema()]);
    this.#snapshot = {
      version,
      policies,
      enforced: policies.filter((p) => p.mode !== 'shadow'),
      shadow: policies.filter((p) => p.mode === 'shadow'),
      schema,
      declarations: mergeDeclarations(BUILTIN_DECLARATIONS, schema.declarations),
      agents: new Map(),
    };
    return this.#snapshot;
  }

  async #agentFor(config: ConfigSnapshot, principalArn: string): Promise<StoredAgent | null> {
    if (config.agents.has(principalArn)) return config.agents.get(principalArn) ?? null;
    const agentId = await this.deps.store.get(P_PRINCIPAL, principalArn);
    let agent = agentId === null ? null : await this.#config.readAgent(agentId);
    if (!agent || agent.pending || agent.principalArn !== principalArn) agent = null;
    config.agents.set(principalArn, agent);
    return agent;
  }
}
