import { compareLanes, type ParsedEpochNote } from '../log/epoch.js';
import { inspectAuditRecord } from '../model/recordParser.js';
import type { AuditRecord } from '../model/records.js';
import { MAIN_LANE } from '../model/records.js';
import { type ApprovalFinding, ApprovalReferences } from './approvalReferences.js';
import { chainOf, readKeys } from './auditBundle.js';
import {
  type AuditCode,
  type AuditFinding,
  type AuditReport,
  type AuditStatus,
  INCOMPLETE_CODES,
  type LaneReport,
} from './auditReport.js';
import type { AuditVerifierOptions, EntryPlace } from './auditVerifierOptions.js';
import { ChainVerifier } from './ChainVerifier.js';
import {
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
  type DeferredSignatureCheck,
} from './chainVerifierOptions.js';
import { checkCompleteness } from './checkpointChecks.js';
import { ConfigReferences, type ReferenceFinding } from './configReferences.js';
import { LaneAudit } from './LaneAudit.js';
import { type AuditState, readStatement, type ValidCheckpoint } from './signedStatements.js';
import { checkState, rememberedOf } from './stateCheck.js';
import { verificationStep } from './verificationCodes.js';
import { type RememberedLog, readVerifierState } from './verifierState.js';

/**
 * The whole-log verification an auditor runs on an export (DESIGN.md invariant 5), pure and streaming. The
 * log is a set of lanes, each its own hash chain (`chain` = the lane, seq from 1, genesis link), verified
 * independently by the chain steps of {@link ChainVerifier}; then, over the same single pass,
 *
 *   7. keys file: its root must be one of the trusted roots (`KEYS_ROOT_MISMATCH`), its session keys
 *      count only through their root-signed certificates (`KEYS_CERTIFICATE_INVALID`), each in its own lane;
 *   8. checkpoints: each lane checkpoint and each epoch statement signed by a trusted root (`CHECKPOINT_*`
 *      of core/log/signedNote.ts); every lane's root at each signed size equal to the RFC 6962 root of its first
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
 *
 * Where the steps live: each lane's chain and Merkle tree in core/verify/LaneAudit.ts; step 7 in
 * core/verify/auditBundle.ts (with the bundle's layout); step 8's signature half in
 * core/verify/signedStatements.ts, the rest of steps 8 and 9 in core/verify/checkpointChecks.ts; step 11 in
 * core/verify/stateCheck.ts; the codes and the report's shape in core/verify/auditReport.ts. This
 * class sorts entries into lanes, feeds the reference checks of step 10, runs the steps in order, and orders
 * the findings into the report.
 */

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
  /** The lanes, statements and findings above, as the checks of steps 8, 9 and 11 read them. */
  readonly #state: AuditState = {
    lanes: this.#lanes,
    checkpoints: this.#checkpoints,
    epochs: this.#epochs,
    findings: this.#findings,
    finding: (code, lane, seq, line, message, step) => this.#finding(code, lane, seq, line, message, step),
  };
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
    if (opts.keys !== undefined)
      readKeys(opts.keys, opts.trustedRootKeys, this.#certificates, this.#state.finding);
    for (const doc of opts.checkpoints ?? []) readStatement(this.#state, doc, opts.trustedRootKeys);
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

    // Steps 8 and 9.
    const { laneSummaries, newestTime, signedTime, ageMs } = checkCompleteness(
      this.#state,
      { single: this.#single, fromStart: this.#fromStart, now: this.#now, maxAgeMs: this.#opts.maxAgeMs },
      names,
      newestEpoch,
    );

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
      checkState(this.#state, this.#remembered, newestEpoch, newestTime);
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
      checkpointsVerified: this.#checkpoints.length + this.#epochs.length,
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
    return rememberedOf(this.#state);
  }
}
