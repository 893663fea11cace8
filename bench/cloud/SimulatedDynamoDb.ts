import type { TransactOp } from '../../core/ports/index.js';
import { InMemoryKeyValueStore } from '../../core/ports/index.js';

/**
 * DynamoDB as `npm run bench:cloud` models it: the `KeyValueStore` port's semantics (an
 * `InMemoryKeyValueStore`, the same the unit tests hold the DynamoDB adapter to), plus
 *
 * - **latency**: every call takes a time drawn uniformly from its operation's range; its effect lands at
 *   the middle of that time (the request's half way there), so two calls that overlap race as they do
 *   against a real table;
 * - **per-partition capacity** (optional): a token bucket of write units and one of read units per
 *   partition key, refilled at DynamoDB's per-partition limits; a call whose units are not there is
 *   throttled (it fails, consuming nothing, writing nothing), as DynamoDB answers
 *   `ProvisionedThroughputExceededException`/`ThrottlingException`, or cancels a transaction with
 *   `ThrottlingError`.
 */

/** A latency range in ms, drawn uniformly. */
export interface LatencyRange {
  minMs: number;
  maxMs: number;
}

export interface LatencyModel {
  get: LatencyRange;
  query: LatencyRange;
  /** putIfAbsent, put, replaceIf, delete, increment (PutItem, DeleteItem, UpdateItem). */
  write: LatencyRange;
  transact: LatencyRange;
}

/** Issue 9's model: put 4-8 ms, get 2-4 ms, transaction 8-12 ms, uniform in between. */
export const DYNAMODB_LATENCY: LatencyModel = {
  get: { minMs: 2, maxMs: 4 },
  query: { minMs: 2, maxMs: 4 },
  write: { minMs: 4, maxMs: 8 },
  transact: { minMs: 8, maxMs: 12 },
};

export interface CapacityModel {
  /** Write units per second per partition key (DynamoDB: 1,000). */
  writeUnitsPerSec: number;
  /** Read units per second per partition key (DynamoDB: 3,000, strongly consistent reads of up to 4 KB). */
  readUnitsPerSec: number;
  /** Seconds of unused capacity a bucket holds (a burst allowance). */
  burstSeconds: number;
}

/** DynamoDB's per-partition limits. */
export const DYNAMODB_PARTITION_LIMITS: CapacityModel = {
  writeUnitsPerSec: 1_000,
  readUnitsPerSec: 3_000,
  burstSeconds: 1,
};

/** What one call asks of the store, as the instances send it. */
export type StoreCall =
  | { op: 'get'; pk: string; sk: string }
  | { op: 'putIfAbsent'; pk: string; sk: string; data: string }
  | { op: 'put'; pk: string; sk: string; data: string }
  | { op: 'replaceIf'; pk: string; sk: string; expected: string; data: string }
  | { op: 'delete'; pk: string; sk: string }
  | { op: 'query'; pk: string; options: { after?: string; limit: number; descending?: boolean } }
  | { op: 'increment'; pk: string; sk: string }
  | { op: 'transact'; ops: TransactOp[] };

export type StoreReply =
  | { ok: true; value: unknown }
  /** `name` is the DynamoDB exception the real client would throw. */
  | { ok: false; name: string; message: string };

/** Units consumed and refused per partition key, since the last reset. */
export interface PartitionUsage {
  writeUnits: number;
  readUnits: number;
  /** Calls refused for this partition's capacity. */
  throttled: number;
}

/** Billing of one call: units per partition key. */
interface Bill {
  write: Map<string, number>;
  read: Map<string, number>;
}

const KB = 1024;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Item size as DynamoDB counts it: attribute names and values (`pk`, `sk`, `data`). */
function itemBytes(pk: string, sk: string, data: string | null): number {
  return 2 + utf8Bytes(pk) + 2 + utf8Bytes(sk) + (data === null ? 0 : 4 + utf8Bytes(data));
}

const writeUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / KB));
const readUnits = (bytes: number) => Math.max(1, Math.ceil(bytes / (4 * KB)));

function add(map: Map<string, number>, pk: string, units: number): void {
  map.set(pk, (map.get(pk) ?? 0) + units);
}

class TokenBucket {
  #tokens: number;
  #at: number;
  constructor(
    private readonly rate: number,
    private readonly capacity: number,
    now: number,
  ) {
    this.#tokens = capacity;
    this.#at = now;
  }
  refill(now: number): number {
    this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    return this.#tokens;
  }
  take(units: number): void {
    this.#tokens -= units;
  }
}

export class SimulatedDynamoDb {
  readonly store = new InMemoryKeyValueStore();
  readonly #latency: LatencyModel;
  readonly #capacity: CapacityModel | null;
  readonly #writeBuckets = new Map<string, TokenBucket>();
  readonly #readBuckets = new Map<string, TokenBucket>();
  #usage = new Map<string, PartitionUsage>();
  /** Calls by operation since the last reset. */
  calls: Record<string, number> = {};
  throttledCalls = 0;

  readonly #now: () => number;

