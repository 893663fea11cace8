import { ZtError } from '../errors/errors.js';
import { canonicalize, sha256Hex } from '../model/canonical.js';
import type { Declarations } from '../model/declarations.js';
import type { AuditRecord, Decision, DecisionRecord } from '../model/records.js';
import type { PolicyEngine } from '../policy/PolicyEngine.js';
import type { CedarPolicy } from '../policy/storedPolicy.js';
import { checkKeptRequest, type KeptRequest } from './keptRequests.js';

/**
 * The denials a decision gets before any policy is read (DecisionService): an unregistered principal, a
 * disabled agent, an actor that is not the signer. One place for their text, since replay recognises them.
 */
export const PRE_POLICY_DENIAL = {
  unregistered: (principalArn: string) => `principal \`${principalArn}\` is not a registered agent`,
  disabled: (agentId: string) => `agent \`${agentId}\` is disabled`,
  actorMismatch: 'actor does not match the authenticated principal',
} as const;

const PRE_POLICY = [
  /^principal `[^`]*` is not a registered agent$/,
  /^agent `[^`]*` is disabled$/,
  /^actor does not match the authenticated principal$/,
];

/** True when `record` was denied before policy evaluation: no policy set could change it. */
export function deniedBeforePolicy(record: DecisionRecord): boolean {
  return (
    record.decision === 'deny' &&
    record.policy_ids.length === 0 &&
    record.errors.length === 0 &&
    PRE_POLICY.some((p) => p.test(record.reason))
  );
}

export type ReplayCode =
  | 'BUNDLE_INVALID'
  | 'REQUEST_DATA_INVALID'
  | 'REQUEST_DATA_MISMATCH'
  | 'REQUEST_DATA_UNKNOWN_RECORD'
  | 'REQUEST_DATA_DUPLICATE'
  | 'CANDIDATE_POLICY_INVALID'
  | 'SCHEMA_INVALID';

