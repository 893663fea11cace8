import { InfrastructureError } from '../errors/errors.js';
import { sha256Hex } from '../model/canonical.js';
import {
  BUILTIN_DECLARATIONS,
  type Declarations,
  type DeclaredAttribute,
  mergeDeclarations,
} from '../model/declarations.js';
import type { AgentAttributes } from '../model/requests.js';
import { ID_PATTERN } from '../model/validate.js';
import { type Clock, type KeyValueStore, scanPartition, type TransactOp } from '../ports/ports.js';
import {
  META_CONFIG_SK,
  META_SCHEMA_SK,
  META_VERSION_SK,
  P_AGENT,
  P_META,
  P_POLICY,
  P_PRINCIPAL,
} from '../ports/storageLayout.js';

/**
 * The configuration decisions are made under: agents, policies and the admin's declarations, at one
 * version. Every admin change raises the version by exactly one in the same transaction as its items
 * and its record ({@link Configuration.versionOp}), so a snapshot read at version V holds exactly the
 * changes up to V, and a decision can name the version it was evaluated at.
 */

export interface Agent {
  agentId: string;
  principalArn: string;
  attributes: AgentAttributes;
  status: 'active' | 'disabled';
  createdAt: string;
  disabledAt?: string;
}

/** An agent item as stored: with the configuration version of its last change. */
export interface StoredAgent extends Agent {
  /** The configuration version that wrote it (absent on items of the first release). */
  version?: number;
  /** First release only: a registration that never finished (an orphaned reservation). */
  pending?: boolean;
}

export interface StoredPolicy {
  policyId: string;
  cedar: string;
  description?: string;
  sha256: string;
  updatedAt: string;
  /** The configuration version that wrote it (absent on items of the first release). */
  version?: number;
  /** `shadow`: evaluated beside the decisions it could apply to and recorded, never deciding. */
  mode?: 'shadow';
}

/** The admin's declarations (`PUT /schema`) as stored. */
export interface StoredSchema {
  /** The admin's declarations only (the built-in ones are not repeated here). */
  declarations: Declarations;
  /** SHA-256 hex of the canonical JSON of `declarations`. */
  sha256: string;
  description?: string;
  updatedAt: string | null;
  version?: number;
}

export const EMPTY_SCHEMA: StoredSchema = { declarations: {}, sha256: sha256Hex('{}'), updatedAt: null };

/** Agents, policies and declarations as of one version. */
export interface ConfigSnapshot {
  version: number;
  /** Every stored policy, shadow ones included. */
  policies: StoredPolicy[];
  /** The policies that decide (every one but the shadow ones). */
  enforced: StoredPolicy[];
  /** The shadow policies only (empty almost always). */
  shadow: StoredPolicy[];
  schema: StoredSchema;
  /** Built-in declarations with the admin's over them: what decisions and policy checks use. */
  declarations: Declarations;
  /** Agents by principal, read on first use and checked against `version`. */
  agents: Map<string, StoredAgent | null>;
}

/** The version item as stored, or null before the first versioned change. */
interface VersionRead {
  version: number;
  text: string | null;
}

/** A snapshot that read an item newer than itself: it must be read again. */
class StaleSnapshot extends Error {}

const MAX_READS = 8;

export class Configuration {
  #cached: ConfigSnapshot | null = null;
  #checkedAt = 0;

  constructor(
    private readonly store: KeyValueStore,
    private readonly clock: Clock,
    private readonly options: {
      /** The schema's common context attributes (declarations may not redeclare them). */
      commonContext: Readonly<Record<string, DeclaredAttribute>>;
      /**
       * How often a cached snapshot re-reads the version even when no fence moved (default 1000 ms):
       * only liveness after a crashed admin change depends on it, never exactness.
       */
      recheckMs?: number;
    },
  ) {}

  /** The current version and the version item's text (the transaction's condition). */
  async readVersion(): Promise<VersionRead> {
    const text = await this.store.get(P_META, META_VERSION_SK);
    if (text !== null) return { version: Number(text), text };
    // Before configuration versions, the `meta/config` counter counted changes: versions continue from it.
    const legacy = await this.store.get(P_META, META_CONFIG_SK);
    return { version: legacy === null ? 0 : Number(legacy), text: null };
  }

  /**
   * The write that moves the version from `read` to `read.version + 1`, for the change's transaction:
   * it fails when another change committed first, so changes are serialised and each one is validated
   * against exactly the configuration it replaces.
   */
  versionOp(read: VersionRead): TransactOp {
    const next = String(read.version + 1);
    return read.text === null
      ? { op: 'putIfAbsent', pk: P_META, sk: META_VERSION_SK, data: next }
      : { op: 'replaceIf', pk: P_META, sk: META_VERSION_SK, expected: read.text, data: next };
  }

