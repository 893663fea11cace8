import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { InfrastructureError } from '../core/errors/index.js';
import type { KeyValueStore, TransactOp, TransactResult } from '../core/ports/index.js';
import { checkItem, checkKey, checkLimit, checkText, checkTransaction } from '../core/ports/index.js';
import { GroupCommit } from './GroupCommit.js';

/** The store file's format; a file written by a newer format is refused instead of misread. */
const SCHEMA_VERSION = 1;

/**
 * One table, as the DynamoDB table: `pk` + `sk` text keys, `data` (the opaque payload) and `n` (a
 * counter), either or both present. The primary key orders `sk` with SQLite's BINARY collation, which
 * is `memcmp` over the UTF-8 bytes of a UTF-8 database: exactly DynamoDB's order for `S` keys.
 * `meta` holds what the data dir needs beside the items (root key id, migration marker), out of the
 * port's reach.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    data TEXT,
    n INTEGER,
    PRIMARY KEY (pk, sk)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS meta (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
`;

interface Row {
  sk: string;
  data: string | null;
  n: number | null;
}

/** What `get` and `query` return for an item: its data, or for a counter item its value in decimal. */
function rowValue(row: { data: string | null; n: number | null }): string | null {
  if (row.data !== null) return row.data;
  return row.n === null ? null : String(row.n);
}

function sqliteCode(error: unknown): string | null {
  return error instanceof Database.SqliteError ? error.code : null;
}

/** A SQLite failure as the gateway reports it: an `InfrastructureError` (5xx deny), its cause kept. */
function storeError(error: unknown): unknown {
  const code = sqliteCode(error);
  if (code === null) return error;
  const stable =
    code === 'SQLITE_FULL'
      ? 'STORE_FULL'
      : code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')
        ? 'STORE_BUSY'
        : code.startsWith('SQLITE_READONLY')
          ? 'STORE_READ_ONLY'
          : 'STORE_FAILED';
  return new InfrastructureError(stable, `the embedded store failed (\`${code}\`)`, { cause: error });
}

/**
 * The `KeyValueStore` port over SQLite (`better-sqlite3`), the emulator's embedded store, with the
 * DynamoDB adapter's semantics: byte-wise UTF-8 `sk` order, DynamoDB's key and item limits, counters
 * read as decimal, conditions compared on exact text, `transact` all or nothing.
 *
 * Durability and group commit: the file is in WAL mode with `synchronous=FULL`, so a commit returns only
 * after the WAL is fsynced and survives a process kill and a power loss. Writes issued in the same turn
 * of the event loop are applied in issue order inside one SQLite transaction, committed with one fsync
 * ({@link GroupCommit}), and each write's promise resolves only after that commit. Each write keeps its own result (a
 * condition that fails writes nothing and resolves false); a `transact` runs inside a savepoint, so it
 * is all or nothing within the group. An error that aborts the whole transaction (disk full, I/O) fails
 * every write of the group, none of which is then durable.
 *
 * Reads run at once on the committed state: a write whose promise resolved is visible to every later
 * read (strongly consistent).
 *
 * A file store holds an exclusive lock (`locking_mode=EXCLUSIVE`) from open to close: no other process
 * can read or write it meanwhile, and opening it elsewhere fails at once with `STORE_IN_USE`.
 */
export class SqliteKeyValueStore implements KeyValueStore {
  readonly #db: Database.Database;
  readonly #group: GroupCommit;
  #closed = false;
  /** True while a bulk load owns the connection: the group commit must not interleave. */
  #loading = false;

