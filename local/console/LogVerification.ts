import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Checkpointer } from '../../core/log/index.js';
import type { Clock, KeyValueStore } from '../../core/ports/index.js';
import { chainPartition, seqKey } from '../../core/ports/index.js';
import { type AuditStatus, AuditVerifier } from '../../core/verify/index.js';

/** What the console shows of the newest verification run. */
export interface VerificationView {
  /**
   * `idle`: none ran yet; `running`; `done`: `result` holds the report; `empty`: no record yet; `skipped`: over
   * the bound; `failed`: could not read.
   */
  state: 'idle' | 'running' | 'done' | 'empty' | 'skipped' | 'failed';
  /** When the shown result was produced. */
  at: string | null;
  result: {
    status: AuditStatus;
    records: number;
    lanes: Array<{ lane: string; records: number; lastSeq: number | null; checkpoint: number | null }>;
    findings: Array<{ code: string; lane: string | null; message: string }>;
  } | null;
  /** Why there is no result (`skipped`, `failed`). */
  note: string | null;
}

export interface LogVerificationOptions {
  store: KeyValueStore;
  checkpointer: Checkpointer;
  /** The root public keys the chain is trusted under (the data dir's `root-public-keys.pem`). */
  rootPublicKeys: () => Promise<string[]>;
  clock: Clock;
  /** A log with more records than this is not verified here (say so, point to `zt-audit verify`). */
  maxRecords?: number;
  /** Records read and fed to the verifier between two yields to the event loop. */
  sliceRecords?: number;
  /**
   * A run starts at least this long after the previous one ended, and at least twice that run's duration
   * after it (default 10 s): under steady traffic the verifier takes at most about a third of the process.
   */
  minIntervalMs?: number;
}

const FINDINGS_SHOWN = 20;

/**
 * Runs core's `AuditVerifier` (the verifier `zt-audit verify` runs) over the store's records, every lane from
 * seq 1, with the newest stored lane checkpoints and epoch: in the background, one run at a time, in slices
 * that yield to the event loop so decisions are never held up, and bounded by `maxRecords`. It reads only.
 */
export class LogVerification {
  #view: VerificationView = { state: 'idle', at: null, result: null, note: null };
  #running: Promise<void> | null = null;
  /** The lane heads the shown result covers, to skip a run when nothing was appended. */
  #heads = '';
  readonly #max: number;
  readonly #slice: number;
  readonly #minInterval: number;
  /** When the next run may start (clock ms). */
  #notBefore = 0;

  constructor(private readonly opts: LogVerificationOptions) {
    this.#max = opts.maxRecords ?? 100_000;
    this.#slice = opts.sliceRecords ?? 250;
    this.#minInterval = opts.minIntervalMs ?? 10_000;
  }

  get view(): VerificationView {
    return this.#view;
  }

  /** Resolves when the run in progress (if any) ends. */
  async idle(): Promise<void> {
    await this.#running;
  }

  /**
   * Starts a run unless one is running, the previous one ended too recently, or the log did not change since
   * the last; resolves when the run (if any) ends. Called when the page asks for the log's state: nothing is
   * verified while no one looks.
   */
  refresh(): Promise<void> {
    if (this.#running) return this.#running;
    const started = this.opts.clock.now().getTime();
    if (started < this.#notBefore) return Promise.resolve();
    this.#running = this.#run().finally(() => {
      const ended = this.opts.clock.now().getTime();
      this.#notBefore = ended + Math.max(this.#minInterval, 2 * (ended - started));
      this.#running = null;
    });
    return this.#running;
  }

  async #run(): Promise<void> {
    try {
      const lanes = await this.opts.checkpointer.lanes();
      const heads: number[] = [];
      for (const lane of lanes) {
        const [last] = await this.opts.store.query(chainPartition(lane), { limit: 1, descending: true });
        heads.push(last ? Number(last.sk) : 0);
      }
      const key = lanes.map((l, i) => `${l}:${heads[i]}`).join(',');
      if (key === this.#heads && this.#view.state === 'done') return;
      const total = heads.reduce((a, b) => a + b, 0);
      if (total === 0) {
        this.#view = { state: 'empty', at: this.opts.clock.now().toISOString(), result: null, note: null };
        return;
      }
      if (total > this.#max) {
        this.#view = {
          state: 'skipped',
          at: this.opts.clock.now().toISOString(),
          result: null,
          note: `the log holds ${total} records, over the console's bound of ${this.#max}: run \`zt-audit verify\` on an export`,
        };
        this.#heads = key;
        return;
      }
      this.#view = { ...this.#view, state: 'running' };
      // Statements first, then records: every record a statement signs is then among those read.
      const checkpoints: unknown[] = [];
      for (const lane of lanes) {
        const cp = await this.opts.checkpointer.latest(lane);
        if (cp) checkpoints.push(cp);
      }
      const epoch = await this.opts.checkpointer.latestEpoch();
      if (epoch) checkpoints.push(epoch);
      const verifier = new AuditVerifier({
        trustedRootKeys: await this.opts.rootPublicKeys(),
        checkpoints,
        now: this.opts.clock.now(),
      });
      let read = 0;
      for (const lane of lanes) {
        let after = 0;
        let line = 0;
        for (;;) {
          const page = await this.opts.store.query(chainPartition(lane), {
            ...(after > 0 ? { after: seqKey(after) } : {}),
            limit: this.#slice,
          });
          for (const item of page) verifier.add(item.data, { lane, line: ++line });
          read += page.length;
          const last = page[page.length - 1];
          if (page.length < this.#slice || last === undefined || read >= this.#max) break;
          after = Number(last.sk);
          await yieldToEventLoop();
        }
      }
      const report = verifier.finish();
      this.#heads = key;
      this.#view = {
        state: 'done',
        at: this.opts.clock.now().toISOString(),
        result: {
          status: report.status,
          records: report.records,
          lanes: report.lanes.map((l) => ({
            lane: l.lane,
            records: l.records,
            lastSeq: l.lastSeq,
            checkpoint: l.checkpoint?.size ?? null,
          })),
          findings: report.findings
            .slice(0, FINDINGS_SHOWN)
            .map((f) => ({ code: f.code, lane: f.lane, message: f.message })),
        },
        note: report.findings.length > FINDINGS_SHOWN ? `${report.findings.length} findings in all` : null,
      };
    } catch (error) {
      this.#view = {
        state: 'failed',
        at: this.opts.clock.now().toISOString(),
        result: null,
        note: `could not verify the log: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }
}
