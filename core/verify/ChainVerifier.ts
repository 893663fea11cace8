import type { KeyObject } from 'node:crypto';
import { ZtError } from '../errors/errors.js';
import { certifiedKeyOf, KeyTrust, KeyTrustError, short, type TrustedKey } from '../keys/keyTrust.js';
import { verifySignature } from '../keys/signing.js';
import { sha256Hex } from '../model/canonical.js';
import { canonicalRecordParts } from '../model/canonicalRecord.js';
import { HASH_PATTERN, RecordFormatError } from '../model/recordFormat.js';
import { type InspectedRecord, inspectAuditRecord, validateAuditRecord } from '../model/recordParser.js';
import { type AuditRecord, GENESIS_HASH, type KeyRecord, type RecordKind } from '../model/records.js';

/**
 * The audit chain verifier: a pure library (no I/O) that trusts nothing but the root public keys
 * (DESIGN.md invariant 5). It streams: feed records one at a time, in stored order, and read the
 * report at the end. Memory stays flat: it keeps the anchor (highest seq seen and its hash), a small
 * window of the last records' seq/hashes, the key table and the findings, never the records.
 *
 * Each record runs through fixed, ordered steps:
 *   1. parse and schema (`PARSE_ERROR`, `SCHEMA_INVALID`, `NOT_CANONICAL`)
 *   2. canonical hash (`HASH_MISMATCH`)
 *   3. chain name and sequence continuity (`CHAIN_NAME_MISMATCH`, `SEQ_GAP`, `SEQ_DUPLICATE`, `SEQ_OUT_OF_ORDER`)
 *   4. `previous_hash` link (`LINK_BROKEN`)
 *   5. signature: key resolution (root or certified session key), window, ECDSA check
 *      (`UNKNOWN_SIGNING_KEY`, `KEY_ID_MISMATCH`, `SESSION_KEY_OUTSIDE_WINDOW`, `SIGNATURE_INVALID`)
 *   6. for `kind: key` records, the certificate (`CERTIFICATE_NOT_ROOT_SIGNED`, `CERTIFICATE_INVALID`)
 *
 * Which keys are trusted, how a certificate makes a session key trusted and for which window, is the
 * rule of core/keys/keyTrust.ts, shared with receipts, the SDK and the signer.
 *
 * Findings name the record they are about (`seq`, `line`). For records out of place, the finding is on
 * the record that moved (for a swapped pair, the one that came early); a deletion is one `SEQ_GAP` on the
 * record after it, and the verifier re-anchors there, so nothing cascades.
 *
 * What it cannot see: a cut tail. A log missing its newest records is a valid, shorter chain;
 * `lastSeq`/`headHash` say where it ends, and a signed checkpoint covering the head makes a cut
 * detectable (a later step, outside this class).
 */

/** Stable finding codes; tests and the CLI map on these, never on message text. */
export const VERIFICATION_CODES = [
  'PARSE_ERROR',
  'SCHEMA_INVALID',
  'NOT_CANONICAL',
  'HASH_MISMATCH',
  'CHAIN_NAME_MISMATCH',
  'SEQ_GAP',
  'SEQ_DUPLICATE',
  'SEQ_OUT_OF_ORDER',
  'LINK_BROKEN',
  'UNKNOWN_SIGNING_KEY',
  'KEY_ID_MISMATCH',
  'SESSION_KEY_OUTSIDE_WINDOW',
  'SIGNATURE_INVALID',
  'CERTIFICATE_NOT_ROOT_SIGNED',
  'CERTIFICATE_INVALID',
  'KEYS_CERTIFICATE_INVALID',
  'EMPTY_LOG',
  'NO_TRUSTED_KEYS',
] as const;

export type VerificationCode = (typeof VERIFICATION_CODES)[number];

export interface VerificationFinding {
  code: VerificationCode;
  /** The seq of the record at `line` (when it could be read), null otherwise. */
  seq: number | null;
  /** 1-based position of the entry in the input (line of a JSONL file, element of an array); 0 for the log as a whole. */
  line: number;
  message: string;
}

