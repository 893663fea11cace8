import { keyIdOf } from '../keys/signing.js';
import { type Checkpoint, laneOfOrigin, logOriginOf, verifyCheckpoint } from '../log/checkpoint.js';
import { compareLanes, isEpochBody, type ParsedEpochNote, verifyEpoch } from '../log/epoch.js';
import { CompactRange, EMPTY_ROOT, leafHash } from '../log/merkle.js';
import { inspectAuditRecord } from '../model/recordParser.js';
import type { AuditRecord } from '../model/records.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../model/records.js';
import { type ApprovalFinding, ApprovalReferences } from './approvalReferences.js';
import { ChainVerifier } from './ChainVerifier.js';
import {
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
  type DeferredSignatureCheck,
} from './chainVerifierOptions.js';
import { ConfigReferences, LaneReferences, type ReferenceFinding } from './configReferences.js';
import { type VERIFICATION_CODES, type VerificationFinding, verificationStep } from './verificationCodes.js';
import { type RememberedLog, readVerifierState } from './verifierState.js';

/**
 * The whole-log verification an auditor runs on an export (DESIGN.md invariant 5), pure and streaming. The
 * log is a set of lanes, each its own hash chain (`chain` = the lane, seq from 1, genesis link), verified
 * independently by the chain steps of {@link ChainVerifier}; then, over the same single pass,
 *
 *   7. keys file: its root must be one of the trusted roots (`KEYS_ROOT_MISMATCH`), its session keys
 *      count only through their root-signed certificates (`KEYS_CERTIFICATE_INVALID`), each in its own lane;
 *   8. checkpoints: each lane checkpoint and each epoch statement signed by a trusted root (`CHECKPOINT_*`
 *      of core/log/checkpoint.ts); every lane's root at each signed size equal to the RFC 6962 root of its first
 *      `size` records (`CHECKPOINT_ROOT_MISMATCH`; an earlier statement that disagrees while a later one
 *      matches, or two statements that disagree, `CHECKPOINT_INCONSISTENT`), no lane shorter than signed
 *      (`LOG_TRUNCATED`), no lane the newest epoch names missing from the input (`LANE_MISSING`), every
 *      record covered (`TAIL_NOT_COVERED`, `LANE_NOT_COVERED`), an epoch for a log of this release
 *      (`NO_EPOCH`), a checkpoint at all (`NO_CHECKPOINT`);
 *   9. freshness: the newest signed time not older than `maxAgeMs` (`CHECKPOINT_STALE`); the newest epoch's
 *      time, else the newest lane checkpoint's, else (notes from before signed times) the newest record a
 *      checkpoint covers, an upper bound on its age;
 *  10. references: through configuration versions across lanes (core/verify/configReferences.ts), and the
 *      same-lane rules for records without one; approvals: every claimed allow rests on valid approval
 *      records by distinct approvers (core/verify/approvalReferences.ts);
 *  11. memory (`state`): the newest statement a previous valid run accepted; an older epoch
 *      (`STATE_ROLLBACK`), one that does not extend it (`STATE_INCONSISTENT`), or another log's
 *      (`STATE_ORIGIN_MISMATCH`) is tamper evidence.
 *
 * What a bundle proves on its own: that the log was whole up to the signed time of the newest statement it
 * carries. A bundle cut back to an older genuine epoch, with that epoch inside it, verifies; only a verifier
 * that remembers a newer one (`state`), or `maxAgeMs`, tells it apart.
 *
 * The Merkle roots are computed incrementally (`CompactRange`); references are grouped by version (flat in
 * the number of records): memory stays flat.
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

interface ValidCheckpoint {
  lane: string;
  origin: string;
  size: number;
  root: string;
  time: string | null;
  note: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The checkpoint documents in a `--checkpoint` file: one lane checkpoint, a `GET /audit/checkpoints` body,
 * an array, an epoch, or a `GET /audit/checkpoint` body (its lane checkpoint, its `epoch` and its
 * `checkpoints`; the top-level lane's copy in `checkpoints` is the same note and counted once).
 */
