import type { AuditRecord } from '../model/records.js';

/**
 * The references of decisions across lanes, resolved through configuration versions (issue 9).
 *
 * Admin records (`policy`, `agent`, `schema`) carrying `config_version` are the configuration's history,
 * wherever their lane: ordered by version they must be unique (`ADMIN_VERSION_DUPLICATE`) and contiguous
 * (`ADMIN_VERSION_GAP`; from 1 in a log that holds no record written before configuration versions). A
 * decision carrying `config_version` V was evaluated against the configuration after every admin change up
 * to V: an allow's `policy_ids` must be in force at V (`POLICY_NOT_IN_FORCE`), its actor registered and not
 * disabled at V (`ACTOR_NOT_REGISTERED`, `ACTOR_DISABLED`); and V above every admin version present means
 * admin records are missing (`ADMIN_RECORDS_MISSING`), e.g. a dropped lane that held them. A deny may name
 * anyone. Records written before configuration versions (no `config_version`) keep the same-lane rules of
 * {@link LaneReferences}; their admin records are the configuration before the first versioned change.
 *
 * Memory stays flat in the number of records: admin records are kept (few), and decisions are grouped by
 * what their check depends on (version, actor, policies), each group keeping a count and the first
 * {@link KEEP_PER_GROUP} places for its findings.
 */

/** Where a record is, for a finding. */
export interface RecordPlace {
  lane: string;
  seq: number;
  line: number;
}

/** A finding of the reference checks (the caller adds its step). */
export interface ReferenceFinding {
  code:
    | 'POLICY_NOT_IN_FORCE'
    | 'ACTOR_NOT_REGISTERED'
    | 'ACTOR_DISABLED'
    | 'ADMIN_VERSION_DUPLICATE'
    | 'ADMIN_VERSION_GAP'
    | 'ADMIN_RECORDS_MISSING';
  place: RecordPlace | null;
  message: string;
}

/** Places kept per group of like decisions; the rest are counted. */
export const KEEP_PER_GROUP = 16;

interface AdminChange {
  version: number;
  kind: 'policy' | 'agent' | 'schema';
  /** policy id or agent id; '' for schema. */
  id: string;
  active: boolean;
  place: RecordPlace;
}

interface DecisionGroup {
  version: number;
  actor: string;
  allow: boolean;
  policyIds: string[];
  count: number;
  places: RecordPlace[];
}

/** Whether a policy or agent is in force, and since which record. */
interface Standing {
  active: boolean;
  where: string;
}

function placeText(p: RecordPlace): string {
  return `${p.lane}-${p.seq}`;
}

/** Version-ordered configuration history and the decisions that name a version. */
export class ConfigReferences {
  readonly #admin: AdminChange[] = [];
  readonly #groups = new Map<string, DecisionGroup>();
  /** The configuration before versions: admin records without `config_version`, in the order seen. */
  readonly #basePolicies = new Map<string, Standing>();
  readonly #baseAgents = new Map<string, Standing>();
  #legacy = false;

  /** Any record of a kind that carries `config_version` today (decision, policy, agent, schema), seen without it. */
  get legacySeen(): boolean {
    return this.#legacy;
  }

