import type { ParsedEpochNote } from '../log/epoch.js';
import { EMPTY_ROOT } from '../log/merkle.js';
import { formatDuration } from './duration.js';
import type { LaneAudit } from './LaneAudit.js';
import type { AuditState, ValidCheckpoint } from './signedStatements.js';

/**
 * Steps 8 and 9 of the audit verifier (core/verify/AuditVerifier.ts), once every entry was read, against the
 * signed statements that verified (core/verify/signedStatements.ts): whether every lane matches what they
 * sign and is covered by one, and how old the newest signed time is.
 */

/** What the input is, as steps 8 and 9 need it. */
export interface CompletenessScope {
  /** One record checked on its own (`singleRecord`). */
  single: boolean;
  /** The input is a log from seq 1, not a suffix. */
  fromStart: boolean;
  /** The verifier's now, in milliseconds. */
  now: number;
  /** `--max-age`: the newest signed time must not be older. */
  maxAgeMs: number | undefined;
}

/** What steps 8 and 9 leave for the report. */
export interface Completeness {
  /** Per lane: the size its newest checkpoint signs, whether that covers the lane, and the checkpoint, or null. */
  laneSummaries: Map<string, { size: number; covered: boolean; cp: ValidCheckpoint } | null>;
  /**
   * The time up to which the statements prove the log whole: the newest epoch's signed time; without an epoch,
   * the earliest of the lanes' newest checkpoint times (for a note without one, its newest covered record's).
   * Null when there is none.
   */
  newestTime: string | null;
  /** `newestTime` is a signed time, not a record's. */
  signedTime: boolean;
  /** now minus `newestTime`, or null. */
  ageMs: number | null;
}

/**
 * Steps 8 and 9 once every entry was read: each lane against its own checkpoints, the lanes against the newest
 * epoch (or, without one, each lane covered by a checkpoint), and the newest signed time against `maxAgeMs`.
 * `names` is every lane seen in the input or named by a statement, sorted.
 */
export function checkCompleteness(
  state: AuditState,
  scope: CompletenessScope,
  names: string[],
  newestEpoch: ParsedEpochNote | null,
): Completeness {
  const laneSummaries = new Map<string, { size: number; covered: boolean; cp: ValidCheckpoint } | null>();
  let newestTime: string | null = null;
  let signedTime = true;
  let ageMs: number | null = null;
  const statements = state.checkpoints.length + state.epochs.length;
  const anyFinding8 = () => state.findings.some((f) => f.step === 8);
  if (scope.single && statements === 0) {
    // One record and no checkpoint: completeness is a property of a log (prove it with a receipt).
  } else if (!scope.fromStart) {
    state.finding(
      'CHECKPOINT_NOT_CHECKABLE',
      null,
      null,
      0,
      'a checkpoint covers a log from seq 1: a suffix (--from-seq) cannot be checked against one',
      8,
    );
  } else if (statements === 0) {
    if (!anyFinding8()) {
      state.finding(
        'NO_CHECKPOINT',
        null,
        null,
        0,
        'no signed checkpoint was given, so a cut tail would go unnoticed (--checkpoint or --bundle)',
        8,
      );
    }
  } else {
    for (const name of names) {
      const lane = state.lanes.get(name);
      const summary = laneCheckpoints(state, name, lane);
      laneSummaries.set(name, summary);
      if (newestEpoch === null && summary !== null && summary.size < (lane?.range.size ?? 0)) {
        const n = lane?.range.size ?? 0;
        state.finding(
          'TAIL_NOT_COVERED',
          name,
          summary.size + 1,
          0,
          `the newest checkpoint of lane \`${name}\` covers ${summary.size} records; records ${summary.size + 1}-${n} are not covered by any`,
          8,
        );
      }
    }
    if (newestEpoch !== null) {
      epochCoverage(state, newestEpoch);
      newestTime = newestEpoch.time;
      ageMs = scope.now - Date.parse(newestTime);
    } else {
      const timed = state.checkpoints.some((c) => c.time !== null);
      if (timed || state.lanes.size > 1) {
        state.finding(
          'NO_EPOCH',
          null,
          null,
          0,
          'no epoch statement was given: without it a dropped lane goes unnoticed (export with zt audit export --bundle)',
          8,
        );
      }
      for (const name of names) {
        const lane = state.lanes.get(name);
        const summary = laneSummaries.get(name);
        if (summary == null) {
          if (lane !== undefined && lane.range.size > 0 && state.checkpoints.length > 0) {
            state.finding(
              'LANE_NOT_COVERED',
              name,
              null,
              0,
              `no signed checkpoint covers lane \`${name}\``,
              8,
            );
          }
          continue;
        }
        // The lane's newest signed time, or (a note without one) its newest covered record's timestamp.
        const at = summary.cp.time ?? lane?.timestampAt.get(summary.size) ?? null;
        if (at !== null && (newestTime === null || Date.parse(at) < Date.parse(newestTime))) {
          newestTime = at;
          signedTime = summary.cp.time !== null;
        }
      }
      if (newestTime !== null) ageMs = scope.now - Date.parse(newestTime);
    }
    if (scope.maxAgeMs !== undefined && ageMs !== null && ageMs > scope.maxAgeMs) {
      state.finding(
        'CHECKPOINT_STALE',
        null,
        null,
        0,
        `the newest signed statement proves the log up to ${newestTime}, ${formatDuration(ageMs)} ago, more than --max-age ${formatDuration(scope.maxAgeMs)}`,
        9,
      );
    }
  }
  return { laneSummaries, newestTime, signedTime, ageMs };
}

