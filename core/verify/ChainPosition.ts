import type { AuditRecord } from '../model/records.js';
import type { VerificationCode } from './verificationCodes.js';

/**
 * Steps 3 and 4 of the chain verifier (core/verify/ChainVerifier.ts), streaming: the chain name, sequence
 * continuity and the `previous_hash` link. It keeps the anchor (highest seq reached in order and its hash), a
 * small window of the last records' seq/hashes, the records that came early and the seqs a jump skipped,
 * never the records.
 *
 * For records out of place, the finding is on the record that moved (for a swapped pair, the one that came
 * early); a deletion is one `SEQ_GAP` on the record after it, and the verifier re-anchors there, so nothing
 * cascades.
 */

/** How many recent in-order records keep their seq/hashes, to check the links around a swapped pair. */
const WINDOW = 8;

/** Where a record sits: all the sequence and link steps need of it. */
interface PositionEntry {
  seq: number;
  hash: string;
  previous: string;
  line: number;
}

/** The last record jumped ahead: enough to undo that if the next record shows it came early. */
interface Jump {
  entry: PositionEntry;
  range: MissingRange | null;
  maxSeq: number | null;
  headHash: string | null;
  unreadable: number;
}

/** seqs skipped by a jump, waiting to learn whether they were deleted or only come later. */
interface MissingRange {
  from: number;
  to: number;
  /** seqs of the range that arrived late (each one is itself a SEQ_OUT_OF_ORDER finding). */
  late: Set<number>;
  /** The record at which the jump was seen. */
  seq: number;
  line: number;
}

/** Where a finding goes: the verifier's list, in the order found. */
type Report = (code: VerificationCode, seq: number | null, line: number, message: string) => void;

/** Where one chain's records sit in their sequence; the steps 3 and 4 findings go to `finding`. */
export class ChainPosition {
  readonly #fromSeq: number;
  readonly #expectPrevious: string;
  #chain: string | null;
  readonly #finding: Report;
  readonly #missing: MissingRange[] = [];
  readonly #window: PositionEntry[] = [];
  /** Records that came early (each one a finding), waiting for their place in the sequence. */
  readonly #early = new Map<number, PositionEntry>();
  #lastJump: Jump | null = null;
  #firstSeq: number | null = null;
  /** The anchor: highest seq reached in order, and its hash. */
  #maxSeq: number | null = null;
  #headHash: string | null = null;
  /** Unreadable entries since the anchor: the next record may legitimately skip that many seqs. */
  #unreadable = 0;

  /**
   * `fromSeq` is the first seq to expect and `expectPrevious` the `previous_hash` it must carry; `chain` the
   * chain name every record must carry, or null for the first record's. The caller checked them.
   */
  constructor(fromSeq: number, expectPrevious: string, chain: string | null, finding: Report) {
    this.#fromSeq = fromSeq;
    this.#expectPrevious = expectPrevious;
    this.#chain = chain;
    this.#finding = finding;
  }

  /** seq of the first record placed in the sequence (normally the first record). */
  get firstSeq(): number | null {
    return this.#firstSeq;
  }

  /** Highest seq reached in order: where the verified chain ends. */
  get lastSeq(): number | null {
    return this.#maxSeq;
  }

  /** `current_hash` of the record at `lastSeq`. */
  get headHash(): string | null {
    return this.#headHash;
  }

  /** An entry that could not be read (step 1 failed): it probably stood for one record. */
  unreadable(): void {
    this.#lastJump = null;
    this.#unreadable++;
  }