  readonly #get: Database.Statement<[string, string], { data: string | null; n: number | null }>;
  readonly #putIfAbsent: Database.Statement<[string, string, string]>;
  readonly #put: Database.Statement<[string, string, string]>;
  readonly #replaceIf: Database.Statement<[string, string, string, string]>;
  readonly #delete: Database.Statement<[string, string]>;
  readonly #increment: Database.Statement<[string, string], { n: number }>;
  readonly #queries: Record<
    'ascAll' | 'ascAfter' | 'descAll' | 'descAfter',
    Database.Statement<unknown[], Row>
  >;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#get = db.prepare<[string, string], { data: string | null; n: number | null }>(
      'SELECT data, n FROM items WHERE pk = ? AND sk = ?',
    );
    this.#putIfAbsent = db.prepare<[string, string, string]>(
      'INSERT INTO items (pk, sk, data) VALUES (?, ?, ?) ON CONFLICT (pk, sk) DO NOTHING',
    );
    // A put replaces the whole item, counter included, as DynamoDB's PutItem does.
    this.#put = db.prepare<[string, string, string]>(
      'INSERT INTO items (pk, sk, data) VALUES (?, ?, ?) ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, n = NULL',
    );
    // `data = ?` is false on a counter item (NULL data), as `#d = :expected` is in DynamoDB.
    this.#replaceIf = db.prepare<[string, string, string, string]>(
      'UPDATE items SET data = ?, n = NULL WHERE pk = ? AND sk = ? AND data = ?',
    );
    this.#delete = db.prepare<[string, string]>('DELETE FROM items WHERE pk = ? AND sk = ?');
    // As DynamoDB's `ADD #n :one`: a missing item or attribute starts from 0, and `data` is kept.
    this.#increment = db.prepare<[string, string], { n: number }>(
      'INSERT INTO items (pk, sk, n) VALUES (?, ?, 1) ON CONFLICT (pk, sk) DO UPDATE SET n = coalesce(n, 0) + 1 RETURNING n',
    );
    const select = 'SELECT sk, data, n FROM items WHERE pk = ?';
    this.#queries = {
      ascAll: db.prepare<unknown[], Row>(`${select} ORDER BY sk ASC LIMIT ?`),
      ascAfter: db.prepare<unknown[], Row>(`${select} AND sk > ? ORDER BY sk ASC LIMIT ?`),
      descAll: db.prepare<unknown[], Row>(`${select} ORDER BY sk DESC LIMIT ?`),
      descAfter: db.prepare<unknown[], Row>(`${select} AND sk < ? ORDER BY sk DESC LIMIT ?`),
    };
    this.#group = new GroupCommit(db, storeError);
  }

  /**
   * Opens (creating if missing) the store file at `path`, or an in-memory store when `path` is omitted.
   * A new file is made mode 0600. Throws `InfrastructureError` `STORE_IN_USE` when another process has
   * the file open, `STORE_FORMAT` when the file is not a store this code can read.
   */
  static open(
    options: {
      path?: string;
      /**
       * Runs on the connection once the store is set up: a seam for tests to install faults (a temporary
       * trigger that raises, a page limit) where the real failure cannot be produced on demand.
       */
      configure?: (db: Database.Database) => void;
    } = {},
  ): SqliteKeyValueStore {
    const { path } = options;
    // timeout 0: the lock is exclusive, so waiting never helps, and a data dir in use must fail at once
    const db = new Database(path ?? ':memory:', { timeout: 0 });
    try {
      if (path !== undefined) {
        // before any WAL file exists: SQLite gives the WAL the database file's mode
        chmodSync(path, 0o600);
        // before the first access, so WAL runs without shared memory and the lock is never released
        db.pragma('locking_mode = EXCLUSIVE');
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal') {
          throw new InfrastructureError(
            'STORE_FORMAT',
            `store \`${path}\` refused WAL mode (got \`${mode}\`)`,
          );
        }
        // FULL in WAL mode: every commit fsyncs the WAL, so an answered write survives a power loss too
        // (NORMAL would survive a killed process only). Group commit pays one fsync for many writes.
        db.pragma('synchronous = FULL');
      }
      const encoding = db.pragma('encoding', { simple: true });
      if (encoding !== 'UTF-8') {
        // the sort order is memcmp over the stored encoding; only UTF-8 gives DynamoDB's order
        throw new InfrastructureError(
          'STORE_FORMAT',
          `store encoding is \`${encoding}\`, expected \`UTF-8\``,
        );
      }
      const version = Number(db.pragma('user_version', { simple: true }));
      if (version > SCHEMA_VERSION) {
        throw new InfrastructureError(
          'STORE_FORMAT',
          `store format is version ${version}, newer than this emulator reads (${SCHEMA_VERSION})`,
        );
      }
      // BEGIN IMMEDIATE takes the write lock now (held until close), even when nothing changes
      db.exec(`BEGIN IMMEDIATE; ${SCHEMA} PRAGMA user_version = ${SCHEMA_VERSION}; COMMIT;`);
      options.configure?.(db);
      return new SqliteKeyValueStore(db);
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
      const code = sqliteCode(error);
      if (code?.startsWith('SQLITE_BUSY') || code?.startsWith('SQLITE_LOCKED')) {
        throw new InfrastructureError('STORE_IN_USE', `store \`${path}\` is open in another process`, {
          cause: error,
        });
      }
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new InfrastructureError(
          'STORE_FORMAT',
          `\`${path}\` is not a readable SQLite store (\`${code}\`)`,
          {
            cause: error,
          },
        );
      }
      throw storeError(error);
    }
  }

  async get(pk: string, sk: string): Promise<string | null> {
    checkKey(pk, sk);
    const row = this.#read(() => this.#get.get(pk, sk));
    return row === undefined ? null : rowValue(row);
  }

  async putIfAbsent(pk: string, sk: string, data: string): Promise<boolean> {
    checkItem(pk, sk, data);
    return this.#write(() => this.#putIfAbsent.run(pk, sk, data).changes === 1);
  }

  async put(pk: string, sk: string, data: string): Promise<void> {
    checkItem(pk, sk, data);
    return this.#write(() => {
      this.#put.run(pk, sk, data);
    });
  }

  async replaceIf(pk: string, sk: string, expected: string, data: string): Promise<boolean> {
    checkItem(pk, sk, data);
    checkText('the expected data', expected);
    return this.#write(() => this.#replaceIf.run(data, pk, sk, expected).changes === 1);
  }

  async delete(pk: string, sk: string): Promise<boolean> {
    checkKey(pk, sk);
    return this.#write(() => this.#delete.run(pk, sk).changes === 1);
  }

  async query(
    pk: string,
    options: { after?: string; limit: number; descending?: boolean },
  ): Promise<Array<{ sk: string; data: string }>> {
    const { after, limit, descending = false } = options;
    checkLimit(limit);
    if (pk.length === 0) checkKey(pk, 'x');
    if (limit === 0) return [];
    const rows = this.#read(() =>
      after === undefined
        ? this.#queries[descending ? 'descAll' : 'ascAll'].all(pk, limit)
        : this.#queries[descending ? 'descAfter' : 'ascAfter'].all(pk, after, limit),
    );
    const items: Array<{ sk: string; data: string }> = [];
    for (const row of rows) {
      const data = rowValue(row);
      if (data !== null) items.push({ sk: row.sk, data });
    }
    return items;
  }

  async increment(pk: string, sk: string): Promise<number> {
    checkKey(pk, sk);
    return this.#write(() => {
      const row = this.#increment.get(pk, sk);
      if (row === undefined || !Number.isSafeInteger(row.n)) {
        throw new InfrastructureError(
          'STORE_FAILED',
          `increment returned \`${row?.n}\`, expected an integer`,
        );
      }
      return row.n;
    });
  }

  async transact(ops: readonly TransactOp[]): Promise<TransactResult> {
    checkTransaction(ops);
    return this.#write((): TransactResult => {
      // Conditions first, all of them, then the writes; the savepoint undoes a write that fails midway.
      for (const [index, op] of ops.entries()) {
        if (op.op === 'put' || (op.op === 'delete' && op.expected === undefined)) continue;
        const row = this.#get.get(op.pk, op.sk);
        const holds =
          op.op === 'putIfAbsent'
            ? row === undefined
            : op.op === 'replaceIf' || op.op === 'delete'
              ? row?.data === op.expected
              : op.expected === null
                ? row === undefined
                : row?.data === op.expected;
        if (!holds) return { ok: false, failed: index };
      }
      for (const op of ops) {
        if (op.op === 'put' || op.op === 'putIfAbsent' || op.op === 'replaceIf') {
          this.#put.run(op.pk, op.sk, op.data);
        } else if (op.op === 'delete') {
          this.#delete.run(op.pk, op.sk);
        }
      }
      return { ok: true };
    }, true);
  }

  /** Group commits so far (SQLite transactions that committed writes): writes per commit is a bench figure. */
  get commits(): number {
    return this.#group.commits;
  }

  /** True when any partition whose name starts with `prefix` holds an item (e.g. `chain#`: a chain exists). */
  hasPartitionWithPrefix(prefix: string): boolean {
    // Keys with a given prefix are contiguous in byte order and not below it, so the first key at or
    // above the prefix tells: one step of the primary key index.
    const row = this.#read(() =>
      this.#db
        .prepare<[string], { pk: string }>('SELECT pk FROM items WHERE pk >= ? ORDER BY pk LIMIT 1')
        .get(prefix),
    );
    return row?.pk.startsWith(prefix) ?? false;
  }

  /** Number of items in the store. */
  countItems(): number {
    const row = this.#read(() => this.#db.prepare('SELECT count(*) AS count FROM items').get()) as {
      count: number;
    };
    return row.count;
  }

  /** A value the data dir keeps beside the items (not reachable through the port). */
  getMeta(key: string): string | null {
    const row = this.#read(() => this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key)) as
      | { value: string }
      | undefined;
    return row?.value ?? null;
  }

  /** Writes a meta value, durably, in the next group commit. */
  async setMeta(key: string, value: string): Promise<void> {
    return this.#write(() => {
      this.#db
        .prepare(
          'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }

  /** Removes every item and meta value, durably (a reset of the data dir). */
  async clear(): Promise<void> {
    return this.#write(() => {
      this.#db.exec('DELETE FROM items; DELETE FROM meta;');
    });
  }

  /**
   * Copies `items` into an empty store in one transaction, with `meta` written in the same commit, and
   * calls `verify` before committing (it reads back through {@link getRaw}); any error rolls everything
   * back, so a crash or a failed check leaves the store empty. Returns the number of items copied.
   */
  async bulkLoad(
    items: AsyncIterable<{ pk: string; sk: string; data: string | null; n: number | null }>,
    meta: Record<string, string>,
    verify: () => Promise<void>,
  ): Promise<number> {
    if (this.#group.pending > 0 || this.#loading) {
      throw new InfrastructureError('STORE_BUSY', 'a bulk load needs a store with no write in progress');
    }
    if (this.countItems() !== 0) {
      throw new InfrastructureError('STORE_FORMAT', 'a bulk load needs an empty store');
    }
    this.#loading = true;
    const insert = this.#db.prepare('INSERT INTO items (pk, sk, data, n) VALUES (?, ?, ?, ?)');
    let count = 0;
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for await (const item of items) {
        if (item.data !== null) checkItem(item.pk, item.sk, item.data);
        else checkKey(item.pk, item.sk);
        if (item.data === null && item.n === null) {
          throw new InfrastructureError(
            'STORE_FORMAT',
            `item \`${item.pk}\`/\`${item.sk}\` has neither data nor counter`,
          );
        }
        insert.run(item.pk, item.sk, item.data, item.n);
        count++;
      }
      const setMeta = this.#db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
      for (const [key, value] of Object.entries(meta)) setMeta.run(key, value);
      await verify();
      this.#db.exec('COMMIT');
      return count;
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw storeError(error);
    } finally {
      this.#loading = false;
    }
  }

  /** An item exactly as stored (data and counter apart), for checking a copy; null when absent. */
  getRaw(pk: string, sk: string): { data: string | null; n: number | null } | null {
    return this.#get.get(pk, sk) ?? null;
  }

  /** Commits what is pending, then closes the file (checkpointing the WAL into it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#group.flush();
    this.#closed = true;
    this.#db.close();
  }

  #read<T>(read: () => T): T {
    if (this.#closed) throw new InfrastructureError('STORE_CLOSED', 'the embedded store is closed');
    try {
      return read();
    } catch (error) {
      throw storeError(error);
    }
  }

  #write<T>(run: () => T, savepoint = false): Promise<T> {
    if (this.#closed || this.#loading) {
      return Promise.reject(
        new InfrastructureError('STORE_CLOSED', 'the embedded store is closed or loading'),
      );
    }
    return this.#group.submit(run, savepoint);
  }
}
