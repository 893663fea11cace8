import { InfrastructureError } from '../errors/errors.js';
import { type KeyValueStore, MAX_TRANSACTION_OPS, type TransactOp, type TransactResult } from './ports.js';

/** DynamoDB's limits, enforced here too so a unit test cannot pass on what the real table refuses. */
const MAX_ITEM_BYTES = 400 * 1024;
const MAX_PARTITION_KEY_BYTES = 2048;
const MAX_SORT_KEY_BYTES = 1024;

/** One stored item: `data` (opaque text) and/or a counter `n`, as in the DynamoDB table. */
interface Item {
  data?: string;
  n?: number;
}

interface Partition {
  items: Map<string, Item>;
  /** INVARIANT: the keys of `items`, sorted by `compareSortKeys`, no duplicates. */
  sorted: string[];
}

/**
 * Orders strings as DynamoDB orders `S` keys: by their UTF-8 bytes, which is Unicode code point order.
 * JavaScript's `<` compares UTF-16 code units instead, which puts U+10000..U+10FFFF (surrogate pairs)
 * before U+E000..U+FFFF; this fixes up the first differing unit so both orders agree.
 */
export function compareSortKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** Length of `text` in UTF-8 bytes, without allocating. */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < text.length) {
      // a surrogate pair (lone surrogates are refused before this is called) is one 4-byte code point
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** Matches a lone surrogate only: in `u` mode a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /\p{Surrogate}/u;

function refuse(message: string): never {
  throw new InfrastructureError('STORE_INVALID_ITEM', message);
}

/** Refuses text with a lone surrogate: it has no UTF-8 form, so no store could keep it byte for byte. */
export function checkText(what: string, text: string): void {
  if (LONE_SURROGATE.test(text)) refuse(`${what} is not valid unicode (it holds a lone surrogate)`);
}

/**
 * Refuses a key DynamoDB would refuse (empty, a lone surrogate, over 2048/1024 bytes) with an
 * `InfrastructureError` `STORE_INVALID_ITEM`. Shared by the embedded adapters so they refuse alike.
 */
export function checkKey(pk: string, sk: string): void {
  if (pk.length === 0 || sk.length === 0) refuse('a key attribute cannot be an empty string');
  checkText('the partition key', pk);
  checkText('the sort key', sk);
  if (utf8Length(pk) > MAX_PARTITION_KEY_BYTES) {
    refuse(`the partition key is over ${MAX_PARTITION_KEY_BYTES} bytes`);
  }
  if (utf8Length(sk) > MAX_SORT_KEY_BYTES) refuse(`the sort key is over ${MAX_SORT_KEY_BYTES} bytes`);
}

/** {@link checkKey}, and refuses data with a lone surrogate or an item over 400 KB (names included). */
export function checkItem(pk: string, sk: string, data: string): void {
  checkKey(pk, sk);
  checkText('the data', data);
  // attribute names count towards the item size, as in DynamoDB: `pk`, `sk`, `data`
  const size = 2 + utf8Length(pk) + 2 + utf8Length(sk) + 4 + utf8Length(data);
  if (size > MAX_ITEM_BYTES) refuse(`the item is ${size} bytes, over the ${MAX_ITEM_BYTES} bytes allowed`);
}

/** Refuses a query limit that is not a non-negative safe integer (`RangeError`). */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`query limit must be a non-negative integer, got \`${limit}\``);
  }
}

/**
 * Refuses a transaction DynamoDB's `TransactWriteItems` would refuse: no operation or more than
 * {@link MAX_TRANSACTION_OPS}, an invalid key or item, two operations on one item, or an expected value
 * with a lone surrogate (`InfrastructureError` `STORE_INVALID_ITEM`).
 */
export function checkTransaction(ops: readonly TransactOp[]): void {
  if (ops.length === 0 || ops.length > MAX_TRANSACTION_OPS) {
    refuse(`a transaction holds 1 to ${MAX_TRANSACTION_OPS} operations, got ${ops.length}`);
  }
  const keys = new Set<string>();
  for (const op of ops) {
    if (op.op === 'delete' || op.op === 'check') checkKey(op.pk, op.sk);
    else checkItem(op.pk, op.sk, op.data);
    if ((op.op === 'replaceIf' || op.op === 'check') && op.expected !== null) {
      checkText('the expected data', op.expected);
    }
    const key = JSON.stringify([op.pk, op.sk]);
    // DynamoDB refuses two operations on one item in a transaction (ValidationException)
    if (keys.has(key)) refuse('a transaction cannot hold two operations on the same item');
    keys.add(key);
  }
}

/** What `get` and `query` return for an item: its data, or for a counter item its value in decimal. */
function itemValue(item: Item): string | null {
  if (item.data !== undefined) return item.data;
  if (item.n !== undefined) return String(item.n);
  return null;
}

