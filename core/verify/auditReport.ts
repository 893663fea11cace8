import type { VERIFICATION_CODES, VerificationFinding } from './verificationCodes.js';

/**
 * What the audit verifier (core/verify/AuditVerifier.ts) reports: the codes of its steps beyond the chain
 * steps, which of them say the proof is incomplete rather than that anything was altered, a finding (with its
 * lane), and the report of a whole log, lane by lane.
 */

/** Codes beyond the chain steps. */
export const AUDIT_CODES = [
  'KEYS_ROOT_MISMATCH',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_SIGNATURE_INVALID',
  'CHECKPOINT_UNKNOWN_KEY',
  'CHECKPOINT_FIELDS_MISMATCH',
  'CHECKPOINT_ROOT_MISMATCH',
  'CHECKPOINT_INCONSISTENT',
  'LOG_TRUNCATED',
  'LANE_MISSING',
  'NO_CHECKPOINT',
  'NO_EPOCH',
  'TAIL_NOT_COVERED',
  'LANE_NOT_COVERED',
  'CHECKPOINT_NOT_CHECKABLE',
  'CHECKPOINT_STALE',
  'POLICY_NOT_IN_FORCE',
  'ACTOR_NOT_REGISTERED',
  'ACTOR_DISABLED',
  'ADMIN_VERSION_DUPLICATE',
  'ADMIN_VERSION_GAP',
  'ADMIN_RECORDS_MISSING',
  'APPROVAL_NOT_FOUND',
  'APPROVAL_MISMATCH',
  'APPROVAL_INVALID',
  'APPROVAL_INSUFFICIENT',
  'APPROVAL_EXPIRED',
  'APPROVAL_REJECTED',
  'APPROVAL_CLAIMED_TWICE',
  'STATE_ROLLBACK',
  'STATE_INCONSISTENT',
  'STATE_ORIGIN_MISMATCH',
] as const;

export type AuditCode = (typeof VERIFICATION_CODES)[number] | (typeof AUDIT_CODES)[number];

/** Findings that say the proof is incomplete or stale (exit 3), not that anything was altered (exit 1). */
export const INCOMPLETE_CODES: ReadonlySet<AuditCode> = new Set<AuditCode>([
  'NO_CHECKPOINT',
  'NO_EPOCH',
  'TAIL_NOT_COVERED',
  'LANE_NOT_COVERED',
  'CHECKPOINT_NOT_CHECKABLE',
  'CHECKPOINT_STALE',
]);

export interface AuditFinding extends Omit<VerificationFinding, 'code'> {
  code: AuditCode;
  /** The lane the finding is about, or null for the log as a whole. */
  lane: string | null;
}

/** `valid`: nothing found; `incomplete`: only incompleteness findings; `tampered`: any other finding. */
export type AuditStatus = 'valid' | 'tampered' | 'incomplete';

export interface CheckpointSummary {
  origin: string;
  /** Size of the newest signed size of the lane (its newest checkpoint, or the epoch's). */
  size: number;
  /** Its root equals the lane's and it covers the lane's last record. */
  covered: boolean;
  /** now minus the signed time (or, for notes without one, the newest covered record's); null for size 0 untimed. */
  ageMs: number | null;
}

/** One lane of the report. */
export interface LaneReport {
  lane: string;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string | null;
  /** The size the newest statement signs for the lane, and whether it covers it; null when none does. */
  checkpoint: { size: number; covered: boolean } | null;
}

/** The newest epoch statement given that verified. */
export interface EpochSummary {
  origin: string;
  epoch: number;
  time: string;
  lanes: number;
  ageMs: number;
}

export interface AuditReport {
  ok: boolean;
  status: AuditStatus;
  /** Entries examined, all lanes. */
  records: number;
  /** Of the `main` lane when the input holds it, else of its first lane (the single-chain fields of old). */
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string | null;
  keysUsed: string[];
  /** The newest valid checkpoint of the lane of `firstSeq`..`lastSeq` (or the epoch's entry for it), or null. */
  checkpoint: CheckpointSummary | null;
  /** Lane checkpoints and epochs given that verified. */
  checkpointsVerified: number;
  /** What the input is: a whole log from seq 1, a suffix (`fromSeq`), or one record checked on its own (`singleRecord`). */
  scope: 'log' | 'suffix' | 'record';
  /** References are checked only from seq 1 (the state before a suffix is unknown) and not for one record. */
  references: 'checked' | 'skipped';
  /** Every lane seen in the input or named by a statement, sorted by name. */
  lanes: LaneReport[];
  epoch: EpochSummary | null;
  /**
   * The signed time up to which the input proves the log whole: a bundle carrying its own checkpoint proves
   * the log only up to that checkpoint's signed time (an older genuine bundle proves an older log). Null
   * when nothing signed a time.
   */
  provenUpTo: string | null;
  /** `signed`: `provenUpTo` is a signed time; `record`: a note without one, so the newest record it covers. */
  provenBy: 'signed' | 'record' | null;
  /** `checked`: a remembered statement was compared; `first`: `state` was asked for but empty; `none`. */
  state: 'checked' | 'first' | 'none';
  findings: AuditFinding[];
}

/**
 * How the steps beyond the chain steps add a finding: `lane` null and `line` 0 for the log as a whole; `step`
 * (0 for those reported first, else the step 8 to 11 that found it) orders the log's findings.
 */
export type AddFinding = (
  code: AuditCode,
  lane: string | null,
  seq: number | null,
  line: number,
  message: string,
  step: number,
) => void;
