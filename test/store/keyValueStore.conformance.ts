import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type KeyValueStore, MAX_TRANSACTION_OPS, type TransactOp } from '../../core/ports/ports.js';

/** A chain sequence number as the sort key: 20 digits, zero-padded, so byte order is numeric order. */
function seq(n: number): string {
  return String(n).padStart(20, '0');
}

/** Keys of a query result. */
function sks(items: Array<{ sk: string }>): string[] {
  return items.map((item) => item.sk);
}

/** Each test writes under its own partition, so one store can serve the whole suite. */
function freshPartition(): string {
  return `conformance-${randomUUID()}`;
}

/** Data that a sloppy adapter would mangle: escapes, quotes, control characters, every UTF-8 length. */
const AWKWARD =
  '{"quote":"\\"","backslash":"\\\\","path":"C:\\\\dir\\\\file"} ' +
  'single \' double " back \\ slash \\\\ \\u0041 not-an-escape ' +
  'tab\tnewline\ncr\rnul\u0000bell\u0007 del\u007f ' +
  'é ß ñ ü (2 bytes) 日本語 中文 한국어 € (3 bytes) 😀 🔐 𝄞 (4 bytes) ' +
  'e\u0301 (combining) עברית العربية (rtl) \u200b\u200d\ufeff (zero width, bom) \uffff';

/**
 * The `KeyValueStore` contract, run against every backend. `getStore` is called inside each test, after
 * the caller's `beforeAll` has started the backend. A backend without transactions (dynalite) passes
 * `{transactions: false}`: it must then refuse `transact` and write nothing, never half-apply it.
 */