/** Replay refused to run: the bundle, the request data, the candidate policies or the declarations are not usable. */
export class ReplayError extends ZtError {
  declare readonly code: ReplayCode;
  constructor(code: ReplayCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** One decision whose answer the candidate policies change. */
export interface ChangedDecision {
  id: string;
  /** `approval_required` too, for a permit annotated `@approval`. */
  was: Decision;
  now: Decision;
  /** The candidate evaluation's reason. */
  reason: string;
}

/** The decisions of one (agent, action). */
export interface ReplayGroup {
  agent: string;
  action: string;
  /** Decisions re-evaluated. */
  replayed: number;
  changed: number;
  /** Was an allow, would not be (a deny, or held for approval). */
  allowToDeny: number;
  /** Was not an allow, would be. Changes between deny and `approval_required` are in the changes only. */
  denyToAllow: number;
  /** Decisions of this (agent, action) whose request data was not kept (or is past its retention). */
  notReplayable: number;
  changes: ChangedDecision[];
}

export interface ReplayReport {
  /** Decision records in the bundle. */
  decisions: number;
  replayed: number;
  unchanged: number;
  changed: number;
  /** Decisions whose request data is not kept or is past its retention: not evaluated, never guessed. */
  notReplayable: number;
  /** Decisions denied before any policy was read (unknown principal, disabled agent, actor mismatch). */
  deniedBeforePolicy: number;
  /** Candidate policy ids, sorted. */
  policies: string[];
  policySetSha256: string;
  /** Groups with a change or a decision not replayable, sorted by agent then action. */
  groups: ReplayGroup[];
}

export interface ReplayInput {
  /** Every record of a verified bundle (any order). */
  records: readonly AuditRecord[];
  /** Request data kept for replay, as read (untrusted: checked against each record here). */
  kept: readonly KeptRequest[];
  policies: readonly CedarPolicy[];
  /** Built-in declarations with the admin's over them, as the gateway merges them. */
  declarations: Declarations;
  engine: PolicyEngine;
  /** Epoch ms: kept data past its `expires_at` is not used. */
  now: number;
}

/**
 * Re-evaluates every policy-evaluated decision of a log whose request data was kept, against candidate policies,
 * the way the gateway does (`PolicyEngine.evaluate` with the agent's attributes, the request's context and params
 * and the declarations), and reports those whose answer would change, by agent and action.
 *
 * @throws ReplayError `REQUEST_DATA_MISMATCH` when kept data does not hash to its record's hashes,
 *   `REQUEST_DATA_UNKNOWN_RECORD` when it names no decision of the log, `REQUEST_DATA_DUPLICATE` for a record named
 *   twice: any of those is tampering, and nothing is replayed.
 */
export function replayDecisions(input: ReplayInput): ReplayReport {
  const decisions = new Map<string, DecisionRecord>();
  for (const r of input.records) if (r.kind === 'decision') decisions.set(r.id, r);
  const kept = new Map<string, KeptRequest>();
  for (const k of input.kept) {
    const record = decisions.get(k.id);
    if (record === undefined) {
      throw new ReplayError(
        'REQUEST_DATA_UNKNOWN_RECORD',
        `request data names \`${String(k.id).slice(0, 140)}\`, which is no decision of the bundle`,
      );
    }
    if (kept.has(k.id)) {
      throw new ReplayError('REQUEST_DATA_DUPLICATE', `request data names \`${k.id}\` more than once`);
    }
    // INVARIANT: request data is used only when it hashes to what its signed record says.
    const mismatch = checkKeptRequest(record, k);
    if (mismatch !== null) throw new ReplayError('REQUEST_DATA_MISMATCH', mismatch, { id: k.id });
    kept.set(k.id, k);
  }

  const groups = new Map<string, ReplayGroup>();
  const group = (agent: string, action: string): ReplayGroup => {
    const key = `${agent}\u0000${action}`;
    let g = groups.get(key);
    if (g === undefined) {
      g = {
        agent,
        action,
        replayed: 0,
        changed: 0,
        allowToDeny: 0,
        denyToAllow: 0,
        notReplayable: 0,
        changes: [],
      };
      groups.set(key, g);
    }
    return g;
  };
  const report: ReplayReport = {
    decisions: decisions.size,
    replayed: 0,
    unchanged: 0,
    changed: 0,
    notReplayable: 0,
    deniedBeforePolicy: 0,
    policies: input.policies.map((p) => p.policyId).sort(),
    // The same hash the engine puts in `policy_set_sha256`: the set, sorted by id, as canonical JSON.
    policySetSha256: sha256Hex(
      canonicalize(
        [...input.policies]
          .sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0))
          .map((p) => ({ policyId: p.policyId, cedar: p.cedar })),
      ),
    ),
    groups: [],
  };
  const ordered = [...decisions.values()].sort((a, b) =>
    a.chain === b.chain ? a.seq - b.seq : a.chain < b.chain ? -1 : 1,
  );
  for (const record of ordered) {
    if (deniedBeforePolicy(record)) {
      report.deniedBeforePolicy++;
      continue;
    }
    const g = group(record.actor, record.action);
    const data = kept.get(record.id);
    if (data === undefined || data.expires_at <= input.now) {
      g.notReplayable++;
      report.notReplayable++;
      continue;
    }
    const result = input.engine.evaluate(
      input.policies,
      {
        agentId: record.actor,
        agentAttributes: data.agent_attributes,
        action: record.action,
        resource: record.resource,
        context: data.context,
        params: data.params,
      },
      input.declarations,
    );
    g.replayed++;
    report.replayed++;
    if (result.decision === record.decision) {
      report.unchanged++;
      continue;
    }
    report.changed++;
    g.changed++;
    if (record.decision === 'allow') g.allowToDeny++;
    else if (result.decision === 'allow') g.denyToAllow++;
    g.changes.push({ id: record.id, was: record.decision, now: result.decision, reason: result.reason });
  }
  report.groups = [...groups.values()]
    .filter((g) => g.changed > 0 || g.notReplayable > 0)
    .sort((a, b) => (a.agent === b.agent ? (a.action < b.action ? -1 : 1) : a.agent < b.agent ? -1 : 1));
  return report;
}