  /**
   * The end of the input: each jump whose skipped seqs did not all arrive late is one `SEQ_GAP`, counting
   * those still missing.
   */
  finish(): void {
    for (const range of this.#missing) {
      const count = range.to - range.from + 1 - range.late.size;
      if (count === 0) continue;
      const span = range.from === range.to ? `seq ${range.from}` : `seqs ${range.from}-${range.to}`;
      this.#finding(
        'SEQ_GAP',
        range.seq,
        range.line,
        `expected seq ${range.from}, got ${range.seq}: ${count} record${count > 1 ? 's' : ''} missing (${span})`,
      );
    }
  }

  /** Steps 3 and 4: chain name, sequence continuity and the `previous_hash` link. */
  check(record: AuditRecord, line: number): void {
    this.#chain ??= record.chain;
    if (record.chain !== this.#chain) {
      this.#finding(
        'CHAIN_NAME_MISMATCH',
        record.seq,
        line,
        `record belongs to chain \`${record.chain}\`, expected \`${this.#chain}\``,
      );
    }
    const jump = this.#lastJump;
    this.#lastJump = null;
    const entry: PositionEntry = {
      seq: record.seq,
      hash: record.current_hash,
      previous: record.previous_hash,
      line,
    };
    this.#place(entry, jump);
  }

  #place(entry: PositionEntry, jump: Jump | null): void {
    const { seq, line } = entry;
    const first = this.#maxSeq === null;
    const expected = first ? this.#fromSeq : (this.#maxSeq as number) + 1;

    if (seq === expected) {
      this.#checkLink(
        entry,
        first ? this.#expectPrevious : (this.#headHash as string),
        first && this.#fromSeq === 1,
      );
      this.#anchor(entry);
      return;
    }

    if (seq > expected) {
      // A jump: records deleted, or coming later, or this one came early. Decided at the end (SEQ_GAP
      // unless the skipped records arrive late); re-anchor here either way, so one deletion is one finding.
      const early = this.#early.get(expected);
      if (early) {
        // A record that came early and was set aside takes its place first.
        this.#early.delete(expected);
        this.#place(early, null);
        this.#place(entry, null);
        return;
      }
      // Unreadable entries in between probably stood for the skipped seqs.
      const skipped = seq - expected - this.#unreadable;
      const range =
        skipped > 0 ? { from: seq - skipped, to: seq - 1, late: new Set<number>(), seq, line } : null;
      if (range) this.#missing.push(range);
      this.#lastJump = {
        entry,
        range,
        maxSeq: this.#maxSeq,
        headHash: this.#headHash,
        unreadable: this.#unreadable,
      };
      this.#anchor(entry);
      return;
    }

    // seq < expected: the sequence went backwards.
    const lowest = jump ? (jump.maxSeq ?? this.#fromSeq - 1) : Number.POSITIVE_INFINITY;
    if (jump && seq > lowest && seq < jump.entry.seq) {
      // The previous record jumped ahead and this one picks up where the chain was: the previous
      // record came early (moved or swapped). Set it aside, undo the jump, and place this one.
      this.#finding(
        'SEQ_OUT_OF_ORDER',
        jump.entry.seq,
        jump.entry.line,
        `record comes before seq ${seq}: records are out of order (swapped or moved)`,
      );
      if (jump.range) this.#missing.splice(this.#missing.indexOf(jump.range), 1);
      this.#window.pop();
      this.#maxSeq = jump.maxSeq;
      this.#headHash = jump.headHash;
      this.#unreadable = jump.unreadable;
      if (jump.maxSeq === null) this.#firstSeq = null;
      this.#early.set(jump.entry.seq, jump.entry);
      this.#place(entry, null);
      return;
    }
    const range = this.#missing.find((r) => seq >= r.from && seq <= r.to && !r.late.has(seq));
    if (range) {
      range.late.add(seq);
      this.#finding(
        'SEQ_OUT_OF_ORDER',
        seq,
        line,
        `record comes after seq ${range.seq}: records are out of order (swapped or moved)`,
      );
      this.#checkLateLinks(entry);
      return;
    }
    if (first || seq < (this.#firstSeq ?? seq)) {
      this.#finding('SEQ_OUT_OF_ORDER', seq, line, `record precedes the first expected seq ${expected}`);
      return;
    }
    const same = this.#window.find((w) => w.seq === seq);
    this.#finding(
      'SEQ_DUPLICATE',
      seq,
      line,
      same && same.hash !== entry.hash
        ? `a different record with seq ${seq} was already seen (line ${same.line}): the chain forks`
        : `seq ${seq} was already seen`,
    );
  }

  #checkLink(entry: PositionEntry, previous: string, genesis: boolean): void {
    if (entry.previous === previous) return;
    this.#finding(
      'LINK_BROKEN',
      entry.seq,
      entry.line,
      genesis
        ? 'previous_hash of the first record is not the genesis hash'
        : `previous_hash does not match the current_hash of record ${entry.seq - 1}`,
    );
  }

  /** A record that came late: check its links to the neighbours still in the window. */
  #checkLateLinks(entry: PositionEntry): void {
    const before = this.#window.find((w) => w.seq === entry.seq - 1);
    if (before) this.#checkLink(entry, before.hash, false);
    const after = this.#window.find((w) => w.seq === entry.seq + 1);
    if (after) this.#checkLink(after, entry.hash, false);
  }

  #anchor(entry: PositionEntry): void {
    this.#firstSeq ??= entry.seq;
    this.#maxSeq = entry.seq;
    this.#headHash = entry.hash;
    this.#unreadable = 0;
    this.#window.push(entry);
    if (this.#window.length > WINDOW) this.#window.shift();
  }
}