/** Step 8 for one lane's own checkpoints: roots, truncation, coverage. Returns the newest's summary. */
function laneCheckpoints(
  state: AuditState,
  name: string,
  lane: LaneAudit | undefined,
): { size: number; covered: boolean; cp: ValidCheckpoint } | null {
  const n = lane?.range.size ?? 0;
  const byNewest = state.checkpoints.filter((c) => c.lane === name).sort((a, b) => b.size - a.size);
  const newest = byNewest[0];
  if (newest === undefined) return null;
  let matchedSize: number | null = null;
  for (const cp of byNewest) {
    if (cp.size > n) {
      if (cp === newest && lane !== undefined) {
        state.finding(
          'LOG_TRUNCATED',
          name,
          n + 1,
          0,
          `a signed checkpoint covers ${cp.size} records of lane \`${name}\` but the log holds ${n}: records ${n + 1}-${cp.size} are missing`,
          8,
        );
      }
      continue;
    }
    const root = lane?.rootsAt.get(cp.size) ?? (cp.size === 0 ? EMPTY_ROOT.toString('base64') : null);
    if (root === cp.root) {
      matchedSize ??= cp.size;
      continue;
    }
    state.finding(
      matchedSize !== null ? 'CHECKPOINT_INCONSISTENT' : 'CHECKPOINT_ROOT_MISMATCH',
      name,
      cp.size,
      0,
      matchedSize !== null
        ? `the checkpoint of size ${cp.size} is not a prefix of the lane that the checkpoint of size ${matchedSize} signs: the lane was rewritten after it`
        : `the Merkle root of the first ${cp.size} records of lane \`${name}\` is not the one the checkpoint signs: records up to seq ${cp.size} were changed`,
      8,
    );
  }
  return { size: newest.size, covered: newest.size === n && matchedSize === newest.size, cp: newest };
}