export function keyValueStoreConformance(
  getStore: () => KeyValueStore,
  options: { transactions?: boolean } = {},
): void {
  if (options.transactions === false) transactionsRefused(getStore);
  else transactionConformance(getStore);

  describe('when reading a key that was never written', () => {
    it('returns null', async () => {
      const store = getStore();

      const value = await store.get(freshPartition(), 'missing');

      expect(value).toBeNull();
    });
  });

  describe('when putting only if absent', () => {
    it('writes the first time and refuses the second, keeping the original data', async () => {
      const store = getStore();
      const pk = freshPartition();

      const first = await store.putIfAbsent(pk, 'k', 'original');
      const second = await store.putIfAbsent(pk, 'k', 'intruder');

      expect(first).toBe(true);
      expect(second).toBe(false);
      expect(await store.get(pk, 'k')).toBe('original');
    });

    it('lets exactly one of 64 concurrent writers win, and stores the winner data', async () => {
      const store = getStore();
      const pk = freshPartition();
      const contenders = Array.from({ length: 64 }, (_, i) => `writer-${i}`);

      const results = await Promise.all(contenders.map((data) => store.putIfAbsent(pk, seq(1), data)));

      const winners = contenders.filter((_, i) => results[i]);
      expect(winners).toHaveLength(1);
      expect(await store.get(pk, seq(1))).toBe(winners[0]);
    });
  });

  describe('when putting unconditionally', () => {
    it('creates, then replaces', async () => {
      const store = getStore();
      const pk = freshPartition();

      await store.put(pk, 'k', 'one');
      const created = await store.get(pk, 'k');
      await store.put(pk, 'k', 'two');

      expect(created).toBe('one');
      expect(await store.get(pk, 'k')).toBe('two');
    });
  });

  describe('when replacing conditionally', () => {
    it('replaces when the current data equals the expected data', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', '{"v":1}');

      const replaced = await store.replaceIf(pk, 'k', '{"v":1}', '{"v":2}');

      expect(replaced).toBe(true);
      expect(await store.get(pk, 'k')).toBe('{"v":2}');
    });

    it('refuses when the current data differs, even by whitespace, and keeps it', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', '{"v":1}');

      const replaced = await store.replaceIf(pk, 'k', '{"v": 1}', '{"v":2}');

      expect(replaced).toBe(false);
      expect(await store.get(pk, 'k')).toBe('{"v":1}');
    });

    it('refuses on a missing item and creates nothing', async () => {
      const store = getStore();
      const pk = freshPartition();

      const replaced = await store.replaceIf(pk, 'k', '', 'created?');

      expect(replaced).toBe(false);
      expect(await store.get(pk, 'k')).toBeNull();
    });

    it('lets exactly one of 16 concurrent replacements of the same data win', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', 'v0');
      const contenders = Array.from({ length: 16 }, (_, i) => `v1-by-${i}`);

      const results = await Promise.all(contenders.map((data) => store.replaceIf(pk, 'k', 'v0', data)));

      const winners = contenders.filter((_, i) => results[i]);
      expect(winners).toHaveLength(1);
      expect(await store.get(pk, 'k')).toBe(winners[0]);
    });

    it('compares unicode data exactly', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', AWKWARD);

      const withDecomposed = await store.replaceIf(pk, 'k', AWKWARD.normalize('NFC'), 'normalized?');
      const exact = await store.replaceIf(pk, 'k', AWKWARD, 'replaced');

      expect(withDecomposed).toBe(false);
      expect(exact).toBe(true);
      expect(await store.get(pk, 'k')).toBe('replaced');
    });
  });

  describe('when deleting', () => {
    it('returns true for an existing item, then false, and the item is gone', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', 'doomed');
      await store.put(pk, 'other', 'kept');

      const first = await store.delete(pk, 'k');
      const second = await store.delete(pk, 'k');

      expect(first).toBe(true);
      expect(second).toBe(false);
      expect(await store.get(pk, 'k')).toBeNull();
      expect(await store.get(pk, 'other')).toBe('kept');
      expect(sks(await store.query(pk, { limit: 10 }))).toEqual(['other']);
    });

    it('lets a deleted key be put again only once', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', 'old');
      await store.delete(pk, 'k');

      const again = await store.putIfAbsent(pk, 'k', 'new');
      const twice = await store.putIfAbsent(pk, 'k', 'newer');

      expect([again, twice]).toEqual([true, false]);
      expect(await store.get(pk, 'k')).toBe('new');
    });
  });

  describe('when querying a partition', () => {
    /** Writes seq 1..25 in a scrambled order, so insertion order cannot pass for key order. */
    async function writeSequence(store: KeyValueStore, pk: string): Promise<void> {
      const order = Array.from({ length: 25 }, (_, i) => ((i * 7) % 25) + 1);
      await Promise.all(order.map((n) => store.put(pk, seq(n), `record ${n}`)));
    }
    const all = Array.from({ length: 25 }, (_, i) => seq(i + 1));

    it('returns items in ascending numeric order of zero-padded keys, with their data', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const items = await store.query(pk, { limit: 100 });

      expect(sks(items)).toEqual(all);
      expect(items[8]).toEqual({ sk: '00000000000000000009', data: 'record 9' });
      expect(items[9]).toEqual({ sk: '00000000000000000010', data: 'record 10' });
    });

    it('returns items in descending order when asked', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const items = await store.query(pk, { limit: 100, descending: true });

      expect(sks(items)).toEqual([...all].reverse());
    });

    it('starts strictly after `after` when ascending', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const fromExisting = await store.query(pk, { after: seq(10), limit: 100 });
      const fromBetween = await store.query(pk, { after: `${seq(10)}5`, limit: 100 });
      const fromLast = await store.query(pk, { after: seq(25), limit: 100 });

      expect(sks(fromExisting)).toEqual(all.slice(10));
      expect(sks(fromBetween)).toEqual(all.slice(10));
      expect(fromLast).toEqual([]);
    });

    it('starts strictly before `after` when descending', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const fromExisting = await store.query(pk, { after: seq(10), limit: 100, descending: true });
      const fromBetween = await store.query(pk, { after: `${seq(10)}5`, limit: 100, descending: true });
      const fromFirst = await store.query(pk, { after: seq(1), limit: 100, descending: true });

      expect(sks(fromExisting)).toEqual(all.slice(0, 9).reverse());
      expect(sks(fromBetween)).toEqual(all.slice(0, 10).reverse());
      expect(fromFirst).toEqual([]);
    });

    it('treats an empty `after` as before every key', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const ascending = await store.query(pk, { after: '', limit: 100 });
      const descending = await store.query(pk, { after: '', limit: 100, descending: true });

      expect(sks(ascending)).toEqual(all);
      expect(descending).toEqual([]);
    });

    it('honours `limit` in both directions', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const first3 = await store.query(pk, { limit: 3 });
      const last3 = await store.query(pk, { limit: 3, descending: true });
      const three = await store.query(pk, { after: seq(20), limit: 3 });
      const none = await store.query(pk, { limit: 0 });
      const head = await store.query(pk, { limit: 1, descending: true });

      expect(sks(first3)).toEqual(all.slice(0, 3));
      expect(sks(last3)).toEqual([seq(25), seq(24), seq(23)]);
      expect(sks(three)).toEqual([seq(21), seq(22), seq(23)]);
      expect(none).toEqual([]);
      expect(head).toEqual([{ sk: seq(25), data: 'record 25' }]);
    });

    it('walks every item exactly once when paging with `after` and a small `limit`', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const seen: string[] = [];
      let after: string | undefined;
      for (let page = 0; page < 50; page++) {
        const items = await store.query(pk, { after, limit: 4 });
        if (items.length === 0) break;
        seen.push(...sks(items));
        after = items.at(-1)!.sk;
      }

      expect(seen).toEqual(all);
    });

    it('orders keys by UTF-8 bytes (code points), as DynamoDB does, not by UTF-16 units', async () => {
      const store = getStore();
      const pk = freshPartition();
      // UTF-16 order would put the surrogate pairs (U+1F600, U+10000) before U+E000 and U+FFFF
      const expected = ['A', 'Z', 'a', 'a~', 'aé', 'a\ue000', 'a\uffff', 'a\u{10000}', 'a\u{1f600}', 'é'];
      for (const sk of [...expected].reverse()) await store.put(pk, sk, sk);

      const ascending = await store.query(pk, { limit: 100 });
      const afterBmp = await store.query(pk, { after: 'a\uffff', limit: 100 });
      const belowAstral = await store.query(pk, { after: 'a\u{10000}', limit: 2, descending: true });

      expect(sks(ascending)).toEqual(expected);
      expect(sks(afterBmp)).toEqual(['a\u{10000}', 'a\u{1f600}', 'é']);
      expect(sks(belowAstral)).toEqual(['a\uffff', 'a\ue000']);
    });

    it('returns nothing from another partition, even one whose name extends this one', async () => {
      const store = getStore();
      const pk = freshPartition();
      await writeSequence(store, pk);

      const other = await store.query(`${pk}-other`, { limit: 100 });
      const prefix = await store.query(pk.slice(0, -1), { limit: 100 });
      const otherGet = await store.get(`${pk}-other`, seq(1));

      expect(other).toEqual([]);
      expect(prefix).toEqual([]);
      expect(otherGet).toBeNull();
    });

    it('pages past the 1 MB response limit: 300 items of 8 KB, all in order, each exactly once', async () => {
      const store = getStore();
      const pk = freshPartition();
      const size = 8 * 1024;
      const dataOf = (n: number): string => `${n}:`.padEnd(size, String.fromCharCode(97 + (n % 26)));
      const keys = Array.from({ length: 300 }, (_, i) => seq(i + 1));
      for (let start = 0; start < keys.length; start += 50) {
        await Promise.all(
          keys.slice(start, start + 50).map((sk, i) => store.put(pk, sk, dataOf(start + i + 1))),
        );
      }

      const ascending = await store.query(pk, { limit: 1000 });
      const descending = await store.query(pk, { limit: 1000, descending: true });
      const capped = await store.query(pk, { limit: 250 });
      const tail = await store.query(pk, { after: seq(100), limit: 1000 });

      expect(sks(ascending)).toEqual(keys);
      expect(ascending.every((item, i) => item.data === dataOf(i + 1))).toBe(true);
      expect(sks(descending)).toEqual([...keys].reverse());
      expect(sks(capped)).toEqual(keys.slice(0, 250));
      expect(sks(tail)).toEqual(keys.slice(100));
    });
  });

  describe('when incrementing a counter', () => {
    it('starts an absent counter at 1, then 2', async () => {
      const store = getStore();
      const pk = freshPartition();

      const first = await store.increment(pk, 'counter');
      const second = await store.increment(pk, 'counter');

      expect([first, second]).toEqual([1, 2]);
    });

    it('ends exactly 50 higher after 50 concurrent increments, each seeing a distinct value', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.increment(pk, 'counter');
      await store.increment(pk, 'counter');

      const values = await Promise.all(Array.from({ length: 50 }, () => store.increment(pk, 'counter')));

      expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 3));
      expect(await store.increment(pk, 'counter')).toBe(53);
    });

    it('reads a counter item as its value in decimal, and a later put replaces it', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.increment(pk, 'version');
      await store.increment(pk, 'version');

      const read = await store.get(pk, 'version');
      const listed = await store.query(pk, { limit: 10 });
      const replacedIf = await store.replaceIf(pk, 'version', '2', 'data');
      await store.put(pk, 'version', 'data');
      const restarted = await store.increment(pk, 'version');

      expect(read).toBe('2');
      expect(listed).toEqual([{ sk: 'version', data: '2' }]);
      expect(replacedIf).toBe(false);
      expect(restarted).toBe(1);
      expect(await store.get(pk, 'version')).toBe('data');
    });
  });

  describe('when data is awkward', () => {
    it('round-trips unicode, quotes, backslashes and control characters byte for byte', async () => {
      const store = getStore();
      const pk = freshPartition();

      await store.put(pk, 'put', AWKWARD);
      await store.putIfAbsent(pk, 'putIfAbsent', AWKWARD);
      await store.put(pk, 'replaced', 'x');
      await store.replaceIf(pk, 'replaced', 'x', AWKWARD);

      for (const sk of ['put', 'putIfAbsent', 'replaced']) {
        const value = await store.get(pk, sk);
        expect(Buffer.from(value ?? '', 'utf8').equals(Buffer.from(AWKWARD, 'utf8'))).toBe(true);
        expect(value).toBe(AWKWARD);
      }
      const items = await store.query(pk, { limit: 10 });
      expect(items.map((item) => item.data)).toEqual([AWKWARD, AWKWARD, AWKWARD]);
    });

    it('round-trips canonical JSON text exactly as written, not re-marshalled', async () => {
      const store = getStore();
      const pk = freshPartition();
      // key order and number spelling that JSON.parse + JSON.stringify would not preserve
      const text = '{"z":1,"a":{"é":"\\u00e9","big":12345678901234567890,"neg0":-0,"exp":1e2},"s":"\\/"}';

      await store.putIfAbsent(pk, seq(1), text);

      expect(await store.get(pk, seq(1))).toBe(text);
      expect((await store.query(pk, { limit: 1 }))[0]?.data).toBe(text);
    });

    it('round-trips an empty string, and compares it like any other', async () => {
      const store = getStore();
      const pk = freshPartition();

      await store.put(pk, 'empty', '');
      const read = await store.get(pk, 'empty');
      const listed = await store.query(pk, { limit: 1 });
      const replaced = await store.replaceIf(pk, 'empty', '', 'filled');

      expect(read).toBe('');
      expect(listed).toEqual([{ sk: 'empty', data: '' }]);
      expect(replaced).toBe(true);
      expect(await store.get(pk, 'empty')).toBe('filled');
    });

    it('round-trips a 60 KB string', async () => {
      const store = getStore();
      const pk = freshPartition();
      const big = Array.from({ length: 60 * 1024 }, (_, i) => String.fromCharCode(32 + ((i * 31) % 95))).join(
        '',
      );

      await store.put(pk, 'big', big);

      expect(big.length).toBe(61_440);
      expect(await store.get(pk, 'big')).toBe(big);
      expect((await store.query(pk, { limit: 1 }))[0]?.data).toBe(big);
    });

    it('round-trips unicode keys', async () => {
      const store = getStore();
      const pk = `${freshPartition()}-agent/日本 "q" \\ 😀`;
      const sk = 'arn:aws:iam::123456789012:role/é "x" \\ 🔐';

      await store.put(pk, sk, 'v');

      expect(await store.get(pk, sk)).toBe('v');
      expect(await store.query(pk, { limit: 10 })).toEqual([{ sk, data: 'v' }]);
    });
  });

  describe('when an item breaks a DynamoDB limit', () => {
    it('refuses an empty key', async () => {
      const store = getStore();

      await expect(store.put(freshPartition(), '', 'v')).rejects.toThrow();
      await expect(store.put('', 'k', 'v')).rejects.toThrow();
    });

    it('refuses an item over 400 KB and leaves nothing behind', async () => {
      const store = getStore();
      const pk = freshPartition();

      await expect(store.put(pk, 'k', 'x'.repeat(401 * 1024))).rejects.toThrow();
      await expect(store.putIfAbsent(pk, 'k', 'x'.repeat(401 * 1024))).rejects.toThrow();

      expect(await store.get(pk, 'k')).toBeNull();
    });
  });
}

