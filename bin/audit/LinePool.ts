import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { AuditRecord } from '../../core/records.js';

/**
 * Verifies the stored lines of a JSONL log on worker threads, one per core, in batches: each worker runs
 * the per-line steps that need no sequential state ({@link prepareLine}: parse, schema, canonical text,
 * hash, the ECDSA check, the Merkle leaf hash) and the main thread, through `apply`, only what must run in
 * order (sequence, links, key table, session windows, references, the Merkle append). A batch goes out as
 * one joined string and comes back as one JSON string plus one transferred buffer of leaf hashes.
 *
 * Results are applied strictly in batch order. At most `threads * maxInFlight` batches are sent and not
 * yet applied: {@link send} waits beyond that, which is the back-pressure that keeps memory flat.
 *
 * Key records certify session keys: before a batch that holds one goes out, every worker is told of the
 * key (an id is the hash of its key, so a check with it is sound whatever the certificate's fate; the main
 * thread decides in order whether the key is trusted). A line a worker cannot check (a key it does not
 * hold) comes back as text and is verified on the main thread.
 */

/** What the main thread applies, per batch, in order. */
export interface LineBatch {
  /** Per line: the reduced record of a prepared line, or the line itself to verify inline. */
  entries: Array<string | AuditRecord>;
  /** 32 bytes per line: the RFC 6962 leaf hash of each prepared line (zeros for the others). */
  leaves: Uint8Array;
}

/** @internal Messages to a worker. */
export type LinePoolMessage =
  | { type: 'key'; keyId: string; pem: string }
  | { type: 'batch'; batch: number; text: string };

/** @internal A worker's answer to a batch. */
export interface LineBatchReply {
  batch: number;
  /** JSON of `LineBatch['entries']`. */
  entries: string;
  leaves: Uint8Array;
}

/** @internal */
export interface LineWorkerData {
  roots: string[];
}

export interface LinePoolOptions {
  threads: number;
  /** SPKI PEM root keys (the verifier's trust anchor; workers only use them to check). */
  roots: string[];
  /** Applies each batch's results, in input order, on the main thread. */
  apply: (batch: LineBatch) => void;
  maxInFlight?: number;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

let bundled: Promise<string> | null = null;

/** Every key record's canonical text holds this, and no other record's fields can (a `"` is escaped in a value). */
const KEY_KIND = '"kind":"key"';

/**
 * The worker script. From the compiled package it is `verifyWorker.js` beside this module; from the
 * TypeScript sources (vitest) it is bundled on the fly with esbuild (a dev dependency), since a worker
 * thread cannot load TypeScript.
 */
async function workerScript(): Promise<{ script: string | URL; evaluate: boolean }> {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts'))
    return { script: new URL('./verifyWorker.js', import.meta.url), evaluate: false };
  bundled ??= import('esbuild').then(async ({ build }) => {
    const out = await build({
      entryPoints: [join(dirname(here), 'verifyWorker.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      write: false,
      logLevel: 'silent',
    });
    return (out.outputFiles[0] as { text: string }).text;
  });
  return { script: await bundled, evaluate: true };
}

export class LinePool {
  readonly #slots: Slot[];
  readonly #apply: (batch: LineBatch) => void;
  readonly #limit: number;
  readonly #results = new Map<number, LineBatch>();
  readonly #announced = new Set<string>();
  #nextSend = 0;
  #nextApply = 0;
  #waiters: Array<() => void> = [];
  #error: Error | null = null;

  static async create(options: LinePoolOptions): Promise<LinePool> {
    const { script, evaluate } = await workerScript();
    return new LinePool(options, script, evaluate);
  }

  private constructor(options: LinePoolOptions, script: string | URL, evaluate: boolean) {
    this.#apply = options.apply;
    const threads = Math.max(1, options.threads);
    this.#limit = threads * (options.maxInFlight ?? 3);
    const workerData: LineWorkerData = { roots: options.roots };
    this.#slots = Array.from({ length: threads }, () => {
      const slot: Slot = { worker: new Worker(script, { eval: evaluate, workerData }), inFlight: 0 };
      slot.worker.on('message', (m: LineBatchReply) => this.#done(slot, m));
      slot.worker.on('error', (e) => this.#fail(e));
      return slot;
    });
  }

  #done(from: Slot, m: LineBatchReply): void {
    from.inFlight--;
    this.#results.set(m.batch, {
      entries: JSON.parse(m.entries) as LineBatch['entries'],
      leaves: m.leaves,
    });
    try {
      for (let next = this.#results.get(this.#nextApply); next; next = this.#results.get(this.#nextApply)) {
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

  /** Sends one batch of lines (no line holds a newline); resolves once it is dispatched. */
  async send(lines: readonly string[]): Promise<void> {
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#nextSend - this.#nextApply < this.#limit) break;
      await this.#wait();
    }
    const text = lines.join('\n');
    if (text.includes(KEY_KIND))
      for (const line of lines) if (line.includes(KEY_KIND)) this.#announceKey(line);
    const slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    slot.inFlight++;
    const message: LinePoolMessage = { type: 'batch', batch: this.#nextSend++, text };
    slot.worker.postMessage(message);
  }

  /**
   * A key record is about to go out: every worker learns its key first, so that the lines after it, in
   * whichever worker's batch, are checked there and not sent back. Unverified here: a worker keeps the key
   * only when its id is the hash of it, and the main thread decides in order whether it is trusted.
   */
  #announceKey(line: string): void {
    let keyId: unknown;
    let pem: unknown;
    try {
      ({ certified_key_id: keyId, certified_public_key_pem: pem } = JSON.parse(line) as Record<
        string,
        unknown
      >);
    } catch {
      return;
    }
    if (typeof keyId !== 'string' || typeof pem !== 'string' || this.#announced.has(keyId)) return;
    this.#announced.add(keyId);
    const message: LinePoolMessage = { type: 'key', keyId, pem };
    for (const slot of this.#slots) slot.worker.postMessage(message);
  }

  /** Waits until every batch sent has been applied. */
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