/** Step 8 against the newest epoch, and the older epochs' consistency with it. */
function epochCoverage(state: AuditState, newest: ParsedEpochNote): void {
  const named = new Set(newest.lanes.map((l) => l.lane));
  for (const entry of newest.lanes) {
    const lane = state.lanes.get(entry.lane);
    const n = lane?.range.size ?? 0;
    if (lane === undefined) {
      if (entry.size > 0) {
        state.finding(
          'LANE_MISSING',
          entry.lane,
          null,
          0,
          `epoch ${newest.epoch} names lane \`${entry.lane}\` with ${entry.size} records, and the input holds none of it: a lane was dropped`,
          8,
        );
      }
      continue;
    }
    const cutSeen = state.findings.some((f) => f.code === 'LOG_TRUNCATED' && f.lane === entry.lane);
    if (entry.size > n) {
      // A cut lane is one finding, whether its own checkpoint or the epoch says so.
      if (!cutSeen)
        state.finding(
          'LOG_TRUNCATED',
          entry.lane,
          n + 1,
          0,
          `epoch ${newest.epoch} signs ${entry.size} records of lane \`${entry.lane}\` but the input holds ${n}: records ${n + 1}-${entry.size} are missing`,
          8,
        );
    } else if (lane.rootsAt.get(entry.size) !== entry.root) {
      state.finding(
        'CHECKPOINT_ROOT_MISMATCH',
        entry.lane,
        entry.size,
        0,
        `the Merkle root of the first ${entry.size} records of lane \`${entry.lane}\` is not the one epoch ${newest.epoch} signs: records were changed`,
        8,
      );
    }
    if (n > entry.size) {
      state.finding(
        'TAIL_NOT_COVERED',
        entry.lane,
        entry.size + 1,
        0,
        `epoch ${newest.epoch} covers ${entry.size} records of lane \`${entry.lane}\`; records ${entry.size + 1}-${n} are not covered`,
        8,
      );
    }
  }
  for (const name of state.lanes.keys()) {
    if (!named.has(name)) {
      state.finding(
        'LANE_NOT_COVERED',
        name,
        null,
        0,
        `lane \`${name}\` is not named by the newest epoch (${newest.epoch}): no signed statement covers it`,
        8,
      );
    }
  }
  // Older epochs: each a prefix of the newest, lane by lane.
  for (const older of state.epochs) {
    if (older === newest) continue;
    for (const entry of older.lanes) {
      const now = newest.lanes.find((l) => l.lane === entry.lane);
      const lane = state.lanes.get(entry.lane);
      const root =
        lane?.rootsAt.get(entry.size) ?? (entry.size === 0 ? EMPTY_ROOT.toString('base64') : undefined);
      const shrank = now === undefined || now.size < entry.size;
      const rewritten =
        now !== undefined &&
        now.size >= entry.size &&
        root !== undefined &&
        root !== null &&
        root !== entry.root;
      const sameSizeOther = now !== undefined && now.size === entry.size && now.root !== entry.root;
      if (shrank || rewritten || sameSizeOther) {
        state.finding(
          'CHECKPOINT_INCONSISTENT',
          entry.lane,
          entry.size,
          0,
          shrank
            ? `epoch ${older.epoch} names lane \`${entry.lane}\` at ${entry.size} records, the newer epoch ${newest.epoch} at ${now?.size ?? 'none'}: the newer one does not extend it`
            : `epoch ${older.epoch}'s root of lane \`${entry.lane}\` at ${entry.size} records is not a prefix of the lane epoch ${newest.epoch} signs: the lane was rewritten`,
          8,
        );
      }
    }
  }
  // Lane checkpoints against the epochs: two root-signed statements about one lane and size must agree.
  for (const cp of state.checkpoints) {
    for (const epoch of state.epochs) {
      const entry = epoch.lanes.find((l) => l.lane === cp.lane && l.size === cp.size);
      if (entry && entry.root !== cp.root) {
        state.finding(
          'CHECKPOINT_INCONSISTENT',
          cp.lane,
          cp.size,
          0,
          `the checkpoint of lane \`${cp.lane}\` at ${cp.size} records and epoch ${epoch.epoch} sign different roots: the log forked`,
          8,
        );
      }
    }
  }
}