/** Every item of a partition as `sk -> data`, for before/after comparisons. */
async function snapshot(store: KeyValueStore, pk: string): Promise<Record<string, string>> {
  const items = await store.query(pk, { limit: 1000 });
  return Object.fromEntries(items.map((item) => [item.sk, item.data]));
}

/** `transact` (DynamoDB `TransactWriteItems`): all or nothing, the first failed condition's index. */
function transactionConformance(getStore: () => KeyValueStore): void {
  describe('when writing in a transaction', () => {
    it('applies every kind of op together when every condition holds', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'replaced', 'old');
      await store.put(pk, 'deleted', 'doomed');
      await store.put(pk, 'checked', 'config-v7');

      const result = await store.transact([
        { op: 'put', pk, sk: 'put', data: 'p' },
        { op: 'putIfAbsent', pk, sk: 'created', data: 'c' },
        { op: 'replaceIf', pk, sk: 'replaced', expected: 'old', data: 'new' },
        { op: 'delete', pk, sk: 'deleted' },
        { op: 'check', pk, sk: 'checked', expected: 'config-v7' },
        { op: 'check', pk, sk: 'never-written', expected: null },
      ]);

      expect(result).toEqual({ ok: true });
      expect(await snapshot(store, pk)).toEqual({
        checked: 'config-v7',
        created: 'c',
        put: 'p',
        replaced: 'new',
      });
    });

    it('writes nothing and names the op when a putIfAbsent finds an item', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'taken', 'first');
      await store.put(pk, 'kept', 'original');
      await store.put(pk, 'survivor', 'still here');
      const before = await snapshot(store, pk);

      const result = await store.transact([
        { op: 'put', pk, sk: 'kept', data: 'overwritten?' },
        { op: 'putIfAbsent', pk, sk: 'taken', data: 'second' },
        { op: 'put', pk, sk: 'fresh', data: 'written?' },
        { op: 'delete', pk, sk: 'survivor' },
      ]);

      expect(result).toEqual({ ok: false, failed: 1 });
      expect(await snapshot(store, pk)).toEqual(before);
    });

    it('reports the first failed condition when several fail', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'a', 'x');
      await store.put(pk, 'b', 'y');

      const result = await store.transact([
        { op: 'put', pk, sk: 'c', data: 'z' },
        { op: 'replaceIf', pk, sk: 'missing', expected: 'x', data: 'created?' },
        { op: 'check', pk, sk: 'a', expected: null },
        { op: 'putIfAbsent', pk, sk: 'b', data: 'again' },
      ]);

      expect(result).toEqual({ ok: false, failed: 1 });
      expect(await snapshot(store, pk)).toEqual({ a: 'x', b: 'y' });
    });

    it('fails a check whose data differs, even by whitespace, and a check-absent on an existing item', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'config', '{"version":7}');

      const differs = await store.transact([
        { op: 'put', pk, sk: 'decision', data: 'allow' },
        { op: 'check', pk, sk: 'config', expected: '{"version": 7}' },
      ]);
      const present = await store.transact([
        { op: 'check', pk, sk: 'config', expected: null },
        { op: 'put', pk, sk: 'decision', data: 'allow' },
      ]);
      const missing = await store.transact([
        { op: 'put', pk, sk: 'decision', data: 'allow' },
        { op: 'check', pk, sk: 'no-config', expected: '{"version":7}' },
      ]);

      expect([differs, present, missing]).toEqual([
        { ok: false, failed: 1 },
        { ok: false, failed: 0 },
        { ok: false, failed: 1 },
      ]);
      expect(await store.get(pk, 'decision')).toBeNull();
    });

    it('compares unicode data exactly in checks and replacements', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'k', AWKWARD);

      const normalized = await store.transact([
        { op: 'check', pk, sk: 'k', expected: AWKWARD.normalize('NFC') },
        { op: 'put', pk, sk: 'other', data: 'x' },
      ]);
      const exact = await store.transact([
        { op: 'replaceIf', pk, sk: 'k', expected: AWKWARD, data: AWKWARD + '!' },
      ]);

      expect(normalized).toEqual({ ok: false, failed: 0 });
      expect(exact).toEqual({ ok: true });
      expect(await store.get(pk, 'k')).toBe(AWKWARD + '!');
      expect(await store.get(pk, 'other')).toBeNull();
    });

    it('treats a counter item as present but never equal to its decimal value, and a put replaces it', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.increment(pk, 'version');
      await store.increment(pk, 'version');

      const absent = await store.transact([{ op: 'check', pk, sk: 'version', expected: null }]);
      const equal = await store.transact([{ op: 'check', pk, sk: 'version', expected: '2' }]);
      const put = await store.transact([{ op: 'put', pk, sk: 'version', data: 'data' }]);
      const restarted = await store.increment(pk, 'version');

      expect([absent, equal, put]).toEqual([
        { ok: false, failed: 0 },
        { ok: false, failed: 0 },
        { ok: true },
      ]);
      expect(restarted).toBe(1);
      expect(await store.get(pk, 'version')).toBe('data');
    });

    it('appends like a chain: the record only while the configuration it read is unchanged', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'config', 'v1');
      const append = (seqNo: number, config: string) =>
        store.transact([
          { op: 'putIfAbsent', pk, sk: seq(seqNo), data: `record ${seqNo} under ${config}` },
          { op: 'check', pk, sk: 'config', expected: config },
        ]);

      const first = await append(1, 'v1');
      const raced = await append(1, 'v1');
      await store.replaceIf(pk, 'config', 'v1', 'v2');
      const stale = await append(2, 'v1');
      const fresh = await append(2, 'v2');

      expect([first, raced, stale, fresh]).toEqual([
        { ok: true },
        { ok: false, failed: 0 },
        { ok: false, failed: 1 },
        { ok: true },
      ]);
      expect((await store.query(pk, { limit: 10 })).map((item) => item.data)).toEqual([
        'record 1 under v1',
        'record 2 under v2',
        'v2',
      ]);
    });

    it('lets exactly one of 16 concurrent transactions on the same head win, and nothing of the others lands', async () => {
      const store = getStore();
      const pk = freshPartition();
      const contenders = Array.from({ length: 16 }, (_, i) => i);

      const results = await Promise.all(
        contenders.map((i) =>
          store.transact([
            { op: 'put', pk, sk: `marker-${String(i).padStart(2, '0')}`, data: `by ${i}` },
            { op: 'putIfAbsent', pk, sk: seq(1), data: `head by ${i}` },
          ]),
        ),
      );

      const winners = contenders.filter((i) => results[i]?.ok);
      expect(winners).toHaveLength(1);
      const winner = winners[0]!;
      expect(results.filter((r) => !r.ok)).toEqual(Array(15).fill({ ok: false, failed: 1 }));
      expect(await snapshot(store, pk)).toEqual({
        [seq(1)]: `head by ${winner}`,
        [`marker-${String(winner).padStart(2, '0')}`]: `by ${winner}`,
      });
    });

    it('deletes a missing item without failing (a delete has no condition)', async () => {
      const store = getStore();
      const pk = freshPartition();

      const result = await store.transact([
        { op: 'delete', pk, sk: 'never' },
        { op: 'put', pk, sk: 'k', data: 'v' },
      ]);

      expect(result).toEqual({ ok: true });
      expect(await snapshot(store, pk)).toEqual({ k: 'v' });
    });

    it('deletes with an expected value only when the data equals it, and reports the index otherwise', async () => {
      const store = getStore();
      const pk = freshPartition();
      await store.put(pk, 'policy', 'v1');

      const stale = await store.transact([
        { op: 'put', pk, sk: 'other', data: 'x' },
        { op: 'delete', pk, sk: 'policy', expected: 'v0' },
      ]);
      const missing = await store.transact([{ op: 'delete', pk, sk: 'gone', expected: 'v1' }]);
      const current = await store.transact([
        { op: 'delete', pk, sk: 'policy', expected: 'v1' },
        { op: 'put', pk, sk: 'record', data: 'deleted' },
      ]);

      expect(stale).toEqual({ ok: false, failed: 1 });
      expect(missing).toEqual({ ok: false, failed: 0 });
      expect(current).toEqual({ ok: true });
      expect(await snapshot(store, pk)).toEqual({ record: 'deleted' });
    });

    it(`accepts ${MAX_TRANSACTION_OPS} ops`, async () => {
      const store = getStore();
      const pk = freshPartition();
      const ops: TransactOp[] = Array.from({ length: MAX_TRANSACTION_OPS }, (_, i) => ({
        op: 'putIfAbsent',
        pk,
        sk: seq(i + 1),
        data: `item ${i + 1}`,
      }));

      const result = await store.transact(ops);

      expect(result).toEqual({ ok: true });
      expect(await store.query(pk, { limit: 1000 })).toHaveLength(MAX_TRANSACTION_OPS);
    });
  });

  describe('when a transaction breaks a DynamoDB limit', () => {
    it('refuses two ops on the same item and writes nothing', async () => {
      const store = getStore();
      const pk = freshPartition();

      await expect(
        store.transact([
          { op: 'put', pk, sk: 'other', data: 'written?' },
          { op: 'put', pk, sk: 'k', data: 'one' },
          { op: 'check', pk, sk: 'k', expected: null },
        ]),
      ).rejects.toThrow();
      expect(await snapshot(store, pk)).toEqual({});
    });

    it(`refuses no op and more than ${MAX_TRANSACTION_OPS}, and writes nothing`, async () => {
      const store = getStore();
      const pk = freshPartition();
      const tooMany: TransactOp[] = Array.from({ length: MAX_TRANSACTION_OPS + 1 }, (_, i) => ({
        op: 'put',
        pk,
        sk: seq(i + 1),
        data: 'x',
      }));

      await expect(store.transact([])).rejects.toThrow();
      await expect(store.transact(tooMany)).rejects.toThrow();
      expect(await snapshot(store, pk)).toEqual({});
    });

    it('refuses an item over 400 KB or an empty key among valid ops, and writes nothing', async () => {
      const store = getStore();
      const pk = freshPartition();

      await expect(
        store.transact([
          { op: 'put', pk, sk: 'small', data: 'written?' },
          { op: 'put', pk, sk: 'big', data: 'x'.repeat(401 * 1024) },
        ]),
      ).rejects.toThrow();
      await expect(
        store.transact([
          { op: 'put', pk, sk: 'small', data: 'written?' },
          { op: 'check', pk, sk: '', expected: null },
        ]),
      ).rejects.toThrow();
      expect(await snapshot(store, pk)).toEqual({});
    });
  });
}

/** A store without transactions must refuse them outright: an error, and nothing written. */
function transactionsRefused(getStore: () => KeyValueStore): void {
  describe('when asked for a transaction it does not have', () => {
    it('rejects and writes nothing', async () => {
      const store = getStore();
      const pk = freshPartition();

      const result = store.transact([
        { op: 'put', pk, sk: 'a', data: 'written?' },
        { op: 'check', pk, sk: 'b', expected: null },
      ]);

      await expect(result).rejects.toThrow();
      expect(await snapshot(store, pk)).toEqual({});
    });
  });
}