export interface VerificationReport {
  /** True when there is no finding at all. */
  ok: boolean;
  /** Entries examined (blank lines are not entries). */
  records: number;
  /** seq of the first record placed in the sequence (normally the first record). */
  firstSeq: number | null;
  /** Highest seq reached in order: where the verified chain ends. */
  lastSeq: number | null;
  /** `current_hash` of the record at `lastSeq`: the `expectPrevious` of a later suffix. */
  headHash: string | null;
  /** Key ids that verified at least one signature, in order of first use. */
  keysUsed: string[];
  /** In input order (then step order within an entry). */
  findings: VerificationFinding[];
}

export interface ChainVerifierOptions {
  /** SPKI PEM public keys of the root signers. The only trust anchor. */
  trustedRootKeys: string[];
  /**
   * seq of the first record to expect (default 1), to verify a suffix of a chain. Only root keys are
   * known at the start: records signed by a session key certified before `fromSeq` are reported as
   * `UNKNOWN_SIGNING_KEY` (start a suffix at a `kind: key` record, or from 1).
   */
  fromSeq?: number;
  /** `previous_hash` the first record must carry: required when `fromSeq > 1`, genesis by default otherwise. */
  expectPrevious?: string;
  /** The chain name every record must carry; by default the first readable record's. */
  chain?: string;
  /**
   * `kind: key` records from outside the input (the `certificate` of each session key in `GET /keys`, a
   * receipt's certificate), for a suffix or a single record whose certificate is not in the input. Each
   * is checked like a key record of the chain (schema, hash, root signature, certified id) before its
   * session key is trusted; one that fails is a `KEYS_CERTIFICATE_INVALID` finding and adds nothing.
   * They can only add session keys: the trust anchor stays `trustedRootKeys`.
   */
  certificates?: unknown[];
  /**
   * Leave the ECDSA checks of non-key records to the caller (worker threads): they queue up as
   * {@link DeferredSignatureCheck}s, taken with {@link ChainVerifier.takeSignatureChecks} and answered
   * with {@link ChainVerifier.settleSignatures}. Key records still settle inline: the key table of the
   * records after them depends on their result.
   */
  deferSignatures?: boolean;
  /**
   * Sees every entry in input order: its stored text (for a parsed record, its canonical text) and the
   * record when it passed the schema. For what is computed over the whole log beside the chain steps
   * (the Merkle tree of checkpoints, references).
   */
  onEntry?: (entry: ChainEntry) => void;
}

/** One entry of the input, as {@link ChainVerifierOptions.onEntry} sees it. */
export interface ChainEntry {
  line: number;
  /**
   * The bytes of its Merkle leaf: the stored line, or the canonical text of a parsed record; null for a
   * line added with {@link ChainVerifier.addPrepared}, whose leaf hash was computed with it (`leafHash`).
   */
  text: string | null;
  /** The RFC 6962 leaf hash of `text`, when it was computed elsewhere (a prepared line). */
  leafHash?: Uint8Array;
  /**
   * The record, when it passed the schema (it may still fail later steps). For a prepared line, the
   * reduced record of {@link prepareLine}: the fields the sequential steps and the reference checks read.
   */
  record: AuditRecord | null;
}

/** A signature check handed to the caller in `deferSignatures` mode. */
export interface DeferredSignatureCheck extends SignatureCheck {
  /** Answer with this id. */
  id: number;
}

/** The verifier was given unusable options (a bad PEM, `fromSeq` without `expectPrevious`): a usage error, not a finding. */
export class ChainVerifierOptionsError extends ZtError {
  constructor(message: string) {
    super('INVALID_VERIFIER_OPTIONS', message);
  }
}

/** The verification step a code is found at (0 for codes of no step), to order one entry's findings. */
export function verificationStep(code: string): number {
  return (STEP as Partial<Record<string, number>>)[code] ?? 0;
}

