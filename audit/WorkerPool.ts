import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Transferable, Worker } from 'node:worker_threads';
import type { PoolMessage, PoolReply } from './workerJobs.js';

/**
 * A typed pool of worker threads that runs jobs in parallel and hands their results back strictly in
 * submission order, with back-pressure: at most `threads * maxInFlight` jobs are out and not yet applied,
 * and {@link WorkerPool.submit} waits beyond that, which keeps memory flat whatever the input's size.
 * A broadcast reaches every worker before any job submitted after it (a worker's messages are ordered).
 *
 * The worker side is `serveWorkerJobs` (./workerJobs.ts), called by a module of its own: the pool starts that module's compiled
 * file (beside the pool's, in the package), or, from the TypeScript sources (tests), a bundle of it that
 * esbuild (a dev dependency) writes to a temporary file. No worker code is ever evaluated from a string.
 */

export interface WorkerPoolOptions<Result> {
  /** The worker module, named without extension, in the pool's folder (e.g. `verifyWorker`). */
  worker: string;
  threads: number;
  /** Data every worker gets at start (`workerData`). */
  workerData?: unknown;
  /** Jobs per worker sent and not yet applied before `submit` waits (default 3). */
  maxInFlight?: number;
  /** Applies each result on the main thread, in submission order. */
  apply: (result: Result) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

const bundles = new Map<string, Promise<string>>();

/**
 * The worker module's file: `<name>.js` beside this module in the compiled package; from the TypeScript
 * sources, a bundle of `<name>.ts` written once per process to a temporary directory removed at exit.
 */
function workerFile(name: string): Promise<string | URL> {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return Promise.resolve(new URL(`./${name}.js`, import.meta.url));
  let file = bundles.get(name);
  if (file === undefined) {
    file = (async () => {
      const { build } = await import('esbuild');
      const dir = await mkdtemp(join(tmpdir(), 'zt-worker-'));
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      const outfile = join(dir, `${name}.mjs`);
      await build({
        entryPoints: [join(dirname(here), `${name}.ts`)],
        bundle: true,
        platform: 'node',
        format: 'esm',
        outfile,
        external: ['esbuild'],
        logLevel: 'silent',
      });
      return outfile;
    })();
    bundles.set(name, file);
  }
  return file;
}

export class WorkerPool<Job, Result, Broadcast = never> {
  readonly #slots: Slot[];
  readonly #apply: (result: Result) => void;
  readonly #limit: number;
  readonly #results = new Map<number, Result>();
  #nextSend = 0;
  #nextApply = 0;
  #waiters: Array<() => void> = [];
  #error: Error | null = null;

  /** Starts `threads` workers running the module `options.worker`. */
  static async start<Job, Result, Broadcast = never>(
    options: WorkerPoolOptions<Result>,
  ): Promise<WorkerPool<Job, Result, Broadcast>> {
    return new WorkerPool<Job, Result, Broadcast>(options, await workerFile(options.worker));
  }

  private constructor(options: WorkerPoolOptions<Result>, file: string | URL) {
    this.#apply = options.apply;
    const threads = Math.max(1, options.threads);
    this.#limit = threads * (options.maxInFlight ?? 3);
    this.#slots = Array.from({ length: threads }, () => {
      const slot: Slot = { worker: new Worker(file, { workerData: options.workerData }), inFlight: 0 };
      slot.worker.on('message', (m: PoolReply<Result>) => this.#done(slot, m));
      slot.worker.on('error', (e) => this.#fail(e));
      return slot;
    });
  }

  /** Jobs submitted and not yet applied. */
  get pending(): number {
    return this.#nextSend - this.#nextApply;
  }

  #done(from: Slot, m: PoolReply<Result>): void {
    from.inFlight--;
    if ('error' in m) {
      this.#fail(new Error(`a pool worker failed: ${m.error}`));
      return;
    }
    this.#results.set(m.id, m.result);
    try {
      for (
        let next = this.#results.get(this.#nextApply);
        next !== undefined;
        next = this.#results.get(this.#nextApply)
      ) {
        this.#results.delete(this.#nextApply);
        this.#nextApply++;
        this.#apply(next);
      }
    } catch (e) {
      this.#fail(e instanceof Error ? e : new Error(String(e)));
    }
    this.#wake();
  }

  #fail(e: Error): void {
    this.#error ??= e;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  #wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Sends `message` to every worker, ahead of any job submitted after it. */
  broadcast(message: Broadcast): void {
    const m: PoolMessage<Job, Broadcast> = { kind: 'broadcast', message };
    for (const slot of this.#slots) slot.worker.postMessage(m);
  }

  /** Dispatches one job to the least busy worker; resolves once it is sent (waits while the pool is full). */
  async submit(job: Job, transfer: Transferable[] = []): Promise<void> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#nextSend - this.#nextApply < this.#limit) break;
      await this.#wait();
    }
    const slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    const m: PoolMessage<Job, Broadcast> = { kind: 'job', id: this.#nextSend++, job };
    slot.worker.postMessage(m, transfer);
  }

  /** Waits until every job submitted has been applied; rejects with the first worker or apply error. */
  async drain(): Promise<void> {
    while (this.#nextApply < this.#nextSend) {
      if (this.#error) throw this.#error;
      await this.#wait();
    }
    if (this.#error) throw this.#error;
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
