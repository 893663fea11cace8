import { type Checkpoint, laneOfOrigin, verifyCheckpoint } from '../log/checkpoint.js';
import { isEpochBody, type ParsedEpochNote, verifyEpoch } from '../log/epoch.js';
import { LANE_NAME_PATTERN } from '../model/records.js';
import { isObject } from './auditBundle.js';
import type { AddFinding, AuditFinding } from './auditReport.js';
import type { LaneAudit } from './LaneAudit.js';

/**
 * The signed statements given to the audit verifier (core/verify/AuditVerifier.ts), step 8's signature half:
 * which lane checkpoints and epoch statements verify (one that does not is tamper evidence and is not used),
 * and the state the later checks of statements read (core/verify/checkpointChecks.ts, stateCheck.ts).
 */

/** A lane checkpoint given that verified, as the later steps read it. */
export interface ValidCheckpoint {
  lane: string;
  origin: string;
  size: number;
  root: string;
  time: string | null;
  note: string;
}

/**
 * What the audit verifier gathered, as the checks of signed statements (steps 8, 9 and 11) read it, and where
 * they report.
 */
export interface AuditState {
  /** The lanes of the input, by name. */
  readonly lanes: ReadonlyMap<string, LaneAudit>;
  /** The lane checkpoints given that verified, one per lane and size. */
  readonly checkpoints: ValidCheckpoint[];
  /** The epoch statements given that verified, one per epoch. */
  readonly epochs: ParsedEpochNote[];
  /** The findings beyond the chain steps so far. */
  readonly findings: ReadonlyArray<AuditFinding & { step: number }>;
  readonly finding: AddFinding;
}

/** Step 8, signature half: a statement that does not verify is tamper evidence and is not used. */
export function readStatement(state: AuditState, value: unknown, trustedRootKeys: string[]): void {
  if (isEpochBody(value)) {
    const result = verifyEpoch(value, trustedRootKeys);
    const n = isObject(value) && typeof value['epoch'] === 'number' ? value['epoch'] : null;
    if (!result.ok) {
      state.finding(result.code, null, null, 0, `epoch${n !== null ? ` ${n}` : ''}: ${result.message}`, 8);
      return;
    }
    const same = state.epochs.find((e) => e.epoch === result.epoch.epoch);
    if (same && same.body !== result.epoch.body) {
      state.finding(
        'CHECKPOINT_INCONSISTENT',
        null,
        null,
        0,
        `two signed epochs ${same.epoch} name different lanes, sizes or roots: the log forked`,
        8,
      );
      return;
    }
    if (!same) state.epochs.push(result.epoch);
    return;
  }
  const size = isObject(value) && typeof value['size'] === 'number' ? value['size'] : null;
  const result = verifyCheckpoint(value as Checkpoint, trustedRootKeys);
  if (!result.ok) {
    state.finding(
      result.code,
      null,
      size,
      0,
      `checkpoint${size !== null ? ` of size ${size}` : ''}: ${result.message}`,
      8,
    );
    return;
  }
  const cp = value as Checkpoint;
  const lane = laneOfOrigin(cp.origin);
  if (!LANE_NAME_PATTERN.test(lane)) {
    state.finding(
      'CHECKPOINT_MALFORMED',
      null,
      cp.size,
      0,
      `checkpoint origin \`${cp.origin}\` names no lane`,
      8,
    );
    return;
  }
  const same = state.checkpoints.find((c) => c.lane === lane && c.size === cp.size);
  if (same && same.root !== cp.root) {
    state.finding(
      'CHECKPOINT_INCONSISTENT',
      lane,
      cp.size,
      0,
      `two signed checkpoints of size ${cp.size} have different roots: the log forked`,
      8,
    );
    return;
  }
  if (!same) {
    state.checkpoints.push({
      lane,
      origin: cp.origin,
      size: cp.size,
      root: cp.root,
      time: result.time,
      note: cp.note,
    });
  }
}
