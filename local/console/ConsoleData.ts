import type { Gateway } from '../../core/gateway/index.js';
import type { Checkpointer } from '../../core/log/index.js';
import type { Caller } from '../../core/model/index.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../../core/model/index.js';
import type { KeyValueStore } from '../../core/ports/index.js';
import { chainPartition, seqKey } from '../../core/ports/index.js';

/** One decision of the timeline: the fields a person reads, taken from the stored record. */
export interface TimelineEntry {
  lane: string;
  seq: number;
  id: string;
  timestamp: string;
  actor: string;
  action: string;
  resource: string;
  decision: string;
  reason: string;
  policy_ids: string[];
  /** What the shadow policies would have decided, when any could apply. */
  shadow: { decision: string; policy_ids: string[] } | null;
}

/** Allow and deny counts of one agent or one action. */
export interface Tally {
  name: string;
  allow: number;
  deny: number;
  last: string | null;
}

/** Records read per tally refresh at most: a long log is counted over several refreshes, never in one go. */
const TALLY_READ_PER_CALL = 5000;
/** Records scanned (newest first) for one filtered timeline at most. */
const FILTER_SCAN_LIMIT = 5000;
const PAGE = 500;

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function entryOf(lane: string, data: string): TimelineEntry | null {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (r['kind'] !== 'decision' || typeof r['seq'] !== 'number') return null;
  const shadow = r['shadow'] as Record<string, unknown> | undefined;
  return {
    lane,
    seq: r['seq'],
    id: text(r['id']),
    timestamp: text(r['timestamp']),
    actor: text(r['actor']),
    action: text(r['action']),
    resource: text(r['resource']),
    decision: text(r['decision']),
    reason: text(r['reason']),
    policy_ids: Array.isArray(r['policy_ids']) ? (r['policy_ids'] as unknown[]).map(text) : [],
    shadow:
      shadow && typeof shadow === 'object'
        ? {
            decision: text(shadow['decision']),
            policy_ids: Array.isArray(shadow['policy_ids'])
              ? (shadow['policy_ids'] as unknown[]).map(text)
              : [],
          }
        : null,
  };
}

/**
 * The console's reads, all through the store port and the gateway's read use cases: decisions of a lane,
 * allow/deny tallies per agent and per action, the policies and the newest checkpoints. Nothing here writes:
 * it calls no method that appends, signs or stores (`Checkpointer.checkpoint()` signs one, so it is not used).
 */
