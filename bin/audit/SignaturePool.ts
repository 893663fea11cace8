import { Worker } from 'node:worker_threads';
import type { ChainVerifier, DeferredSignatureCheck } from '../../core/ChainVerifier.js';

/**
 * Runs the ECDSA checks of a {@link ChainVerifier} in `deferSignatures` mode on worker threads, one per
 * core: for records that arrive parsed (a JSON array, a `GET /audit` page). JSON Lines go through
 * `LinePool` instead, which moves the whole per-line work to the workers. The verifier stays on the
 * main thread (sequence, links, key table); only the pure check (key, payload, signature) -> boolean
 * crosses, in batches. At most `maxInFlight` batches per worker are
 * outstanding: {@link submit} waits beyond that, which is the back-pressure that keeps memory flat.
 *
 * The worker is an `eval` script (CommonJS, node:crypto only) so that it runs the same from the compiled
 * package and from the TypeScript sources under vitest.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', (m) => {
  if (m.type === 'key') {
    keys.set(m.keyId, createPublicKey(m.pem));
    return;
  }
  const out = new Uint8Array(m.payloads.length);
  for (let i = 0; i < m.payloads.length; i++) {
    const key = keys.get(m.keyIds[i]);
    if (key === undefined) continue;
    try {
      out[i] = verify('sha256', Buffer.from(m.payloads[i], 'utf8'), key, Buffer.from(m.signatures[i], 'base64')) ? 1 : 0;
    } catch {
      out[i] = 0;
    }
  }
  parentPort.postMessage({ batch: m.batch, out }, [out.buffer]);
});
`;

interface Slot {
  worker: Worker;
  inFlight: number;
}

export interface SignaturePoolOptions {
  threads: number;
  /** Checks per message. */
  batchSize?: number;
  maxInFlight?: number;
}

export class SignaturePool {
  readonly #slots: Slot[];
  readonly #batchSize: number;
  readonly #maxInFlight: number;
  readonly #sentKeys = new Set<string>();
  readonly #batches = new Map<number, { ids: Uint32Array; slot: Slot }>();
  #nextBatch = 0;
  #waiters: Array<() => void> = [];
  #error: Error | null = null;
  #verifier: ChainVerifier;

  constructor(verifier: ChainVerifier, options: SignaturePoolOptions) {
    this.#verifier = verifier;
    this.#batchSize = options.batchSize ?? 512;
    this.#maxInFlight = options.maxInFlight ?? 3;
    this.#slots = Array.from({ length: Math.max(1, options.threads) }, () => {
      const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), inFlight: 0 };
      slot.worker.on('message', (m: { batch: number; out: Uint8Array }) => this.#done(m));
      slot.worker.on('error', (e) => this.#fail(e));
      return slot;
    });
  }

  get batchSize(): number {
    return this.#batchSize;
  }

  #done(m: { batch: number; out: Uint8Array }): void {
    const batch = this.#batches.get(m.batch);
    if (!batch) return;
    this.#batches.delete(m.batch);
    batch.slot.inFlight--;
    try {
      this.#verifier.settleSignatures(batch.ids, m.out);
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

  /** Sends the verifier's queued checks to the workers; resolves once they are all dispatched. */
  async submit(): Promise<void> {
    const checks = this.#verifier.takeSignatureChecks();
    for (let i = 0; i < checks.length; i += this.#batchSize) {
      await this.#send(checks.slice(i, i + this.#batchSize));
    }
  }

  async #send(checks: DeferredSignatureCheck[]): Promise<void> {
    for (const check of checks) {
      if (this.#sentKeys.has(check.keyId)) continue;
      this.#sentKeys.add(check.keyId);
      const pem = this.#verifier.publicKeyPem(check.keyId);
      // INVARIANT: a key reaches every worker before any batch that names it (messages are ordered).
      for (const slot of this.#slots) slot.worker.postMessage({ type: 'key', keyId: check.keyId, pem });
    }
    for (;;) {
      if (this.#error) throw this.#error;
      const slot = this.#slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      if (slot.inFlight < this.#maxInFlight) {
        const batch = this.#nextBatch++;
        const ids = Uint32Array.from(checks, (c) => c.id);
        this.#batches.set(batch, { ids, slot });
        slot.inFlight++;
        slot.worker.postMessage({
          batch,
          keyIds: checks.map((c) => c.keyId),
          payloads: checks.map((c) => c.payload),
          signatures: checks.map((c) => c.signature),
        });
        return;
      }
      await this.#wait();
    }
  }

  /** Waits for every dispatched batch. */
  async drain(): Promise<void> {
    await this.submit();
    while (this.#batches.size > 0) {
      if (this.#error) throw this.#error;
      await this.#wait();
    }
    if (this.#error) throw this.#error;
  }

  async close(): Promise<void> {
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
