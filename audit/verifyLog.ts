import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import type { AuditRecord } from '../core/model/index.js';
import {
  type AuditReport,
  AuditVerifier,
  type AuditVerifierOptions,
  ChainVerifierOptionsError,
  checkpointsOf,
  type EntryPlace,
  formatVerifierState,
} from '../core/verify/index.js';
import {
  AuditInputError,
  AuditUsageError,
  loadPublicKeys,
  readJsonFile,
  readJsonFileIfExists,
  writeFileAtomically,
} from './auditFiles.js';
import { readBundleLayout } from './bundle.js';
import { openInput, readAuditInput } from './readAuditInput.js';
import type { VerifyJob, VerifyKey, VerifyResult, VerifyWorkerData } from './verifyJobs.js';
import { WorkerPool } from './WorkerPool.js';

/** Exit statuses of `zt-audit`. */
export const EXIT = { OK: 0, TAMPERED: 1, USAGE: 2, INCOMPLETE: 3 } as const;

/** Maps a report to the exit status: tamper evidence wins over incompleteness. */
export function exitStatus(report: AuditReport): number {
  if (report.status === 'tampered') return EXIT.TAMPERED;
  if (report.status === 'incomplete') return EXIT.INCOMPLETE;
  return EXIT.OK;
}

/** A progress display (a bar on a terminal): sees the input's bytes and the records verified. */
export interface VerifyProgress {
  count(source: AsyncIterable<string | Uint8Array>): AsyncIterable<string | Uint8Array>;
  update(records: number): void;
  end(records: number): void;
}

export interface VerifyLogArgs {
  /** A log file, `-` (standard input), or null with `bundle`. */
  input: string | null;
  /** A bundle directory: its lanes, checkpoint and keys. */
  bundle?: string;
  /** Paths of PEM files (or PEM text), each holding one or more `PUBLIC KEY` blocks. */
  publicKeys: string[];
  /** A `GET /keys` body; with a bundle, its keys.json by default. */
  keys?: string;
  /** Checkpoint files: `GET /audit/checkpoint` bodies, `GET /audit/checkpoints` output, epochs. */
  checkpoints: string[];
  /** The verifier's memory: read before, written after a valid run (see core/verify/verifierState.ts). */
  state?: string;
  fromSeq?: number;
  expectPrevious?: string;
  maxAgeMs?: number;
  /** Worker threads; default one per core, 1 to verify on the main thread. */
  threads?: number;
  now: Date;
  stdin?: AsyncIterable<string | Uint8Array>;
  /** Given the input's size in bytes when known (null: standard input, a bundle). */
  progress?: (totalBytes: number | null) => VerifyProgress | null;
}

export interface VerifyLogResult {
  report: AuditReport;
  exit: number;
  /** The state file was written (a valid run with `state`). */
  stateWritten: boolean;
}

/** Lines read before the pool starts: a smaller input is verified inline, without starting workers. */
const LARGE = 2000;
/** Lines per job. */
const LINE_BATCH = 1024;
/** Deferred signature checks (parsed records) per job. */
const CHECK_BATCH = 512;
/** Every key record's canonical text holds this, and no other record's fields can (a `"` is escaped in a value). */
const KEY_KIND = '"kind":"key"';

interface Source {
  /** The lane file's lane (a bundle); undefined for a log file, whose records are sorted by their chain. */
  lane: string | undefined;
  path: string;
}

type JobContext =
  | { kind: 'lines'; lane: string | undefined; firstLine: number }
  | { kind: 'signatures'; lanes: string[]; ids: number[] };

/**
 * Verifies a log (a file, standard input, or a bundle of lane files) in one streaming pass: the per-line work
 * on worker threads for large inputs (one typed pool: lines of JSONL, signatures of parsed records), the
 * sequential steps on this thread through core's `AuditVerifier`; then, for a valid run with `state`, writes
 * the newest statement accepted. Throws `AuditUsageError` / `AuditInputError` (exit 2) for bad arguments or
 * unreadable files.
 */