export function checkpointsOf(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc.flatMap((d) => checkpointsOf(d));
  if (isObject(doc) && Array.isArray(doc['checkpoints'])) {
    const out: unknown[] = [];
    if (typeof doc['note'] === 'string') out.push(doc);
    if (doc['epoch'] !== undefined) out.push(doc['epoch']);
    const notes = new Set(out.map((o) => (isObject(o) ? o['note'] : undefined)));
    for (const cp of doc['checkpoints'] as unknown[]) {
      if (!(isObject(cp) && notes.has(cp['note']))) out.push(cp);
    }
    return out;
  }
  return [doc];
}

const DURATION = /^([0-9]{1,12})(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `7d`, `500ms` in milliseconds; null when it is none of these. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : null;
}

/** `2d 3h`, `5m 2s`, `800ms`: the two largest units. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size || (parts.length > 0 && parts.length < 2)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** One lane of the input: its chain verifier, its Merkle frontier and roots at the sizes statements sign. */
class LaneAudit {
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

/**
 * Verifies an exported log streaming, in one pass: feed entries with {@link add} / {@link addRecord} /
 * {@link addPrepared} (in `deferSignatures` mode, run the checks of {@link takeSignatureChecks}), then
 * {@link finish}. Entries are sorted into lanes by their `chain` (one file holding several lanes), or by the
 * lane file they come from ({@link EntryPlace.lane}, a bundle).
 */
export class AuditVerifier {
  readonly #opts: AuditVerifierOptions;
  readonly #laneOptions: ChainVerifierOptions;
  readonly #lanes = new Map<string, LaneAudit>();
  readonly #findings: Array<AuditFinding & { step: number }> = [];
  readonly #checkpoints: ValidCheckpoint[] = [];
  readonly #epochs: ParsedEpochNote[] = [];
  /** Per lane: the sizes some statement (checkpoint, epoch, state) signs, to keep the root at. */
  readonly #sizes = new Map<string, Set<number>>();
  /** Certificates from the keys file, by the lane of their record. */
  readonly #certificates = new Map<string, unknown[]>();
  readonly #config = new ConfigReferences();
  readonly #approvals = new ApprovalReferences();
  readonly #remembered: RememberedLog | null;
  readonly #fromStart: boolean;
  readonly #single: boolean;
  readonly #checkReferences: boolean;
  readonly #now: number;
  #line = 0;
  /** Lane of the previous entry: an unreadable entry of a mixed input is counted there. */
  #lastLane: string | null = null;
  /** Whether entries came with their lane file (a bundle): findings are then ordered by lane, then line. */
  #byLaneFile = false;
  #report: AuditReport | null = null;