/** Step of each code, to order the findings of one entry as the steps run. */
const STEP: Record<VerificationCode, number> = {
  EMPTY_LOG: 0,
  NO_TRUSTED_KEYS: 0,
  PARSE_ERROR: 1,
  SCHEMA_INVALID: 1,
  NOT_CANONICAL: 1,
  HASH_MISMATCH: 2,
  CHAIN_NAME_MISMATCH: 3,
  SEQ_GAP: 3,
  SEQ_DUPLICATE: 3,
  SEQ_OUT_OF_ORDER: 3,
  LINK_BROKEN: 4,
  UNKNOWN_SIGNING_KEY: 5,
  KEY_ID_MISMATCH: 5,
  SESSION_KEY_OUTSIDE_WINDOW: 5,
  SIGNATURE_INVALID: 5,
  CERTIFICATE_NOT_ROOT_SIGNED: 6,
  CERTIFICATE_INVALID: 6,
  KEYS_CERTIFICATE_INVALID: 0,
};

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

/**
 * The self-contained part of a signature check: a pure function of (key, payload, signature).
 * Kept apart from the structural steps so that a later version can batch these to worker threads;
 * only `kind: key` records must settle inline (their result changes the key table for what follows).
 */
export interface SignatureCheck {
  keyId: string;
  /** The canonical payload (the record without `current_hash`, `kms_signature`); its SHA-256 is what was signed. */
  payload: string;
  signature: string;
}

interface PendingSignature {
  check: SignatureCheck;
  key: TrustedKey;
  record: AuditRecord;
  line: number;
}

/**
 * Verifies one chain, streaming. Feed it entries in stored order with {@link add} (a JSONL line) or
 * {@link addRecord} (an already-parsed record), then call {@link finish}.
 */
export class ChainVerifier {
  readonly #fromSeq: number;
  readonly #expectPrevious: string;
  #chain: string | null;
  /** The roots and the session keys certified so far (core/keys/keyTrust.ts). */
  readonly #trust: KeyTrust;
  readonly #keysUsed = new Set<string>();
  readonly #findings: Array<VerificationFinding & { order: number }> = [];
  /** First finding of each unknown key id, so one missing certificate does not flood the report. */
  readonly #unknownKeys = new Map<string, { finding: VerificationFinding; more: number }>();
  readonly #missing: MissingRange[] = [];
  readonly #window: PositionEntry[] = [];
  /** Records that came early (each one a finding), waiting for their place in the sequence. */
  readonly #early = new Map<number, PositionEntry>();
  #lastJump: Jump | null = null;
  readonly #noTrust: boolean;
  readonly #defer: boolean;
  readonly #onEntry: ((entry: ChainEntry) => void) | null;
  #nextCheckId = 0;
  #queued: DeferredSignatureCheck[] = [];
  readonly #inFlight = new Map<number, PendingSignature>();

  #line = 0;
  #entries = 0;
  #firstSeq: number | null = null;
  /** The anchor: highest seq reached in order, and its hash. */
  #maxSeq: number | null = null;
  #headHash: string | null = null;
  /** Unreadable entries since the anchor: the next record may legitimately skip that many seqs. */
  #unreadable = 0;
  #report: VerificationReport | null = null;

