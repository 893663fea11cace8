import type { ChainVerifierOptions } from './chainVerifierOptions.js';

/**
 * What the audit verifier (core/verify/AuditVerifier.ts) is given: its options, and where each entry comes
 * from.
 */

export interface AuditVerifierOptions
  extends Omit<ChainVerifierOptions, 'onEntry' | 'certificates' | 'trustedRootKeys' | 'chain'> {
  trustedRootKeys: string[];
  /**
   * Checkpoint documents as given, unverified: lane checkpoints (`GET /audit/checkpoints` items), epoch
   * statements, and `GET /audit/checkpoint` bodies (a lane checkpoint with `epoch` and `checkpoints`).
   */
  checkpoints?: unknown[];
  /** The parsed `keys.json` (`GET /keys` body), unverified. */
  keys?: unknown;
  /** `--max-age`: the newest signed time must not be older. */
  maxAgeMs?: number;
  /** The verifier's notion of now, for ages. */
  now: Date;
  /**
   * The input is one record checked on its own (`zt-audit verify-record`, asked for by name), not a log:
   * completeness does not apply and references are not checked. Its certificate can come from `keys`.
   * Never set for an input given as a log, whatever its shape: a one-record file is a one-record log
   * (DESIGN.md invariant 7).
   */
  singleRecord?: boolean;
  /**
   * The parsed state file (`zt-audit verify --state`), or null when the file does not exist yet. Its note is
   * verified with `trustedRootKeys`; an unusable one throws `ChainVerifierOptionsError`.
   */
  state?: unknown;
}

/** Where an entry comes from: a lane file of a bundle (`lane`), and its line there. */
export interface EntryPlace {
  /** The lane whose file holds the entry: its records must carry this chain. Absent: the record's own chain. */
  lane?: string;
  /** 1-based line (or element) in its file. Absent: one after the previous entry of the input. */
  line?: number;
}
