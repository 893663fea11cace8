import { CompactRange, EMPTY_ROOT, leafHash } from '../log/merkle.js';
import type { AuditRecord } from '../model/records.js';
import type { AuditFinding } from './auditReport.js';
import { ChainVerifier } from './ChainVerifier.js';
import type { ChainVerifierOptions } from './chainVerifierOptions.js';
import { LaneReferences } from './configReferences.js';

/**
 * One lane of an audit (core/verify/AuditVerifier.ts): the lane's own chain verifier, and beside it, over the
 * same entries, the lane's Merkle frontier, whose root is kept at the sizes signed statements name (checked
 * against them by core/verify/checkpointChecks.ts).
 */

/** One lane of the input: its chain verifier, its Merkle frontier and roots at the sizes statements sign. */
export class LaneAudit {
  readonly chain: ChainVerifier;
  readonly range = new CompactRange();
  /** Sizes at which the streamed root must be kept, and what it was. */
  readonly rootsAt = new Map<number, string | null>();
  /** Timestamp of the record at each such size (the age of an untimed checkpoint). */
  readonly timestampAt = new Map<number, string | null>();
  readonly references: LaneReferences;
  /** Findings of the lane beyond the chain steps (references of old records). */
  readonly findings: AuditFinding[] = [];

  constructor(
    readonly lane: string,
    options: ChainVerifierOptions,
    sizes: Iterable<number>,
    onRecord: (lane: LaneAudit, record: AuditRecord, line: number) => void,
    merkle: boolean,
  ) {
    this.references = new LaneReferences(lane);
    for (const size of sizes) {
      this.rootsAt.set(size, size === 0 ? EMPTY_ROOT.toString('base64') : null);
      this.timestampAt.set(size, null);
    }
    this.chain = new ChainVerifier({
      ...options,
      chain: lane,
      onEntry: (entry) => {
        if (merkle) {
          this.range.append(entry.leafHash ?? leafHash(entry.text ?? ''));
          const size = this.range.size;
          if (this.rootsAt.has(size)) {
            this.rootsAt.set(size, this.range.root().toString('base64'));
            this.timestampAt.set(size, entry.record?.timestamp ?? null);
          }
        }
        if (entry.record) onRecord(this, entry.record, entry.line);
      },
    });
  }
}