  constructor(opts: ChainVerifierOptions) {
    const fromSeq = opts.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new ChainVerifierOptionsError(`fromSeq must be an integer >= 1, got ${fromSeq}`);
    }
    if (opts.expectPrevious !== undefined && !HASH_PATTERN.test(opts.expectPrevious)) {
      throw new ChainVerifierOptionsError('expectPrevious must be 64 lower-case hex digits');
    }
    if (fromSeq > 1 && opts.expectPrevious === undefined) {
      throw new ChainVerifierOptionsError(
        `verifying from seq ${fromSeq} needs expectPrevious: the current_hash of record ${fromSeq - 1}`,
      );
    }
    this.#fromSeq = fromSeq;
    this.#expectPrevious = opts.expectPrevious ?? GENESIS_HASH;
    this.#chain = opts.chain ?? null;
    try {
      this.#trust = new KeyTrust(opts.trustedRootKeys);
    } catch (e) {
      if (e instanceof KeyTrustError) throw new ChainVerifierOptionsError(e.message);
      throw e;
    }
    this.#noTrust = this.#trust.rootKeyIds.length === 0;
    this.#defer = opts.deferSignatures === true;
    this.#onEntry = opts.onEntry ?? null;
    if (this.#noTrust) {
      this.#finding(
        'NO_TRUSTED_KEYS',
        null,
        0,
        'no trusted root key was given, so no signature can be checked',
      );
    }
    for (const certificate of opts.certificates ?? []) this.#addCertificate(certificate);
  }

  /** A key record from outside the input: checked in full by the trust rule, findings kept apart. */
  #addCertificate(value: unknown): void {
    const verdict = this.#trust.addCertificate(value);
    if (verdict.ok) return;
    const seq = (value as { seq?: unknown } | null)?.seq;
    this.#finding(
      'KEYS_CERTIFICATE_INVALID',
      typeof seq === 'number' ? seq : null,
      0,
      `key certificate is not usable: ${verdict.message}`,
    );
  }

  /** Signature checks queued since the last call (`deferSignatures` mode); the caller must settle each. */
  takeSignatureChecks(): DeferredSignatureCheck[] {
    const checks = this.#queued;
    this.#queued = [];
    return checks;
  }

  /** Checks taken but not settled yet, plus those still queued. */
  get pendingSignatureChecks(): number {
    return this.#inFlight.size;
  }

  /** The PEM of a key a check names, for the caller that runs the check elsewhere. */
  publicKeyPem(keyId: string): string {
    const key = this.#trust.get(keyId);
    if (!key) throw new Error(`unknown key \`${keyId}\``);
    return key.publicKeyPem;
  }

  /** Results of deferred checks: `valid[i]` (true or 1) answers `ids[i]`. */
  settleSignatures(ids: ArrayLike<number>, valid: ArrayLike<boolean | number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const pending = this.#inFlight.get(id);
      if (!pending) throw new Error(`no pending signature check ${id}`);
      this.#inFlight.delete(id);
      this.#settleSignature(pending, valid[i] === true || valid[i] === 1);
    }
  }

  /** Runs the queued deferred checks here, synchronously (small inputs, no worker threads). */
  settleQueuedInline(): void {
    for (const check of this.takeSignatureChecks()) {
      const pending = this.#inFlight.get(check.id) as PendingSignature;
      this.#inFlight.delete(check.id);
      this.#settleSignature(pending, this.#runCheck(pending));
    }
  }

  /**
   * Verifies one stored line (a JSONL line without its newline). Blank lines are counted but skipped.
   * `at` is its line number in the input (default: one more than the previous entry's), for an input whose
   * lines this verifier does not all see (a log of several lanes read from one file).
   */
  add(line: string, at?: number): void {
    if (line.trim() === '') {
      this.#assertOpen();
      this.#line = at ?? this.#line + 1;
      return;
    }
    this.addInspected(line, inspectAuditRecord(line), at);
  }

  /** {@link add} for a line already run through `inspectAuditRecord` (to read its chain first). */
  addInspected(line: string, inspected: InspectedRecord, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    this.#onEntry?.({ line: lineNo, text: line, record: inspected.record });
    if (inspected.record === null) {
      this.#unreadableEntry(inspected.error, inspected.parsed, lineNo);
      return;
    }
    if (inspected.error)
      this.#finding(inspected.error.code, inspected.record.seq, lineNo, inspected.error.message);
    this.#verifyRecord(inspected.record, lineNo, inspected.payload);
  }

  /**
   * Verifies one already-parsed record (an element of a JSON array, the `audit` of a decision response).
   * Same steps as {@link add} except the canonical-text check: there is no stored text to compare.
   */
  addRecord(record: AuditRecord | Record<string, unknown>, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    let valid: AuditRecord;
    let parts: { text: string; payload: string };
    try {
      valid = validateAuditRecord(record);
      parts = canonicalRecordParts(valid);
    } catch (e) {
      if (!(e instanceof RecordFormatError)) throw e;
      this.#onEntry?.({ line: lineNo, text: JSON.stringify(record) ?? '', record: null });
      this.#unreadableEntry(e, record, lineNo);
      return;
    }
    this.#onEntry?.({ line: lineNo, text: parts.text, record: valid });
    this.#verifyRecord(valid, lineNo, parts.payload);
  }

  /**
   * Adds one stored line that {@link prepareLine} (on a worker thread) took through every step that needs
   * no sequential state: it parsed, passed the schema, is canonical, its hash matches, it is not a key
   * record, and its signature verifies with the key its `kms_signature.key_id` names (an id is the hash of
   * the key, so that fact holds whoever checked it). What remains runs here, exactly as {@link add} would:
   * sequence, link, whether that key is trusted for this record (root, or a session key certified earlier
   * for its time), and the key's use. `leaf` is the RFC 6962 leaf hash of the line, for `onEntry`.
   */
  addPrepared(record: AuditRecord, leaf: Uint8Array, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    this.#onEntry?.({ line: lineNo, text: null, leafHash: leaf, record });
    this.#checkPosition(record, lineNo);
    if (this.#noTrust) return;
    // The ECDSA check already passed; the payload is not needed to settle it.
    const pending = this.#prepareSignature(record, lineNo, '');
    if (pending) this.#settleSignature(pending, true);
  }

  /** Ends the input and returns the report. Further `add` calls throw; `finish` again returns the same report. */
  finish(): VerificationReport {
    if (this.#report) return this.#report;
    if (this.#inFlight.size > 0) {
      throw new Error(`${this.#inFlight.size} deferred signature checks were not settled`);
    }
    if (this.#entries === 0) this.#finding('EMPTY_LOG', null, 0, 'the log holds no record');
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
    for (const { finding, more } of this.#unknownKeys.values()) {
      if (more > 0) finding.message += ` (and ${more} later record${more > 1 ? 's' : ''} signed by it)`;
    }
    const findings = [...this.#findings]
      .sort((a, b) => a.line - b.line || STEP[a.code] - STEP[b.code] || a.order - b.order)
      .map(({ code, seq, line, message }) => ({ code, seq, line, message }));
    this.#report = {
      ok: findings.length === 0,
      records: this.#entries,
      firstSeq: this.#firstSeq,
      lastSeq: this.#maxSeq,
      headHash: this.#headHash,
      keysUsed: [...this.#keysUsed],
      findings,
    };
    return this.#report;
  }

  #assertOpen(): void {
    if (this.#report) throw new Error('ChainVerifier.finish() was already called');
  }

  #finding(code: VerificationCode, seq: number | null, line: number, message: string): VerificationFinding {
    const finding = { code, seq, line, message, order: this.#findings.length };
    this.#findings.push(finding);
    return finding;
  }

  /** Step 1 failed: nothing in the entry can be trusted, but it probably stood for one record. */
  #unreadableEntry(error: RecordFormatError, parsed: unknown, line: number): void {
    this.#lastJump = null;
    const claimed = (parsed as { seq?: unknown } | null)?.seq;
    const seq = typeof claimed === 'number' && Number.isSafeInteger(claimed) && claimed > 0 ? claimed : null;
    this.#finding(error.code, seq, line, error.message);
    this.#unreadable++;
  }

  #verifyRecord(record: AuditRecord, line: number, payload: string): void {
    // Step 2: the hash covers every field but current_hash and kms_signature.
    const hashOk = sha256Hex(payload) === record.current_hash;
    if (!hashOk) {
      this.#finding(
        'HASH_MISMATCH',
        record.seq,
        line,
        'current_hash is not the SHA-256 of the canonical record: a hashed field was changed',
      );
    }
    // Steps 3 and 4.
    this.#checkPosition(record, line);
    // Step 5: a record whose content is not what was hashed has nothing meaningful to verify.
    if (!hashOk || this.#noTrust) return;
    const pending = this.#prepareSignature(record, line, payload);
    if (!pending) return;
    if (this.#defer && record.kind !== 'key') {
      const id = this.#nextCheckId++;
      this.#inFlight.set(id, pending);
      this.#queued.push({ id, ...pending.check });
      return;
    }
    this.#settleSignature(pending, this.#runCheck(pending));
  }

  /** Steps 3 and 4: chain name, sequence continuity and the `previous_hash` link. */
  #checkPosition(record: AuditRecord, line: number): void {
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

  /** Step 5, structural half: resolve the signing key and its window. Returns the check to run, or null. */
  #prepareSignature(record: AuditRecord, line: number, payload: string): PendingSignature | null {
    const { seq, kms_signature: sig } = record;
    // Resolve the key the signature claims first: a signature swapped in from a foreign key (key_id
    // and all) is an unknown key, whatever signing_key_id says.
    const key = this.#trust.get(sig.key_id);
    if (!key) {
      this.#unknownKey(sig.key_id, seq, line);
      return null;
    }
    if (record.signing_key_id !== sig.key_id) {
      this.#finding(
        'KEY_ID_MISMATCH',
        seq,
        line,
        `signing_key_id ${short(record.signing_key_id)} and kms_signature.key_id ${short(sig.key_id)} differ`,
      );
      return null;
    }
    // The window rule (half-open, [not_before, not_after)) is core/keys/keyTrust.ts's, shared with the signer.
    const resolved = this.#trust.resolve(key.keyId, record.timestamp);
    if (!resolved.ok) {
      this.#finding(resolved.code, seq, line, resolved.message);
      return null;
    }
    return { check: { keyId: key.keyId, payload, signature: sig.signature }, key, record, line };
  }

  #unknownKey(keyId: string, seq: number, line: number): void {
    const seen = this.#unknownKeys.get(keyId);
    if (seen) {
      seen.more++;
      return;
    }
    const finding = this.#finding(
      'UNKNOWN_SIGNING_KEY',
      seq,
      line,
      `signed by ${short(keyId)}, which is neither a trusted root key nor certified by an earlier valid key record`,
    );
    this.#unknownKeys.set(keyId, { finding, more: 0 });
  }

  /** Step 5, the pure half: the ECDSA check itself (a worker-thread candidate). */
  #runCheck(pending: PendingSignature): boolean {
    return verifySignature(pending.key.publicKey, pending.check.payload, pending.check.signature);
  }

  /** Step 5 result, then step 6 for key records. */
  #settleSignature(pending: PendingSignature, valid: boolean): void {
    const { record, line, key } = pending;
    if (!valid) {
      this.#finding(
        'SIGNATURE_INVALID',
        record.seq,
        line,
        `signature does not verify with ${key.role} key ${short(key.keyId)}`,
      );
      return;
    }
    this.#keysUsed.add(key.keyId);
    if (record.kind === 'key') this.#certify(record, line, key);
  }

  /** Step 6: a valid key record signed by a root key adds a session key window to the trust set. */
  #certify(record: KeyRecord, line: number, signer: TrustedKey): void {
    const verdict = this.#trust.certify(record, signer.keyId);
    if (!verdict.ok) this.#finding(verdict.code, record.seq, line, verdict.message);
  }
}

