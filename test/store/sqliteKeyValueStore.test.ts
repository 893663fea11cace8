import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteKeyValueStore } from '../../local/SqliteKeyValueStore.js';

/** Raises on any insert of sort key `boom`: one statement fails, the transaction around it goes on. */
const FAILING_STATEMENT = `
  CREATE TEMP TRIGGER boom BEFORE INSERT ON main.items WHEN NEW.sk = 'boom'
  BEGIN SELECT RAISE(ABORT, 'injected statement failure'); END;
`;

/**
 * Makes the COMMIT itself fail: a write of sort key `commit-fails` adds a row violating a deferred
 * foreign key, which SQLite checks only at COMMIT (and then refuses it, the transaction still open).
 */
const FAILING_COMMIT = `
  PRAGMA foreign_keys = ON;
  CREATE TEMP TABLE parent (id TEXT PRIMARY KEY);
  CREATE TEMP TABLE child (pid TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
  CREATE TEMP TRIGGER commit_fails AFTER INSERT ON main.items WHEN NEW.sk = 'commit-fails'
  BEGIN INSERT INTO child VALUES ('missing'); END;
`;

describe('SqliteKeyValueStore', () => {
  let dir: string;
  let path: string;
  const open: SqliteKeyValueStore[] = [];
  const openStore = (configure?: (db: Database.Database) => void): SqliteKeyValueStore => {
    const store = SqliteKeyValueStore.open({ path, ...(configure ? { configure } : {}) });
    open.push(store);
    return store;
  };
  const reopen = async (store: SqliteKeyValueStore): Promise<SqliteKeyValueStore> => {
    await store.close();
    return openStore();
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-sqlite-'));
    path = join(dir, 'store.sqlite');
  });
  afterEach(async () => {
    for (const store of open.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('when writes are issued in the same turn of the event loop', () => {
    it('commits them in one transaction, each with its own result', async () => {
      const store = openStore();
      await store.put('p', 'taken', 'first');
      const before = store.commits;

      const results = await Promise.all([
        store.putIfAbsent('p', 'fresh', 'a'),
        store.putIfAbsent('p', 'taken', 'second'),
        store.increment('p', 'counter'),
        store.replaceIf('p', 'taken', 'first', 'replaced'),
        store.transact([{ op: 'check', pk: 'p', sk: 'fresh', expected: 'a' }]),
        ...Array.from({ length: 35 }, (_, i) => store.put('q', `k${i}`, `v${i}`)),
      ]);

      expect(store.commits - before).toBe(1);
      expect(results.slice(0, 5)).toEqual([true, false, 1, true, { ok: true }]);
      expect(await store.get('p', 'taken')).toBe('replaced');
      expect(await store.query('q', { limit: 100 })).toHaveLength(35);
    });

    it('commits writes awaited one after the other separately', async () => {
      const store = openStore();
      const before = store.commits;

      for (let i = 0; i < 3; i++) await store.put('p', `k${i}`, 'v');

      expect(store.commits - before).toBe(3);
    });

    it('reads the committed state: a write is visible once its promise resolved, not before', async () => {
      const store = openStore();
      await store.put('p', 'k', 'old');

      const writing = store.put('p', 'k', 'new');
      const during = await store.get('p', 'k');
      await writing;
      const after = await store.get('p', 'k');

      expect([during, after]).toEqual(['old', 'new']);
    });
  });

  describe('when one write of a group fails', () => {
    it('fails only that write, and the others of the group are durable', async () => {
      const store = openStore((db) => db.exec(FAILING_STATEMENT));

      const results = await Promise.allSettled([
        store.put('p', 'before', 'kept'),
        store.put('p', 'boom', 'never'),
        store.putIfAbsent('p', 'after', 'kept too'),
      ]);
      const reopened = await reopen(store);

      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_FAILED' });
      expect(await reopened.query('p', { limit: 10 })).toEqual([
        { sk: 'after', data: 'kept too' },
        { sk: 'before', data: 'kept' },
      ]);
    });

    it('undoes every write of a transaction that failed midway, and only those', async () => {
      const store = openStore((db) => db.exec(FAILING_STATEMENT));

      const results = await Promise.allSettled([
        store.put('p', 'neighbour', 'kept'),
        store.transact([
          { op: 'put', pk: 'p', sk: 'first', data: 'undone?' },
          { op: 'putIfAbsent', pk: 'p', sk: 'boom', data: 'fails' },
        ]),
        store.transact([{ op: 'putIfAbsent', pk: 'p', sk: 'third', data: 'kept too' }]),
      ]);
      const reopened = await reopen(store);

      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(await reopened.query('p', { limit: 10 })).toEqual([
        { sk: 'neighbour', data: 'kept' },
        { sk: 'third', data: 'kept too' },
      ]);
    });
  });

  describe('when the commit itself fails', () => {
    it('resolves no write of the group, keeps none of them, and serves the next group', async () => {
      const store = openStore((db) => db.exec(FAILING_COMMIT));
      await store.put('p', 'existing', 'v1');

      const results = await Promise.allSettled([
        store.put('p', 'a', 'lost'),
        store.replaceIf('p', 'existing', 'v1', 'lost'),
        store.put('p', 'commit-fails', 'lost'),
        store.increment('p', 'counter'),
      ]);
      const next = await store.putIfAbsent('p', 'b', 'later');
      const reopened = await reopen(store);

      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
      expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_FAILED' });
      expect(next).toBe(true);
      expect(await reopened.query('p', { limit: 10 })).toEqual([
        { sk: 'b', data: 'later' },
        { sk: 'existing', data: 'v1' },
      ]);
    });
  });

  describe('when the database is full', () => {
    it('rejects with STORE_FULL, writes nothing, and writes again once there is room', async () => {
      let db: Database.Database | undefined;
      const store = openStore((connection) => {
        db = connection;
      });
      await store.put('p', 'small', 'v');
      const pages = Number(db!.pragma('page_count', { simple: true }));
      db!.pragma(`max_page_count = ${pages}`);

      const full = await store.put('p', 'big', 'x'.repeat(64 * 1024)).catch((error: unknown) => error);
      db!.pragma(`max_page_count = ${pages + 1000}`);
      const roomAgain = await store.putIfAbsent('p', 'big', 'x'.repeat(64 * 1024));

      expect(full).toMatchObject({ code: 'STORE_FULL' });
      expect(roomAgain).toBe(true);
      expect((await store.query('p', { limit: 10 })).map((item) => item.sk)).toEqual(['big', 'small']);
    });
  });

  describe('when the file is already open elsewhere', () => {
    it('refuses a second store on it at once with STORE_IN_USE', async () => {
      openStore();
      const started = Date.now();

      expect(() => SqliteKeyValueStore.open({ path })).toThrow(
        expect.objectContaining({ code: 'STORE_IN_USE' }),
      );
      // the lock is checked without waiting (busy timeout 0); generous bound for a loaded machine
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it('refuses even a plain reader while the store is open', async () => {
      const store = openStore();
      await store.put('p', 'k', 'v');
      const reader = new Database(path, { timeout: 0 });

      try {
        expect(() => reader.prepare('SELECT count(*) FROM items').get()).toThrow(/locked/);
      } finally {
        reader.close();
      }
    });
  });

  describe('when the file is created', () => {
    it('is mode 0600, and so is its WAL', async () => {
      const store = openStore();
      await store.put('p', 'k', 'v');

      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(`${path}-wal`)).mode & 0o777).toBe(0o600);
    });
  });

  describe('when the file is not a store this code reads', () => {
    it('refuses a file of a newer format with STORE_FORMAT', async () => {
      const newer = new Database(path);
      newer.pragma('user_version = 2');
      newer.close();

      expect(() => SqliteKeyValueStore.open({ path })).toThrow(
        expect.objectContaining({ code: 'STORE_FORMAT' }),
      );
    });

    it('refuses a file that is not SQLite with STORE_FORMAT', async () => {
      await writeFile(
        path,
        'this is not a database, just some text long enough to have a header '.repeat(20),
      );

      expect(() => SqliteKeyValueStore.open({ path })).toThrow(
        expect.objectContaining({ code: 'STORE_FORMAT' }),
      );
    });
  });

  describe('when bulk loading', () => {
    it('commits the items and the meta together after the check passed', async () => {
      const store = openStore();
      const items = async function* () {
        yield { pk: 'p', sk: 'a', data: 'x', n: null };
        yield { pk: 'p', sk: 'b', data: null, n: 7 };
      };

      const count = await store.bulkLoad(items(), { marker: 'done' }, async () => undefined);
      const reopened = await reopen(store);

      expect(count).toBe(2);
      expect(await reopened.query('p', { limit: 10 })).toEqual([
        { sk: 'a', data: 'x' },
        { sk: 'b', data: '7' },
      ]);
      expect(reopened.getMeta('marker')).toBe('done');
    });

    it('keeps nothing, not even the meta, when the check fails', async () => {
      const store = openStore();
      const items = async function* () {
        yield { pk: 'p', sk: 'a', data: 'x', n: null };
      };

      const loading = store.bulkLoad(items(), { marker: 'done' }, async () => {
        throw new Error('copy differs');
      });

      await expect(loading).rejects.toThrow('copy differs');
      const reopened = await reopen(store);
      expect(reopened.countItems()).toBe(0);
      expect(reopened.getMeta('marker')).toBeNull();
    });
  });

  describe('when closed', () => {
    it('commits what was pending first, then refuses new operations', async () => {
      const store = openStore();

      const pending = store.put('p', 'k', 'v');
      await store.close();
      const reopened = openStore();

      await expect(pending).resolves.toBeUndefined();
      await expect(store.put('p', 'other', 'v')).rejects.toMatchObject({ code: 'STORE_CLOSED' });
      await expect(store.get('p', 'k')).rejects.toMatchObject({ code: 'STORE_CLOSED' });
      expect(await reopened.get('p', 'k')).toBe('v');
    });
  });
});