  constructor(opts: AuditVerifierOptions) {
    this.#opts = opts;
    this.#fromStart = (opts.fromSeq ?? 1) === 1;
    this.#single = opts.singleRecord === true;
    this.#checkReferences = this.#fromStart && !this.#single;
    this.#now = opts.now.getTime();
    // Fails on unusable root keys or suffix options before anything is read.
    new ChainVerifier({ ...opts, certificates: [], onEntry: undefined }).finish();
    this.#laneOptions = { ...opts };
    if (opts.keys !== undefined) this.#readKeys(opts.keys, opts.trustedRootKeys);
    for (const doc of opts.checkpoints ?? []) this.#readStatement(doc, opts.trustedRootKeys);
    try {
      this.#remembered =
        opts.state === undefined ? null : readVerifierState(opts.state, opts.trustedRootKeys);
    } catch (e) {
      throw new ChainVerifierOptionsError(e instanceof Error ? e.message : String(e));
    }
    for (const cp of this.#checkpoints) this.#need(cp.lane, cp.size);
    for (const epoch of this.#epochs) for (const l of epoch.lanes) this.#need(l.lane, l.size);
    for (const l of this.#remembered?.lanes ?? []) this.#need(l.lane, l.size);
  }

  #need(lane: string, size: number): void {
    let sizes = this.#sizes.get(lane);
    if (sizes === undefined) {
      sizes = new Set();
      this.#sizes.set(lane, sizes);
    }
    sizes.add(size);
  }

  /** The lane's verifier, made on its first entry. */
  #lane(name: string): LaneAudit {
    let lane = this.#lanes.get(name);
    if (lane === undefined) {
      lane = new LaneAudit(
        name,
        { ...this.#laneOptions, certificates: this.#certificates.get(name) ?? [] },
        this.#sizes.get(name) ?? [],
        (l, record, line) => this.#onRecord(l, record, line),
        this.#fromStart,
      );
      // INVARIANT: a finding of the constructor (no trusted key) is reported once, for the log.
      this.#lanes.set(name, lane);
    }
    return lane;
  }

  #place(at: EntryPlace | undefined): number {
    if (at?.lane !== undefined) this.#byLaneFile = true;
    if (at?.line !== undefined) return at.line;
    return ++this.#line;
  }

  /** Verifies one stored line (JSONL, without its newline). Blank lines are counted, not entries. */
  add(text: string, at?: EntryPlace): void {
    const line = this.#place(at);
    if (text.trim() === '') return;
    const inspected = inspectAuditRecord(text);
    const claimed = inspected.record?.chain ?? (inspected.record === null ? chainOf(inspected.parsed) : null);
    const lane = at?.lane ?? claimed ?? this.#lastLane ?? MAIN_LANE;
    this.#lastLane = lane;
    this.#lane(lane).chain.addInspected(text, inspected, line);
  }

  /** Verifies one already-parsed record (an array element, a decision response's `audit`). */
  addRecord(record: AuditRecord | Record<string, unknown>, at?: EntryPlace): void {
    const line = this.#place(at);
    const lane = at?.lane ?? chainOf(record) ?? this.#lastLane ?? MAIN_LANE;
    this.#lastLane = lane;
    this.#lane(lane).chain.addRecord(record, line);
  }

  /** A line already taken through its independent steps on a worker (see {@link ChainVerifier.addPrepared}). */
  addPrepared(record: AuditRecord, leaf: Uint8Array, at?: EntryPlace): void {
    const line = this.#place(at);
    const lane = at?.lane ?? record.chain;
    this.#lastLane = lane;
    this.#lane(lane).chain.addPrepared(record, leaf, line);
  }

  /** Deferred signature checks queued in every lane (`deferSignatures` mode), each tagged with its lane. */
  takeSignatureChecks(): Array<DeferredSignatureCheck & { lane: string }> {
    const out: Array<DeferredSignatureCheck & { lane: string }> = [];
    for (const [name, lane] of this.#lanes) {
      for (const check of lane.chain.takeSignatureChecks()) out.push({ ...check, lane: name });
    }
    return out;
  }

  /** Checks taken and not settled yet, all lanes. */
  get pendingSignatureChecks(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.chain.pendingSignatureChecks;
    return n;
  }

  /** The PEM of a key a deferred check of `lane` names. */
  publicKeyPem(lane: string, keyId: string): string {
    return this.#lane(lane).chain.publicKeyPem(keyId);
  }

  /** Results of deferred checks of `lane`. */
  settleSignatures(lane: string, ids: ArrayLike<number>, valid: ArrayLike<boolean | number>): void {
    this.#lane(lane).chain.settleSignatures(ids, valid);
  }

  /** Runs every queued deferred check here (small inputs). */
  settleQueuedInline(): void {
    for (const lane of this.#lanes.values()) lane.chain.settleQueuedInline();
  }

  #finding(
    code: AuditCode,
    lane: string | null,
    seq: number | null,
    line: number,
    message: string,
    step: number,
  ): void {
    this.#findings.push({ code, lane, seq, line, message, step });
  }

  #referenceFinding(f: ReferenceFinding | ApprovalFinding): void {
    this.#finding(f.code, f.place?.lane ?? null, f.place?.seq ?? null, f.place?.line ?? 0, f.message, 10);
  }

  #onRecord(lane: LaneAudit, record: AuditRecord, line: number): void {
    if (!this.#checkReferences) return;
    for (const f of lane.references.add(record, line)) this.#referenceFinding(f);
    this.#config.add(record, { lane: lane.lane, seq: record.seq, line });
    this.#approvals.add(record, { lane: lane.lane, seq: record.seq, line });
  }