/** Fields a prepared record keeps beyond the base ones: what the reference checks read, per kind. */
const PREPARED_FIELDS: Record<RecordKind, readonly string[]> = {
  decision: ['actor', 'decision', 'policy_ids', 'config_version'],
  outcome: [],
  policy: ['policy_id', 'change', 'config_version', 'mode'],
  agent: ['agent_id', 'change', 'config_version'],
  key: [],
  schema: ['config_version'],
  approval: ['principal_arn', 'decision_id', 'verdict', 'params_sha256', 'expires_at'],
};

/** Fields a prepared decision keeps when it asks for or claims an approval (core/verify/approvalReferences.ts). */
const APPROVAL_DECISION_FIELDS = [
  'principal_arn',
  'action',
  'resource',
  'context_sha256',
  'params_sha256',
  'approvals_required',
  'approval_expires_at',
  'approval_id',
  'approvals',
] as const;

/** What {@link prepareLine} found of one stored line. */
export interface PreparedLine {
  /**
   * The reduced record (base fields the sequential steps read, `kms_signature.key_id`, and the fields of
   * {@link PREPARED_FIELDS}) when the line passed every independent step; null when it did not or could not
   * be decided here (then verify the line itself with {@link ChainVerifier.add}, which reports why).
   */
  record: AuditRecord | null;
  /** For a readable `kind: key` line whose PEM is a P-256 key with the id it claims: that key. */
  certifiedKey: { keyId: string; pem: string; publicKey: KeyObject } | null;
}