export async function verifyAuditLog(args: VerifyLogArgs): Promise<VerifyLogResult> {
  if (args.publicKeys.length === 0) {
    throw new AuditUsageError(
      'at least one `--public-key PEM` is required: the verifier trusts nothing but the root public keys',
    );
  }
  const trustedRootKeys = await loadPublicKeys(args.publicKeys);
  const checkpointFiles = [...args.checkpoints];
  let keysFile = args.keys;
  let sources: Source[];
  let totalBytes: number | null = null;
  if (args.bundle !== undefined) {
    const layout = await readBundleLayout(args.bundle);
    if (layout.checkpoint !== null) checkpointFiles.unshift(layout.checkpoint);
    if (keysFile === undefined && layout.keys !== null) keysFile = layout.keys;
    sources = layout.lanes.map((l) => ({ lane: l.lane, path: l.path }));
  } else {
    if (args.input === null) throw new AuditUsageError('verify needs a FILE, - or --bundle DIR');
    sources = [{ lane: undefined, path: args.input }];
    if (args.input !== '-') {
      try {
        totalBytes = (await stat(args.input)).size;
      } catch (e) {
        throw new AuditInputError(
          `cannot read \`${args.input}\` (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
        );
      }
    }
  }
  const checkpoints: unknown[] = [];
  for (const file of checkpointFiles)
    checkpoints.push(...checkpointsOf(await readJsonFile(file, 'checkpoint')));
  const keys = keysFile === undefined ? undefined : await readJsonFile(keysFile, 'keys');
  const state = args.state === undefined ? undefined : await readJsonFileIfExists(args.state, 'state');

  const opts: AuditVerifierOptions = {
    trustedRootKeys,
    checkpoints,
    keys,
    now: args.now,
    deferSignatures: true,
  };
  if (state !== undefined) opts.state = state;
  if (args.maxAgeMs !== undefined) opts.maxAgeMs = args.maxAgeMs;
  // INVARIANT: whatever shape the input takes (JSON Lines, an array, a GET /audit page, a decision
  // response, one record), it is verified as a log: from seq 1 (or the --from-seq asked for), with its
  // completeness checked. A one-record file is a one-record log, never rated better than the whole log.
  // Checking one record on its own is `verify-record`, asked for explicitly.
  if (args.fromSeq !== undefined) {
    opts.fromSeq = args.fromSeq;
    opts.expectPrevious = args.expectPrevious;
  }
  let verifier: AuditVerifier;
  try {
    verifier = new AuditVerifier(opts);
  } catch (e) {
    if (e instanceof ChainVerifierOptionsError) {
      throw args.state !== undefined && /state/.test(e.message)
        ? new AuditInputError(`state file \`${args.state}\`: ${e.message}`)
        : new AuditUsageError(e.message);
    }
    throw e;
  }

  const threads = args.threads ?? availableParallelism();
  const progress = args.progress?.(totalBytes) ?? null;
  const run = new Run(verifier, threads, trustedRootKeys, progress);
  try {
    for (const source of sources) await run.read(source, args.stdin);
    await run.finish();
  } finally {
    progress?.end(run.entries);
    await run.close();
  }
  const report = verifier.finish();
  const exit = exitStatus(report);
  let stateWritten = false;
  const remembered = verifier.stateToRemember();
  if (args.state !== undefined && remembered !== null) {
    try {
      await writeFileAtomically(args.state, formatVerifierState(remembered, args.now));
    } catch (e) {
      throw new AuditInputError(
        `cannot write the state file \`${args.state}\` (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      );
    }
    stateWritten = true;
  }
  return { report, exit, stateWritten };
}

/** One verification run: the sources read in turn, lines and checks sent to the pool once the input is large. */
class Run {
  entries = 0;
  #pool: WorkerPool<VerifyJob, VerifyResult, VerifyKey> | null = null;
  #starting: Promise<WorkerPool<VerifyJob, VerifyResult, VerifyKey>> | null = null;
  readonly #contexts: JobContext[] = [];
  readonly #announced = new Set<string>();
  #held: string[] = [];
  /** Line jobs were sent since the pool was last drained. */
  #linesSent = false;
  #heldLine = 0;
  #heldLane: string | undefined;

  constructor(
    readonly verifier: AuditVerifier,
    readonly threads: number,
    readonly roots: string[],
    readonly progress: VerifyProgress | null,
  ) {}

  #counted(): void {
    this.entries++;
    if (this.progress && this.entries % 4096 === 0) this.progress.update(this.entries);
  }

  async #startPool(): Promise<WorkerPool<VerifyJob, VerifyResult, VerifyKey>> {
    this.#starting ??= WorkerPool.start<VerifyJob, VerifyResult, VerifyKey>({
      worker: 'verifyWorker',
      threads: this.threads,
      workerData: { roots: this.roots } satisfies VerifyWorkerData,
      apply: (result) => this.#apply(result),
    });
    this.#pool = await this.#starting;
    return this.#pool;
  }

  #apply(result: VerifyResult): void {
    const context = this.#contexts.shift() as JobContext;
    if (result.kind === 'signatures' && context.kind === 'signatures') {
      const byLane = new Map<string, { ids: number[]; valid: number[] }>();
      context.ids.forEach((id, i) => {
        const lane = context.lanes[i] as string;
        const entry = byLane.get(lane) ?? { ids: [], valid: [] };
        entry.ids.push(id);
        entry.valid.push(result.valid[i] as number);
        byLane.set(lane, entry);
      });
      for (const [lane, { ids, valid }] of byLane) this.verifier.settleSignatures(lane, ids, valid);
      return;
    }
    if (result.kind !== 'lines' || context.kind !== 'lines') throw new Error('pool results out of order');
    const entries = JSON.parse(result.entries) as Array<string | AuditRecord>;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as string | AuditRecord;
      const place: EntryPlace = { line: context.firstLine + i };
      if (context.lane !== undefined) place.lane = context.lane;
      if (typeof entry === 'string') {
        this.verifier.add(entry, place);
        this.verifier.settleQueuedInline();
      } else {
        this.verifier.addPrepared(entry, result.leaves.subarray(i * 32, i * 32 + 32), place);
      }
      this.#counted();
    }
  }

  /** A key record is about to go out: every worker learns its key first (see verifyWorker.ts). */
  #announceKeys(lines: readonly string[], pool: WorkerPool<VerifyJob, VerifyResult, VerifyKey>): void {
    for (const line of lines) {
      if (!line.includes(KEY_KIND)) continue;
      let keyId: unknown;
      let pem: unknown;
      try {
        ({ certified_key_id: keyId, certified_public_key_pem: pem } = JSON.parse(line) as Record<
          string,
          unknown
        >);
      } catch {
        continue;
      }
      if (typeof keyId !== 'string' || typeof pem !== 'string' || this.#announced.has(keyId)) continue;
      this.#announced.add(keyId);
      pool.broadcast({ keyId, pem });
    }
  }

  /** Sends the held lines to the pool, in batches. */
  async #sendHeld(): Promise<void> {
    const pool = this.#pool ?? (await this.#startPool());
    const held = this.#held;
    const first = this.#heldLine;
    this.#held = [];
    for (let i = 0; i < held.length; i += LINE_BATCH) {
      const batch = held.slice(i, i + LINE_BATCH);
      const text = batch.join('\n');
      if (text.includes(KEY_KIND)) this.#announceKeys(batch, pool);
      this.#contexts.push({ kind: 'lines', lane: this.#heldLane, firstLine: first + i });
      this.#linesSent = true;
      await pool.submit({ kind: 'lines', text });
    }
  }

  /** Everything held or in flight applied, before an entry of another form or the end of a source. */
  async #flushLines(): Promise<void> {
    if (this.#held.length > 0) {
      if (this.#pool === null && this.entries + this.#held.length < LARGE) {
        const held = this.#held;
        this.#held = [];
        held.forEach((text, i) => {
          const place: EntryPlace = { line: this.#heldLine + i };
          if (this.#heldLane !== undefined) place.lane = this.#heldLane;
          this.verifier.add(text, place);
          this.verifier.settleQueuedInline();
          this.#counted();
        });
      } else {
        await this.#sendHeld();
      }
    }
    if (this.#linesSent) {
      await this.#pool?.drain();
      this.#linesSent = false;
    }
  }

  /** After a parsed record: hand a full batch of signature checks to the pool (or check them here). */
  async #afterRecord(): Promise<void> {
    this.#counted();
    if (this.verifier.pendingSignatureChecks < CHECK_BATCH) return;
    const pool = this.#pool ?? (this.threads > 1 && this.entries >= LARGE ? await this.#startPool() : null);
    if (pool === null) {
      this.verifier.settleQueuedInline();
      return;
    }
    await this.#sendChecks(pool);
  }

  async #sendChecks(pool: WorkerPool<VerifyJob, VerifyResult, VerifyKey>): Promise<void> {
    const checks = this.verifier.takeSignatureChecks();
    for (let i = 0; i < checks.length; i += CHECK_BATCH) {
      const batch = checks.slice(i, i + CHECK_BATCH);
      for (const c of batch) {
        if (this.#announced.has(c.keyId)) continue;
        this.#announced.add(c.keyId);
        // INVARIANT: a key reaches every worker before any job that names it (messages are ordered).
        pool.broadcast({ keyId: c.keyId, pem: this.verifier.publicKeyPem(c.lane, c.keyId) });
      }
      this.#contexts.push({
        kind: 'signatures',
        lanes: batch.map((c) => c.lane),
        ids: batch.map((c) => c.id),
      });
      await pool.submit({
        kind: 'signatures',
        keyIds: batch.map((c) => c.keyId),
        payloads: batch.map((c) => c.payload),
        signatures: batch.map((c) => c.signature),
      });
    }
  }

  /** Reads one source to its end. */
  async read(source: Source, stdin: AsyncIterable<string | Uint8Array> | undefined): Promise<void> {
    let input: AsyncIterable<string | Uint8Array>;
    try {
      input = openInput(source.path, stdin);
    } catch (e) {
      throw new AuditInputError(
        `cannot read \`${source.path}\` (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    if (this.progress) input = this.progress.count(input);
    let line = 0;
    const place = (): EntryPlace => (source.lane === undefined ? { line } : { lane: source.lane, line });
    try {
      await readAuditInput(input, {
        start: () => undefined,
        line: (text) => {
          line++;
          if (this.threads <= 1) {
            this.verifier.add(text, place());
            this.verifier.settleQueuedInline();
            this.#counted();
            return undefined;
          }
          if (this.#held.length === 0) {
            this.#heldLine = line;
            this.#heldLane = source.lane;
          }
          this.#held.push(text);
          if (
            this.#pool === null ? this.entries + this.#held.length < LARGE : this.#held.length < LINE_BATCH
          ) {
            return undefined;
          }
          return this.#sendHeld();
        },
        record: async (value) => {
          await this.#flushLines();
          line++;
          this.verifier.addRecord(value as Record<string, unknown>, place());
          await this.#afterRecord();
        },
        unreadable: (text) => {
          line++;
          this.verifier.add(text, place());
          this.#counted();
        },
      });
      await this.#flushLines();
    } catch (e) {
      if (e instanceof AuditUsageError) throw e;
      const err = e as NodeJS.ErrnoException;
      throw new AuditInputError(
        `cannot read \`${source.path === '-' ? 'standard input' : source.path}\` (${err.code ?? err.message})`,
      );
    }
  }

  /** Settles what is left (checks still queued), in the pool or here. */
  async finish(): Promise<void> {
    if (this.#pool !== null) {
      await this.#sendChecks(this.#pool);
      await this.#pool.drain();
    }
    this.verifier.settleQueuedInline();
  }

  async close(): Promise<void> {
    await this.#pool?.close();
  }
}