  /**
   * Feeds one schema-valid record (reduced records included) in its lane's order. A shadow policy's `put`
   * puts nothing in force: it never decides, so no allow may cite it.
   */
  add(record: AuditRecord, place: RecordPlace): void {
    if (record.kind === 'key' || record.kind === 'outcome' || record.kind === 'approval') return;
    const version = (record as { config_version?: number }).config_version;
    if (version === undefined) {
      this.#legacy = true;
      if (record.kind === 'policy') {
        this.#basePolicies.set(record.policy_id, {
          active: record.change === 'put' && record.mode !== 'shadow',
          where: placeText(place),
        });
      } else if (record.kind === 'agent') {
        this.#baseAgents.set(record.agent_id, {
          active: record.change === 'register',
          where: placeText(place),
        });
      }
      return;
    }
    if (record.kind === 'decision') {
      const allow = record.decision === 'allow';
      const policyIds = allow ? record.policy_ids : [];
      const actor = allow ? record.actor : '';
      const key = `${version}\u0000${allow ? 1 : 0}\u0000${actor}\u0000${policyIds.join('\u0000')}`;
      let group = this.#groups.get(key);
      if (group === undefined) {
        group = { version, actor, allow, policyIds, count: 0, places: [] };
        this.#groups.set(key, group);
      }
      group.count++;
      if (group.places.length < KEEP_PER_GROUP) group.places.push(place);
      return;
    }
    this.#admin.push({
      version,
      kind: record.kind,
      id: record.kind === 'policy' ? record.policy_id : record.kind === 'agent' ? record.agent_id : '',
      active:
        record.kind === 'policy'
          ? record.change === 'put' && record.mode !== 'shadow'
          : record.kind === 'agent'
            ? record.change === 'register'
            : true,
      place,
    });
  }

  /** Resolves every decision group against the configuration at its version. */
  finish(): ReferenceFinding[] {
    const findings: ReferenceFinding[] = [];
    const admin = [...this.#admin].sort(
      (a, b) =>
        a.version - b.version || a.place.lane.localeCompare(b.place.lane) || a.place.seq - b.place.seq,
    );
    // Unique and contiguous versions.
    const distinct: AdminChange[] = [];
    for (const change of admin) {
      const last = distinct[distinct.length - 1];
      if (last !== undefined && last.version === change.version) {
        findings.push({
          code: 'ADMIN_VERSION_DUPLICATE',
          place: change.place,
          message: `admin record at config version ${change.version}, already produced by ${placeText(last.place)}: versions are unique`,
        });
        continue;
      }
      if (last !== undefined && change.version !== last.version + 1) {
        findings.push({
          code: 'ADMIN_VERSION_GAP',
          place: change.place,
          message: `admin record at config version ${change.version} follows version ${last.version}: the admin records of versions ${last.version + 1}-${change.version - 1} are missing`,
        });
      } else if (last === undefined && !this.#legacy && change.version !== 1) {
        findings.push({
          code: 'ADMIN_VERSION_GAP',
          place: change.place,
          message: `the first admin record is at config version ${change.version}: the admin records of versions 1-${change.version - 1} are missing`,
        });
      }
      distinct.push(change);
    }
    const highest = distinct[distinct.length - 1]?.version ?? (this.#legacy ? null : 0);

    // Sweep the versions upwards, applying admin changes, resolving the groups at each version.
    const groups = [...this.#groups.values()].sort((a, b) => a.version - b.version);
    const policies = new Map(this.#basePolicies);
    const agents = new Map(this.#baseAgents);
    let next = 0;
    for (const group of groups) {
      while (next < distinct.length && (distinct[next] as AdminChange).version <= group.version) {
        const change = distinct[next++] as AdminChange;
        const standing = {
          active: change.active,
          where: `${placeText(change.place)} (config version ${change.version})`,
        };
        if (change.kind === 'policy') policies.set(change.id, standing);
        else if (change.kind === 'agent') agents.set(change.id, standing);
      }
      if (highest !== null && group.version > highest) {
        this.#report(findings, group, 'ADMIN_RECORDS_MISSING', () =>
          highest === 0
            ? `decision evaluated at config version ${group.version}, but the log holds no admin record: the records of versions 1-${group.version} are missing`
            : `decision evaluated at config version ${group.version}, above the highest admin record present (version ${highest}): admin records are missing`,
        );
        continue;
      }
      if (!group.allow) continue;
      for (const id of group.policyIds) {
        const p = policies.get(id);
        if (!p?.active) {
          this.#report(findings, group, 'POLICY_NOT_IN_FORCE', () =>
            p
              ? `allow at config version ${group.version} names policy \`${id}\`, deleted at ${p.where}`
              : `allow at config version ${group.version} names policy \`${id}\`, which no admin record up to that version put`,
          );
        }
      }
      const a = agents.get(group.actor);
      if (!a) {
        this.#report(
          findings,
          group,
          'ACTOR_NOT_REGISTERED',
          () =>
            `allow at config version ${group.version} for actor \`${group.actor}\`, whom no admin record up to that version registered`,
        );
      } else if (!a.active) {
        this.#report(
          findings,
          group,
          'ACTOR_DISABLED',
          () =>
            `allow at config version ${group.version} for actor \`${group.actor}\`, disabled at ${a.where}`,
        );
      }
    }
    return findings;
  }

  #report(
    findings: ReferenceFinding[],
    group: DecisionGroup,
    code: ReferenceFinding['code'],
    message: () => string,
  ): void {
    const text = message();
    group.places.forEach((place, i) => {
      const more = group.count - group.places.length;
      const suffix =
        i === group.places.length - 1 && more > 0
          ? ` (and ${more} more decision${more > 1 ? 's' : ''} like it)`
          : '';
      findings.push({ code, place, message: `${text}${suffix}` });
    });
  }
}

/**
 * The same-lane rules of records written before configuration versions: every policy an allow names was put
 * earlier in the lane and not deleted since (`POLICY_NOT_IN_FORCE`), its actor registered earlier and not
 * disabled since (`ACTOR_NOT_REGISTERED`, `ACTOR_DISABLED`). Admin records of either kind update the lane's
 * state; only decisions without `config_version` are checked here.
 */
export class LaneReferences {
  readonly #policies = new Map<string, { active: boolean; seq: number }>();
  readonly #agents = new Map<string, { active: boolean; seq: number }>();

  constructor(readonly lane: string) {}

  add(record: AuditRecord, line: number): ReferenceFinding[] {
    switch (record.kind) {
      case 'policy':
        this.#policies.set(record.policy_id, {
          active: record.change === 'put' && record.mode !== 'shadow',
          seq: record.seq,
        });
        return [];
      case 'agent':
        this.#agents.set(record.agent_id, { active: record.change === 'register', seq: record.seq });
        return [];
      case 'decision': {
        if (record.decision !== 'allow' || record.config_version !== undefined) return [];
        const place = { lane: this.lane, seq: record.seq, line };
        const out: ReferenceFinding[] = [];
        for (const id of record.policy_ids) {
          const p = this.#policies.get(id);
          if (!p?.active) {
            out.push({
              code: 'POLICY_NOT_IN_FORCE',
              place,
              message: p
                ? `allow names policy \`${id}\`, deleted at seq ${p.seq}`
                : `allow names policy \`${id}\`, which no earlier policy record put`,
            });
          }
        }
        const a = this.#agents.get(record.actor);
        if (!a) {
          out.push({
            code: 'ACTOR_NOT_REGISTERED',
            place,
            message: `allow for actor \`${record.actor}\`, whom no earlier agent record registered`,
          });
        } else if (!a.active) {
          out.push({
            code: 'ACTOR_DISABLED',
            place,
            message: `allow for actor \`${record.actor}\`, disabled at seq ${a.seq}`,
          });
        }
        return out;
      }
      default:
        return [];
    }
  }
}