/** First index in `sorted` whose key is not below `sk` (binary search). */
function lowerBound(sorted: readonly string[], sk: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareSortKeys(sorted[mid]!, sk) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * A `KeyValueStore` in memory, for unit tests: no I/O, same observable semantics as the DynamoDB adapter.
 *
 * - `sk` order is byte-wise over UTF-8, exactly DynamoDB's order for `S` keys.
 * - Every operation is atomic (it runs to completion within one call), like a single-item DynamoDB write.
 * - Empty keys, lone surrogates, keys over 2048/1024 bytes and items over 400 KB are refused with an
 *   `InfrastructureError` (`STORE_INVALID_ITEM`), where DynamoDB answers `ValidationException`.
 * - A counter item (written by `increment`) has no `data`: `get` and `query` return its value in decimal;
 *   `replaceIf` compares `data` only, so it never matches a counter item.
 */
export class InMemoryKeyValueStore implements KeyValueStore {
  readonly #partitions = new Map<string, Partition>();

  async get(pk: string, sk: string): Promise<string | null> {
    checkKey(pk, sk);
    const item = this.#partitions.get(pk)?.items.get(sk);
    return item === undefined ? null : itemValue(item);
  }

  async putIfAbsent(pk: string, sk: string, data: string): Promise<boolean> {
    checkItem(pk, sk, data);
    if (this.#partitions.get(pk)?.items.has(sk)) return false;
    this.#write(pk, sk, { data });
    return true;
  }

  async put(pk: string, sk: string, data: string): Promise<void> {
    checkItem(pk, sk, data);
    this.#write(pk, sk, { data });
  }

  async replaceIf(pk: string, sk: string, expected: string, data: string): Promise<boolean> {
    checkItem(pk, sk, data);
    checkText('the expected data', expected);
    const item = this.#partitions.get(pk)?.items.get(sk);
    if (item?.data !== expected) return false;
    // a PutItem replaces the whole item, counter included
    this.#write(pk, sk, { data });
    return true;
  }

  async delete(pk: string, sk: string): Promise<boolean> {
    checkKey(pk, sk);
    return this.#remove(pk, sk);
  }

  #remove(pk: string, sk: string): boolean {
    const partition = this.#partitions.get(pk);
    if (!partition?.items.delete(sk)) return false;
    partition.sorted.splice(lowerBound(partition.sorted, sk), 1);
    if (partition.items.size === 0) this.#partitions.delete(pk);
    return true;
  }

  async query(
    pk: string,
    options: { after?: string; limit: number; descending?: boolean },
  ): Promise<Array<{ sk: string; data: string }>> {
    const { after, limit, descending = false } = options;
    checkLimit(limit);
    if (pk.length === 0) refuse('a key attribute cannot be an empty string');
    const partition = this.#partitions.get(pk);
    if (partition === undefined || limit === 0) return [];
    const { sorted, items } = partition;
    const result: Array<{ sk: string; data: string }> = [];
    const take = (sk: string): void => {
      const data = itemValue(items.get(sk)!);
      if (data !== null) result.push({ sk, data });
    };
    if (descending) {
      // keys strictly below `after`
      let i = after === undefined ? sorted.length - 1 : lowerBound(sorted, after) - 1;
      for (; i >= 0 && result.length < limit; i--) take(sorted[i]!);
    } else {
      // keys strictly above `after`
      let i = 0;
      if (after !== undefined) {
        i = lowerBound(sorted, after);
        if (sorted[i] === after) i++;
      }
      for (; i < sorted.length && result.length < limit; i++) take(sorted[i]!);
    }
    return result;
  }

  async increment(pk: string, sk: string): Promise<number> {
    checkKey(pk, sk);
    const item = this.#partitions.get(pk)?.items.get(sk);
    const n = (item?.n ?? 0) + 1;
    this.#write(pk, sk, { ...item, n });
    return n;
  }

  async transact(ops: readonly TransactOp[]): Promise<TransactResult> {
    checkTransaction(ops);
    // Conditions first, all of them, then the writes: all or nothing, within one call.
    for (const [index, op] of ops.entries()) {
      const item = this.#partitions.get(op.pk)?.items.get(op.sk);
      const holds =
        op.op === 'putIfAbsent'
          ? item === undefined
          : op.op === 'replaceIf'
            ? item?.data === op.expected
            : op.op === 'check'
              ? op.expected === null
                ? item === undefined
                : item?.data === op.expected
              : op.op === 'delete' && op.expected !== undefined
                ? item?.data === op.expected
                : true;
      if (!holds) return { ok: false, failed: index };
    }
    for (const op of ops) {
      // INVARIANT: no await between the checks and the last write, so nothing interleaves.
      if (op.op === 'delete') this.#remove(op.pk, op.sk);
      else if (op.op !== 'check') this.#write(op.pk, op.sk, { data: op.data });
    }
    return { ok: true };
  }

  #write(pk: string, sk: string, item: Item): void {
    let partition = this.#partitions.get(pk);
    if (partition === undefined) {
      partition = { items: new Map(), sorted: [] };
      this.#partitions.set(pk, partition);
    }
    if (!partition.items.has(sk)) partition.sorted.splice(lowerBound(partition.sorted, sk), 0, sk);
    partition.items.set(sk, item);
  }
}