const NOT_PREPARED: PreparedLine = { record: null, certifiedKey: null };

/**
 * The per-line work of verification that needs no sequential state, for worker threads: parse, schema,
 * canonical text, the canonical hash, and the ECDSA check under the key that `kms_signature.key_id` names,
 * looked up in `keys` (key id -> key; any key whose id was computed from it, trusted or not: whether it
 * may sign this record is decided in order by {@link ChainVerifier.addPrepared}). Only a line that passes
 * all of them is prepared; anything else (a finding, a key record, a key `keys` does not hold) is left to
 * {@link ChainVerifier.add}, so findings are exactly those of the inline path.
 */
export function prepareLine(text: string, keys: ReadonlyMap<string, KeyObject>): PreparedLine {
  const inspected = inspectAuditRecord(text);
  const record = inspected.record;
  if (record === null || inspected.error !== null) return NOT_PREPARED;
  if (record.kind === 'key') {
    const certified = certifiedKeyOf(record);
    return { record: null, certifiedKey: 'error' in certified ? null : certified };
  }
  const sig = record.kms_signature;
  if (record.signing_key_id !== sig.key_id) return NOT_PREPARED;
  const key = keys.get(sig.key_id);
  if (key === undefined) return NOT_PREPARED;
  // Encoded once for both: the hash and the ECDSA check cover the same bytes.
  const payload = Buffer.from(inspected.payload, 'utf8');
  if (sha256Hex(payload) !== record.current_hash) return NOT_PREPARED;
  if (!verifySignature(key, payload, sig.signature)) return NOT_PREPARED;
  const r = record as unknown as Record<string, unknown>;
  const reduced: Record<string, unknown> = {
    seq: record.seq,
    chain: record.chain,
    kind: record.kind,
    timestamp: record.timestamp,
    signing_key_id: record.signing_key_id,
    previous_hash: record.previous_hash,
    current_hash: record.current_hash,
    kms_signature: { key_id: sig.key_id },
  };
  for (const field of PREPARED_FIELDS[record.kind]) if (Object.hasOwn(r, field)) reduced[field] = r[field];
  // The approval checks read more of the few decisions that ask for or claim an approval.
  if (
    record.kind === 'decision' &&
    (record.decision === 'approval_required' || record.approval_id !== undefined)
  ) {
    for (const field of APPROVAL_DECISION_FIELDS) if (Object.hasOwn(r, field)) reduced[field] = r[field];
  }
  return { record: reduced as unknown as AuditRecord, certifiedKey: null };
}

/** Verifies a whole chain given as stored lines (JSONL). */
export function verifyChain(lines: Iterable<string>, opts: ChainVerifierOptions): VerificationReport {
  const verifier = new ChainVerifier(opts);
  for (const line of lines) verifier.add(line);
  return verifier.finish();
}