  /** Step 7: the keys file may add session keys (through certificates, each in its lane), never a root. */
  #readKeys(doc: unknown, trustedRootKeys: string[]): void {
    const keys = isObject(doc) ? doc['keys'] : undefined;
    if (!Array.isArray(keys)) {
      throw new ChainVerifierOptionsError('the keys file must be the `GET /keys` body: `{"keys": [...]}`');
    }
    let trusted: Set<string>;
    try {
      trusted = new Set(trustedRootKeys.map((pem) => keyIdOf(pem)));
    } catch {
      // ChainVerifier reports unusable root keys itself.
      trusted = new Set();
    }
    keys.forEach((entry, i) => {
      if (!isObject(entry)) return;
      if (entry['role'] === 'root') {
        let id: string;
        try {
          id = keyIdOf(String(entry['publicKeyPem']));
        } catch {
          id = `unreadable key ${i + 1}`;
        }
        if (!trusted.has(id) || entry['keyId'] !== id) {
          this.#finding(
            'KEYS_ROOT_MISMATCH',
            null,
            null,
            0,
            `the keys file names root key \`${String(entry['keyId'])}\`, which is not a trusted --public-key: the keys file was replaced or belongs to another gateway`,
            0,
          );
        }
      } else if (entry['certificate'] !== undefined) {
        // A session key certified in one lane signs only in that lane.
        const lane = chainOf(entry['certificate']) ?? MAIN_LANE;
        const list = this.#certificates.get(lane) ?? [];
        list.push(entry['certificate']);
        this.#certificates.set(lane, list);
      }
    });
  }

  /** Step 8, signature half: a statement that does not verify is tamper evidence and is not used. */
  #readStatement(value: unknown, trustedRootKeys: string[]): void {
    if (isEpochBody(value)) {
      const result = verifyEpoch(value, trustedRootKeys);
      const n = isObject(value) && typeof value['epoch'] === 'number' ? value['epoch'] : null;
      if (!result.ok) {
        this.#finding(result.code, null, null, 0, `epoch${n !== null ? ` ${n}` : ''}: ${result.message}`, 8);
        return;
      }
      const same = this.#epochs.find((e) => e.epoch === result.epoch.epoch);
      if (same && same.body !== result.epoch.body) {
        this.#finding(
          'CHECKPOINT_INCONSISTENT',
          null,
          null,
          0,
          `two signed epochs ${same.epoch} name different lanes, sizes or roots: the log forked`,
          8,
        );
        return;
      }
      if (!same) this.#epochs.push(result.epoch);
      return;
    }
    const size = isObject(value) && typeof value['size'] === 'number' ? value['size'] : null;
    const result = verifyCheckpoint(value as Checkpoint, trustedRootKeys);
    if (!result.ok) {
      this.#finding(
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
      this.#finding(
        'CHECKPOINT_MALFORMED',
        null,
        cp.size,
        0,
        `checkpoint origin \`${cp.origin}\` names no lane`,
        8,
      );
      return;
    }
    const same = this.#checkpoints.find((c) => c.lane === lane && c.size === cp.size);
    if (same && same.root !== cp.root) {
      this.#finding(
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
      this.#checkpoints.push({
        lane,
        origin: cp.origin,
        size: cp.size,
        root: cp.root,
        time: result.time,
        note: cp.note,
      });
    }
  }

  /** Step 8 for one lane's own checkpoints: roots, truncation, coverage. Returns the newest's summary. */
  #laneCheckpoints(
    name: string,
    lane: LaneAudit | undefined,
  ): { size: number; covered: boolean; cp: ValidCheckpoint } | null {
    const n = lane?.range.size ?? 0;
    const byNewest = this.#checkpoints.filter((c) => c.lane === name).sort((a, b) => b.size - a.size);
    const newest = byNewest[0];
    if (newest === undefined) return null;
    let matchedSize: number | null = null;
    for (const cp of byNewest) {
      if (cp.size > n) {
        if (cp === newest && lane !== undefined) {
          this.#finding(
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
      this.#finding(
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
  #epochCoverage(newest: ParsedEpochNote): void {
    const named = new Set(newest.lanes.map((l) => l.lane));
    for (const entry of newest.lanes) {
      const lane = this.#lanes.get(entry.lane);
      const n = lane?.range.size ?? 0;
      if (lane === undefined) {
        if (entry.size > 0) {
          this.#finding(
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
      const cutSeen = this.#findings.some((f) => f.code === 'LOG_TRUNCATED' && f.lane === entry.lane);
      if (entry.size > n) {
        // A cut lane is one finding, whether its own checkpoint or the epoch says so.
        if (!cutSeen)
          this.#finding(
            'LOG_TRUNCATED',
            entry.lane,
            n + 1,
            0,
            `epoch ${newest.epoch} signs ${entry.size} records of lane \`${entry.lane}\` but the input holds ${n}: records ${n + 1}-${entry.size} are missing`,
            8,
          );
      } else if (lane.rootsAt.get(entry.size) !== entry.root) {
        this.#finding(
          'CHECKPOINT_ROOT_MISMATCH',
          entry.lane,
          entry.size,
          0,
          `the Merkle root of the first ${entry.size} records of lane \`${entry.lane}\` is not the one epoch ${newest.epoch} signs: records were changed`,
          8,
        );
      }
      if (n > entry.size) {
        this.#finding(
          'TAIL_NOT_COVERED',
          entry.lane,
          entry.size + 1,
          0,
          `epoch ${newest.epoch} covers ${entry.size} records of lane \`${entry.lane}\`; records ${entry.size + 1}-${n} are not covered`,
          8,
        );
      }
    }
    for (const name of this.#lanes.keys()) {
      if (!named.has(name)) {
        this.#finding(
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
    for (const older of this.#epochs) {
      if (older === newest) continue;
      for (const entry of older.lanes) {
        const now = newest.lanes.find((l) => l.lane === entry.lane);
        const lane = this.#lanes.get(entry.lane);
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
          this.#finding(
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
    for (const cp of this.#checkpoints) {
      for (const epoch of this.#epochs) {
        const entry = epoch.lanes.find((l) => l.lane === cp.lane && l.size === cp.size);
        if (entry && entry.root !== cp.root) {
          this.#finding(
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

  /** Step 11: the input against what a previous valid run accepted. */
  #checkState(remembered: RememberedLog, newest: ParsedEpochNote | null, newestTime: string | null): void {
    const current = newest
      ? { origin: newest.origin, lanes: newest.lanes }
      : (() => {
          const main = this.#checkpoints
            .filter((c) => c.lane === MAIN_LANE)
            .sort((a, b) => b.size - a.size)[0];
          return main
            ? {
                origin: logOriginOf(main.origin),
                lanes: [{ lane: main.lane, size: main.size, root: main.root }],
              }
            : null;
        })();
    const say =
      remembered.epoch !== null
        ? `epoch ${remembered.epoch}`
        : `a checkpoint of ${remembered.lanes[0]?.size ?? 0} records`;
    if (current === null) {
      this.#finding(
        'STATE_ROLLBACK',
        null,
        null,
        0,
        `the verifier remembers ${say} of \`${remembered.origin}\`, and this input carries no newer signed statement`,
        11,
      );
      return;
    }
    if (current.origin !== remembered.origin) {
      this.#finding(
        'STATE_ORIGIN_MISMATCH',
        null,
        null,
        0,
        `the state file remembers the log \`${remembered.origin}\`, this input is of \`${current.origin}\`: another log, or another state file`,
        11,
      );
      return;
    }
    if (remembered.epoch !== null) {
      if (newest === null || newest.epoch < remembered.epoch) {
        this.#finding(
          'STATE_ROLLBACK',
          null,
          null,
          0,
          `the verifier accepted epoch ${remembered.epoch} (signed ${remembered.time}); this input's newest is ${newest ? `epoch ${newest.epoch} (signed ${newest.time})` : 'no epoch'}: the log was rolled back to an older genuine statement`,
          11,
        );
        return;
      }
      if (newest.epoch === remembered.epoch && newest.body !== parseNoteBody(remembered.note)) {
        this.#finding(
          'STATE_INCONSISTENT',
          null,
          null,
          0,
          `epoch ${newest.epoch} of this input differs from the epoch ${remembered.epoch} the verifier accepted: the log forked`,
          11,
        );
        return;
      }
    }
    if (
      remembered.time !== null &&
      (newestTime === null || Date.parse(newestTime) < Date.parse(remembered.time))
    ) {
      this.#finding(
        'STATE_ROLLBACK',
        null,
        null,
        0,
        `the verifier accepted a statement signed ${remembered.time}; this input's newest was signed ${newestTime ?? 'at no known time'}: an older statement`,
        11,
      );
      return;
    }
    for (const before of remembered.lanes) {
      const now = current.lanes.find((l) => l.lane === before.lane);
      if (now === undefined || now.size < before.size) {
        this.#finding(
          'STATE_ROLLBACK',
          before.lane,
          null,
          0,
          `the verifier accepted lane \`${before.lane}\` at ${before.size} records; this input's newest statement signs ${now?.size ?? 'none'}: the lane was rolled back`,
          11,
        );
        continue;
      }
      const lane = this.#lanes.get(before.lane);
      const root = before.size === 0 ? EMPTY_ROOT.toString('base64') : lane?.rootsAt.get(before.size);
      const mismatch =
        now.size === before.size
          ? now.root !== before.root
          : root !== undefined && root !== null && root !== before.root;
      if (mismatch) {
        this.#finding(
          'STATE_INCONSISTENT',
          before.lane,
          before.size,
          0,
          `lane \`${before.lane}\`'s first ${before.size} records are not those the verifier accepted earlier: the lane was rewritten`,
          11,
        );
      }
    }
  }

  /** Steps 8 to 11, then the report. */
  finish(): AuditReport {
    if (this.#report) return this.#report;
    const chains = new Map([...this.#lanes].map(([name, lane]) => [name, lane.chain.finish()]));
    if (this.#lanes.size === 0) {
      // An empty input is an empty log: one (main) lane with nothing in it.
      const empty = this.#lane(MAIN_LANE);
      chains.set(MAIN_LANE, empty.chain.finish());
    }
    const newestEpoch = [...this.#epochs].sort((a, b) => b.epoch - a.epoch)[0] ?? null;
    const allLanes = new Set<string>([...this.#lanes.keys()]);
    for (const cp of this.#checkpoints) allLanes.add(cp.lane);
    for (const l of newestEpoch?.lanes ?? []) allLanes.add(l.lane);
    const names = [...allLanes].sort(compareLanes);

    const laneSummaries = new Map<string, { size: number; covered: boolean; cp: ValidCheckpoint } | null>();
    let newestTime: string | null = null;
    let signedTime = true;
    let ageMs: number | null = null;
    const statements = this.#checkpoints.length + this.#epochs.length;
    const anyFinding8 = () => this.#findings.some((f) => f.step === 8);
    if (this.#single && statements === 0) {
      // One record and no checkpoint: completeness is a property of a log (prove it with a receipt).
    } else if (!this.#fromStart) {
      this.#finding(
        'CHECKPOINT_NOT_CHECKABLE',
        null,
        null,
        0,
        'a checkpoint covers a log from seq 1: a suffix (--from-seq) cannot be checked against one',
        8,
      );
    } else if (statements === 0) {
      if (!anyFinding8()) {
        this.#finding(
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
        const lane = this.#lanes.get(name);
        const summary = this.#laneCheckpoints(name, lane);
        laneSummaries.set(name, summary);
        if (newestEpoch === null && summary !== null && summary.size < (lane?.range.size ?? 0)) {
          const n = lane?.range.size ?? 0;
          this.#finding(
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
        this.#epochCoverage(newestEpoch);
        newestTime = newestEpoch.time;
        ageMs = this.#now - Date.parse(newestTime);
      } else {
        const timed = this.#checkpoints.some((c) => c.time !== null);
        if (timed || this.#lanes.size > 1) {
          this.#finding(
            'NO_EPOCH',
            null,
            null,
            0,
            'no epoch statement was given: without it a dropped lane goes unnoticed (export with zt audit export --bundle)',
            8,
          );
        }
        for (const name of names) {
          const lane = this.#lanes.get(name);
          const summary = laneSummaries.get(name);
          if (summary == null) {
            if (lane !== undefined && lane.range.size > 0 && this.#checkpoints.length > 0) {
              this.#finding(
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
        if (newestTime !== null) ageMs = this.#now - Date.parse(newestTime);
      }
      if (this.#opts.maxAgeMs !== undefined && ageMs !== null && ageMs > this.#opts.maxAgeMs) {
        this.#finding(
          'CHECKPOINT_STALE',
          null,
          null,
          0,
          `the newest signed statement proves the log up to ${newestTime}, ${formatDuration(ageMs)} ago, more than --max-age ${formatDuration(this.#opts.maxAgeMs)}`,
          9,
        );
      }
    }

    if (this.#checkReferences) {
      for (const f of this.#config.finish()) this.#referenceFinding(f);
      // A record with any finding of the chain steps (forged, altered, unlinked) counts as no approval.
      const tainted = new Set<string>();
      for (const [lane, report] of chains) {
        for (const f of report.findings) if (f.seq !== null) tainted.add(`${lane}-${f.seq}`);
      }
      for (const f of this.#approvals.finish(tainted)) this.#referenceFinding(f);
    }

    if (this.#remembered !== null && this.#fromStart && !this.#single) {
      this.#checkState(this.#remembered, newestEpoch, newestTime);
    }

    // Findings: the log's first (step 0), then each record's in input order (by lane, then line, for a
    // bundle of lane files), then the log's others in step order.
    const laneIndex = new Map(names.map((n, i) => [n, i]));
    const perRecord: Array<AuditFinding & { step: number }> = [];
    let noTrustSeen = false;
    for (const [name, report] of chains) {
      for (const f of report.findings) {
        if (f.code === 'NO_TRUSTED_KEYS') {
          if (!noTrustSeen) this.#finding(f.code, null, null, 0, f.message, 0);
          noTrustSeen = true;
          continue;
        }
        if (f.code === 'EMPTY_LOG') {
          if (this.#lanes.size === 1 || chains.size === 1) this.#finding(f.code, null, null, 0, f.message, 0);
          continue;
        }
        if (f.line === 0) this.#finding(f.code, name, f.seq, 0, f.message, 0);
        else perRecord.push({ ...f, lane: name, step: verificationStep(f.code) });
      }
    }
    perRecord.push(...this.#findings.filter((f) => f.line > 0));
    const order = (f: AuditFinding & { step: number }) =>
      this.#byLaneFile ? (laneIndex.get(f.lane ?? '') ?? 0) : 0;
    perRecord.sort((a, b) => order(a) - order(b) || a.line - b.line || a.step - b.step);
    const logLevel = this.#findings
      .filter((f) => f.line === 0)
      .sort(
        (a, b) =>
          a.step - b.step || (laneIndex.get(a.lane ?? '') ?? -1) - (laneIndex.get(b.lane ?? '') ?? -1),
      );
    const findings: AuditFinding[] = [
      ...logLevel.filter((f) => f.step === 0),
      ...perRecord,
      ...logLevel.filter((f) => f.step > 0),
    ].map(({ code, lane, seq, line, message }) => ({ code, lane, seq, line, message }));
    const tampered = findings.some((f) => !INCOMPLETE_CODES.has(f.code));
    const status: AuditStatus = tampered ? 'tampered' : findings.length > 0 ? 'incomplete' : 'valid';

    const lanes: LaneReport[] = names.map((name) => {
      const report = chains.get(name);
      const summary = laneSummaries.get(name) ?? null;
      const entry = newestEpoch?.lanes.find((l) => l.lane === name);
      const n = this.#lanes.get(name)?.range.size ?? 0;
      const checkpoint = entry
        ? {
            size: entry.size,
            covered: entry.size === n && this.#lanes.get(name)?.rootsAt.get(entry.size) === entry.root,
          }
        : summary
          ? { size: summary.size, covered: summary.covered }
          : null;
      return {
        lane: name,
        records: report?.records ?? 0,
        firstSeq: report?.firstSeq ?? null,
        lastSeq: report?.lastSeq ?? null,
        headHash: report?.headHash ?? null,
        checkpoint,
      };
    });
    const primaryName = chains.has(MAIN_LANE) ? MAIN_LANE : ([...chains.keys()][0] as string);
    const primary = chains.get(primaryName);
    const primaryLane = lanes.find((l) => l.lane === primaryName);
    const primaryCp = laneSummaries.get(primaryName) ?? null;
    const keysUsed = [...new Set([...chains.values()].flatMap((r) => r.keysUsed))];
    let records = 0;
    for (const r of chains.values()) records += r.records;
    this.#report = {
      ok: status === 'valid',
      status,
      records,
      firstSeq: primary?.firstSeq ?? null,
      lastSeq: primary?.lastSeq ?? null,
      headHash: primary?.headHash ?? null,
      keysUsed,
      checkpoint:
        primaryLane?.checkpoint != null
          ? {
              origin: primaryCp?.cp.origin ?? `${newestEpoch?.origin ?? ''}/${primaryName}`,
              size: primaryLane.checkpoint.size,
              covered: primaryLane.checkpoint.covered,
              ageMs,
            }
          : null,
      checkpointsVerified: statements,
      scope: this.#single ? 'record' : this.#fromStart ? 'log' : 'suffix',
      references: this.#checkReferences ? 'checked' : 'skipped',
      lanes,
      epoch: newestEpoch
        ? {
            origin: newestEpoch.origin,
            epoch: newestEpoch.epoch,
            time: newestEpoch.time,
            lanes: newestEpoch.lanes.length,
            ageMs: this.#now - Date.parse(newestEpoch.time),
          }
        : null,
      provenUpTo: this.#single || !this.#fromStart ? null : newestTime,
      provenBy:
        this.#single || !this.#fromStart || newestTime === null ? null : signedTime ? 'signed' : 'record',
      state: this.#opts.state === undefined ? 'none' : this.#remembered === null ? 'first' : 'checked',
      findings,
    };
    return this.#report;
  }

  /**
   * What `--state` should remember after this run: the newest epoch (or, for a log from before epochs, the
   * newest checkpoint of `main`), only when the run is valid; null otherwise (the state file is kept).
   */
  stateToRemember(): RememberedLog | null {
    const report = this.finish();
    if (report.status !== 'valid' || report.scope !== 'log') return null;
    const newest = [...this.#epochs].sort((a, b) => b.epoch - a.epoch)[0];
    if (newest !== undefined) {
      return {
        origin: newest.origin,
        epoch: newest.epoch,
        time: newest.time,
        lanes: newest.lanes,
        note: noteOf(newest),
      };
    }
    // A log from before epochs: its newest checkpoint of `main`.
    const main = this.#checkpoints.filter((c) => c.lane === MAIN_LANE).sort((a, b) => b.size - a.size)[0];
    if (main === undefined) return null;
    return {
      origin: logOriginOf(main.origin),
      epoch: null,
      time: main.time,
      lanes: [{ lane: main.lane, size: main.size, root: main.root }],
      note: main.note,
    };
  }
}

/** The lane checkpoint notes given (for `stateToRemember` of logs from before epochs, see {@link AuditVerifier}). */
function noteOf(epoch: ParsedEpochNote): string {
  return `${epoch.body}\n${epoch.signatures.map((s) => `\u2014 ${s.keyName} ${Buffer.concat([s.keyId, s.signature]).toString('base64')}`).join('\n')}\n`;
}

/** The text of a note (before its blank line). */
function parseNoteBody(note: string): string {
  return note.slice(0, note.lastIndexOf('\n\n') + 1);
}

/** The `chain` a value claims, when it is a lane name. */
function chainOf(value: unknown): string | null {
  const chain = isObject(value) ? value['chain'] : undefined;
  return typeof chain === 'string' && LANE_NAME_PATTERN.test(chain) ? chain : null;
}

/** The files of an audit bundle (`zt audit export --bundle DIR`). */
export const BUNDLE_FILES = {
  /** One JSONL file per lane: `lanes/<lane>.jsonl`. */
  lanes: 'lanes',
  /** A bundle from before lanes: the `main` lane's records. */
  records: 'records.jsonl',
  checkpoint: 'checkpoint.json',
  keys: 'keys.json',
  /**
   * The request data kept for replay (`zt audit export --bundle DIR --requests`), one JSON object per line,
   * keyed by record id and hash: not part of the log, not verified by `zt-audit`, checked by replay against
   * each record's hashes.
   */
  requests: 'requests.jsonl',
} as const;