  /**
   * A snapshot at `minVersion` or later (a lane's fence). The cached one is reused while it is recent
   * enough; otherwise the version is read before and after the items, and the read is repeated until
   * both agree, so the snapshot holds exactly one version's items.
   */
  async snapshot(minVersion = 0): Promise<ConfigSnapshot> {
    const cached = this.#cached;
    const now = this.clock.now().getTime();
    if (cached && cached.version >= minVersion && now - this.#checkedAt < (this.options.recheckMs ?? 1000)) {
      return cached;
    }
    for (let i = 0; i < MAX_READS; i++) {
      const before = await this.readVersion();
      if (cached && cached.version === before.version && before.version >= minVersion) {
        this.#checkedAt = now;
        return cached;
      }
      const [policies, schema] = await Promise.all([this.listPolicies(), this.readSchema()]);
      const after = await this.readVersion();
      if (after.version !== before.version) continue;
      if (before.version < minVersion) {
        throw new InfrastructureError(
          'CONFIG_BEHIND',
          `the configuration is at ${before.version}, below the fence ${minVersion}`,
        );
      }
      const snapshot: ConfigSnapshot = {
        version: before.version,
        policies,
        enforced: policies.filter((p) => p.mode !== 'shadow'),
        shadow: policies.filter((p) => p.mode === 'shadow'),
        schema,
        declarations: mergeDeclarations(BUILTIN_DECLARATIONS, schema.declarations),
        agents: new Map(),
      };
      this.#cached = snapshot;
      this.#checkedAt = now;
      return snapshot;
    }
    throw new InfrastructureError('CONFIG_CONTENTION', 'the configuration kept changing while it was read');
  }

  /**
   * The agent bound to `principalArn` as of the snapshot's version. An agent item written after the
   * snapshot (a registration, a disable) makes it stale: it is read again at the newer version.
   */
  async agentFor(
    principalArn: string,
    minVersion = 0,
  ): Promise<{ snapshot: ConfigSnapshot; agent: StoredAgent | null }> {
    let floor = minVersion;
    for (let i = 0; i < MAX_READS; i++) {
      const snapshot = await this.snapshot(floor);
      try {
        return { snapshot, agent: await this.#agentIn(snapshot, principalArn) };
      } catch (error) {
        if (!(error instanceof StaleSnapshot)) throw error;
        floor = snapshot.version + 1;
      }
    }
    throw new InfrastructureError('CONFIG_CONTENTION', 'the configuration kept changing while it was read');
  }

  async #agentIn(snapshot: ConfigSnapshot, principalArn: string): Promise<StoredAgent | null> {
    if (snapshot.agents.has(principalArn)) return snapshot.agents.get(principalArn) ?? null;
    const agentId = await this.store.get(P_PRINCIPAL, principalArn);
    let agent = agentId === null ? null : await this.readAgent(agentId);
    if (agent && (agent.version ?? 0) > snapshot.version) throw new StaleSnapshot();
    if (!agent || agent.pending || agent.principalArn !== principalArn) agent = null;
    // Bounded: a flood of unknown principals cannot grow the map without limit.
    if (snapshot.agents.size >= 10_000) snapshot.agents.clear();
    snapshot.agents.set(principalArn, agent);
    return agent;
  }

  async readAgent(agentId: string): Promise<StoredAgent | null> {
    const text = await this.readAgentText(agentId);
    return text === null ? null : (JSON.parse(text) as StoredAgent);
  }

  /** The agent item's exact text (a transaction's condition), or null. */
  async readAgentText(agentId: string): Promise<string | null> {
    if (!ID_PATTERN.test(agentId)) return null;
    return this.store.get(P_AGENT, agentId);
  }

  async listAgents(): Promise<StoredAgent[]> {
    const agents: StoredAgent[] = [];
    for await (const item of scanPartition(this.store, P_AGENT)) agents.push(JSON.parse(item) as StoredAgent);
    return agents;
  }

  async listPolicies(): Promise<StoredPolicy[]> {
    const policies: StoredPolicy[] = [];
    for await (const item of scanPartition(this.store, P_POLICY))
      policies.push(JSON.parse(item) as StoredPolicy);
    return policies;
  }

  /** The policy item's exact text, or null. */
  readPolicyText(policyId: string): Promise<string | null> {
    return this.store.get(P_POLICY, policyId);
  }

  async readSchema(): Promise<StoredSchema> {
    const raw = await this.store.get(P_META, META_SCHEMA_SK);
    return raw === null ? EMPTY_SCHEMA : (JSON.parse(raw) as StoredSchema);
  }

  get commonContext(): Readonly<Record<string, DeclaredAttribute>> {
    return this.options.commonContext;
  }
}