export class ConsoleData {
  readonly #tallies = { agents: new Map<string, Tally>(), actions: new Map<string, Tally>() };
  /** Per lane: the seq up to which the tallies have counted. */
  readonly #counted = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: KeyValueStore;
      gateway: Gateway;
      checkpointer: Checkpointer;
      /** The local admin, as whom the configuration is read (the token holder sees what the admin sees). */
      reader: Caller;
    },
  ) {}

  /** The seq of a lane's newest record, 0 when it has none. */
  async head(lane: string): Promise<number> {
    const [last] = await this.deps.store.query(chainPartition(lane), { limit: 1, descending: true });
    return last ? Number(last.sk) : 0;
  }

  /**
   * Decisions of `lane`: with `after` > 0, those with a greater seq, oldest first (what a poll adds); else the
   * newest ones, newest first. `actor` / `action` filter exactly; a filtered read scans a bounded window.
   */
  async timeline(options: {
    lane?: string;
    after: number;
    limit: number;
    actor?: string;
    action?: string;
  }): Promise<{ lane: string; head: number; entries: TimelineEntry[]; scanned: number }> {
    const lane = options.lane ?? MAIN_LANE;
    if (!LANE_NAME_PATTERN.test(lane)) throw new RangeError(`invalid lane name \`${lane}\``);
    const matches = (e: TimelineEntry) =>
      (options.actor === undefined || e.actor === options.actor) &&
      (options.action === undefined || e.action === options.action);
    const entries: TimelineEntry[] = [];
    let scanned = 0;
    if (options.after > 0) {
      let after = seqKey(options.after);
      while (entries.length < options.limit && scanned < FILTER_SCAN_LIMIT) {
        const page = await this.deps.store.query(chainPartition(lane), { after, limit: PAGE });
        for (const item of page) {
          scanned++;
          const e = entryOf(lane, item.data);
          if (e && matches(e) && entries.length < options.limit) entries.push(e);
        }
        if (page.length < PAGE) break;
        after = (page[page.length - 1] as { sk: string }).sk;
      }
    } else {
      let before: number | null = null;
      while (entries.length < options.limit && scanned < FILTER_SCAN_LIMIT) {
        // Newest first: the store pages descending from the seq below the last one read.
        const page: Array<{ sk: string; data: string }> = await this.deps.store.query(chainPartition(lane), {
          ...(before !== null ? { after: seqKey(before) } : {}),
          limit: PAGE,
          descending: true,
        });
        for (const item of page) {
          scanned++;
          const e = entryOf(lane, item.data);
          if (e && matches(e) && entries.length < options.limit) entries.push(e);
        }
        if (page.length < PAGE) break;
        before = Number((page[page.length - 1] as { sk: string }).sk);
      }
    }
    return { lane, head: await this.head(lane), entries, scanned };
  }

  /** Allow/deny counts per agent and per action over every lane, brought up to date by a bounded read. */
  async tallies(): Promise<{ agents: Tally[]; actions: Tally[]; complete: boolean }> {
    let budget = TALLY_READ_PER_CALL;
    let complete = true;
    for (const lane of await this.deps.checkpointer.lanes()) {
      let after = this.#counted.get(lane) ?? 0;
      while (budget > 0) {
        const page = await this.deps.store.query(chainPartition(lane), {
          ...(after > 0 ? { after: seqKey(after) } : {}),
          limit: Math.min(PAGE, budget),
        });
        budget -= page.length;
        for (const item of page) {
          after = Number(item.sk);
          const e = entryOf(lane, item.data);
          if (e) {
            this.#count(this.#tallies.agents, e.actor, e);
            this.#count(this.#tallies.actions, e.action, e);
          }
        }
        this.#counted.set(lane, after);
        if (page.length === 0 || budget === 0) break;
      }
      if (budget === 0 && (await this.head(lane)) > after) complete = false;
    }
    // Registered agents with no decision yet are listed too.
    for (const agent of await this.deps.gateway.listAgents(this.deps.reader)) {
      if (!this.#tallies.agents.has(agent.agentId)) {
        this.#tallies.agents.set(agent.agentId, { name: agent.agentId, allow: 0, deny: 0, last: null });
      }
    }
    const sorted = (m: Map<string, Tally>) => [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
    return { agents: sorted(this.#tallies.agents), actions: sorted(this.#tallies.actions), complete };
  }

  #count(map: Map<string, Tally>, name: string, e: TimelineEntry): void {
    const t = map.get(name) ?? { name, allow: 0, deny: 0, last: null };
    if (e.decision === 'allow') t.allow++;
    else t.deny++;
    t.last = e.timestamp;
    map.set(name, t);
  }

  /**
   * The pending approvals not yet expired, oldest first, as the local admin reads them (`GET /approvals`):
   * at most `APPROVALS_MAX` (read a page at a time), each with what an approver must see to decide.
   */
  async approvals(): Promise<{ approvals: ConsoleApproval[]; complete: boolean }> {
    const approvals: ConsoleApproval[] = [];
    let after: string | undefined;
    for (let page = 0; page < APPROVALS_MAX / APPROVALS_PAGE; page++) {
      const read = await this.deps.gateway.listApprovals(this.deps.reader, {
        ...(after !== undefined ? { after } : {}),
        limit: APPROVALS_PAGE,
      });
      for (const a of read.approvals) {
        approvals.push({
          approval_id: a.approval_id,
          agent: a.actor,
          principal_arn: a.principal_arn,
          action: a.action,
          resource: a.resource,
          context: a.context,
          params: a.params,
          params_sha256: a.params_sha256,
          policy_ids: a.policy_ids,
          approvals_required: a.approvals_required,
          approvals_given: a.approvals.length,
          approved_by: a.approvals.map((v) => v.principal_arn),
          requested_at: a.requested_at,
          expires_at: a.expires_at,
        });
      }
      if (read.next === null) return { approvals, complete: true };
      after = read.next;
    }
    return { approvals, complete: false };
  }

  /** The stored policies, enforced and shadow apart, as the next decision sees them. */
  async policies(): Promise<{
    enforced: ConsolePolicy[];
    shadow: ConsolePolicy[];
  }> {
    const all = await this.deps.gateway.listPolicies(this.deps.reader);
    const view = (p: (typeof all)[number]): ConsolePolicy => ({
      policyId: p.policyId,
      description: p.description ?? null,
      cedar: p.cedar,
      sha256: p.sha256,
      updatedAt: p.updatedAt,
      mode: p.mode === 'shadow' ? 'shadow' : 'enforce',
    });
    return {
      enforced: all.filter((p) => p.mode !== 'shadow').map(view),
      shadow: all.filter((p) => p.mode === 'shadow').map(view),
    };
  }

  /** Every lane with its head and newest stored checkpoint, and the newest epoch; read, never signed here. */
  async checkpoints(): Promise<{
    lanes: Array<{
      lane: string;
      head: number;
      checkpoint: { size: number; time: string | null; root: string } | null;
    }>;
    epoch: { epoch: number; time: string; lanes: number } | null;
  }> {
    const lanes = [];
    for (const lane of await this.deps.checkpointer.lanes()) {
      const cp = await this.deps.checkpointer.latest(lane);
      lanes.push({
        lane,
        head: await this.head(lane),
        checkpoint: cp ? { size: cp.size, time: cp.time ?? null, root: cp.root } : null,
      });
    }
    const epoch = await this.deps.checkpointer.latestEpoch();
    return {
      lanes,
      epoch: epoch ? { epoch: epoch.epoch, time: epoch.time, lanes: epoch.lanes.length } : null,
    };
  }
}

/** Pending approvals the inbox lists at most, and per read. */
const APPROVALS_MAX = 500;
const APPROVALS_PAGE = 100;

/** A pending approval as the inbox shows it. */
export interface ConsoleApproval {
  approval_id: string;
  agent: string;
  principal_arn: string;
  action: string;
  resource: string;
  context: unknown;
  params: unknown;
  params_sha256: string;
  policy_ids: string[];
  approvals_required: number;
  /** Approves given so far that still count. */
  approvals_given: number;
  /** Their approvers' principals. */
  approved_by: string[];
  requested_at: string;
  expires_at: string;
}

/** A policy as the console shows it. */
export interface ConsolePolicy {
  policyId: string;
  description: string | null;
  cedar: string;
  sha256: string;
  updatedAt: string;
  mode: 'enforce' | 'shadow';
}