  /** `now` (ms, monotonic) refills the buckets: a fake clock in tests; `performance.now` by default. */
  constructor(options: { latency: LatencyModel; capacity: CapacityModel | null; now?: () => number }) {
    this.#latency = options.latency;
    this.#capacity = options.capacity;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Starts counting usage afresh (a measured run begins). */
  resetUsage(): void {
    this.#usage = new Map();
    this.calls = {};
    this.throttledCalls = 0;
  }

  usage(): ReadonlyMap<string, PartitionUsage> {
    return this.#usage;
  }

  /** Answers one call after its modelled latency; its effect lands half way through. */
  call(call: StoreCall): Promise<StoreReply> {
    const range = this.#rangeOf(call.op);
    const totalMs = range.minMs + Math.random() * (range.maxMs - range.minMs);
    this.calls[call.op] = (this.calls[call.op] ?? 0) + 1;
    return new Promise((resolve) => {
      setTimeout(() => {
        void this.#apply(call)
          .catch(
            (error: unknown): StoreReply => ({
              ok: false,
              name: 'ValidationException',
              message: String((error as Error)?.message ?? error),
            }),
          )
          .then((reply) => setTimeout(() => resolve(reply), totalMs / 2));
      }, totalMs / 2);
    });
  }

  #rangeOf(op: StoreCall['op']): LatencyRange {
    if (op === 'get') return this.#latency.get;
    if (op === 'query') return this.#latency.query;
    if (op === 'transact') return this.#latency.transact;
    return this.#latency.write;
  }

  /**
   * Bills, throttles or applies one call. Atomic: every promise it awaits is the in-memory store's, which
   * has done its work before it returns, so the whole of it runs in one turn of the microtask queue and no
   * other call (a timer, an IPC message: macrotasks) can interleave.
   */
  async #apply(call: StoreCall): Promise<StoreReply> {
    const now = this.#now();
    const current = (pk: string, sk: string): Promise<string | null> => this.store.get(pk, sk);
    const bill: Bill = { write: new Map(), read: new Map() };
    let run: () => Promise<unknown>;
    switch (call.op) {
      case 'get': {
        add(bill.read, call.pk, readUnits(itemBytes(call.pk, call.sk, await current(call.pk, call.sk))));
        run = () => this.store.get(call.pk, call.sk);
        break;
      }
      case 'query': {
        run = () => this.store.query(call.pk, call.options);
        // Billed on what it returns (read before it is applied: the same items, nothing interleaves).
        const items = await this.store.query(call.pk, call.options);
        const bytes = items.reduce((sum, i) => sum + itemBytes(call.pk, i.sk, i.data), 0);
        add(bill.read, call.pk, readUnits(bytes));
        break;
      }
      case 'putIfAbsent':
      case 'put':
      case 'replaceIf': {
        // A failed condition is billed too: the larger of the old and the new item.
        const old = await current(call.pk, call.sk);
        const bytes = Math.max(
          itemBytes(call.pk, call.sk, call.data),
          old === null ? 0 : itemBytes(call.pk, call.sk, old),
        );
        add(bill.write, call.pk, writeUnits(bytes));
        run =
          call.op === 'putIfAbsent'
            ? () => this.store.putIfAbsent(call.pk, call.sk, call.data)
            : call.op === 'put'
              ? () => this.store.put(call.pk, call.sk, call.data)
              : () => this.store.replaceIf(call.pk, call.sk, call.expected, call.data);
        break;
      }
      case 'delete': {
        add(bill.write, call.pk, writeUnits(itemBytes(call.pk, call.sk, await current(call.pk, call.sk))));
        run = () => this.store.delete(call.pk, call.sk);
        break;
      }
      case 'increment': {
        add(bill.write, call.pk, 1);
        run = () => this.store.increment(call.pk, call.sk);
        break;
      }
      case 'transact': {
        // Two write units per KB of every item of the transaction, condition checks included, whether it
        // commits or is cancelled on a condition.
        for (const op of call.ops) {
          const old = await current(op.pk, op.sk);
          const written =
            op.op === 'put' || op.op === 'putIfAbsent' || op.op === 'replaceIf' ? op.data : null;
          const bytes = Math.max(
            written === null ? 0 : itemBytes(op.pk, op.sk, written),
            old === null ? itemBytes(op.pk, op.sk, null) : itemBytes(op.pk, op.sk, old),
          );
          add(bill.write, op.pk, 2 * writeUnits(bytes));
        }
        run = () => this.store.transact(call.ops);
        break;
      }
    }
    if (!this.#admit(bill, now)) {
      this.throttledCalls++;
      return call.op === 'transact'
        ? {
            ok: false,
            name: 'TransactionCanceledException',
            message:
              'Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError]',
          }
        : {
            ok: false,
            name: 'ProvisionedThroughputExceededException',
            message: 'The level of configured provisioned throughput for the table was exceeded',
          };
    }
    return { ok: true, value: await run() };
  }

  /** Takes the bill's units from every partition it touches, or none of them when one is short. */
  #admit(bill: Bill, now: number): boolean {
    const cap = this.#capacity;
    if (cap !== null) {
      const short = (
        buckets: Map<string, TokenBucket>,
        units: Map<string, number>,
        rate: number,
      ): string | null => {
        for (const [pk, need] of units) {
          let bucket = buckets.get(pk);
          if (!bucket) {
            bucket = new TokenBucket(rate, rate * cap.burstSeconds, now);
            buckets.set(pk, bucket);
          }
          if (bucket.refill(now) < need) return pk;
        }
        return null;
      };
      const refused =
        short(this.#writeBuckets, bill.write, cap.writeUnitsPerSec) ??
        short(this.#readBuckets, bill.read, cap.readUnitsPerSec);
      if (refused !== null) {
        this.#usageOf(refused).throttled++;
        return false;
      }
      for (const [pk, units] of bill.write) this.#writeBuckets.get(pk)?.take(units);
      for (const [pk, units] of bill.read) this.#readBuckets.get(pk)?.take(units);
    }
    for (const [pk, units] of bill.write) this.#usageOf(pk).writeUnits += units;
    for (const [pk, units] of bill.read) this.#usageOf(pk).readUnits += units;
    return true;
  }

  #usageOf(pk: string): PartitionUsage {
    let usage = this.#usage.get(pk);
    if (!usage) {
      usage = { writeUnits: 0, readUnits: 0, throttled: 0 };
      this.#usage.set(pk, usage);
    }
    return usage;
  }
}
