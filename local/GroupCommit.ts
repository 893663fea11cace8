import type Database from 'better-sqlite3';

/** Writes committed in one SQLite transaction at most; the rest wait for the next one. */
const MAX_GROUP = 1024;

/** One write waiting for the next group commit. */
interface Pending {
  run: () => unknown;
  /** A multi-statement write (a transaction of the port) runs in a savepoint: its failure undoes only it. */
  savepoint: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit over one `better-sqlite3` connection. Every write submitted until the event loop turns
 * (one `setImmediate`) is applied in submission order inside one SQLite transaction and committed once,
 * so many writes share one fsync. Each write keeps its own result: a statement that fails is undone by
 * SQLite alone (or by its savepoint), and the others of the group still commit. A failure that aborts
 * the transaction itself (disk full, I/O, a refused COMMIT) fails every write of the group, none of
 * which is then kept.
 *
 * INVARIANT: a write's promise settles only after the COMMIT that made it durable returned (or after the
 * rollback that dropped it).
 */
export class GroupCommit {
  readonly #db: Database.Database;
  readonly #toError: (error: unknown) => unknown;
  readonly #queue: Pending[] = [];
  #scheduled = false;
  #commits = 0;
  readonly #begin: Database.Statement<[]>;
  readonly #commit: Database.Statement<[]>;
  readonly #rollback: Database.Statement<[]>;
  readonly #savepoint: Database.Statement<[]>;
  readonly #release: Database.Statement<[]>;
  readonly #rollbackTo: Database.Statement<[]>;

  /** @param toError maps a failure to what the write's promise rejects with */
  constructor(db: Database.Database, toError: (error: unknown) => unknown) {
    this.#db = db;
    this.#toError = toError;
    this.#begin = db.prepare<[]>('BEGIN IMMEDIATE');
    this.#commit = db.prepare<[]>('COMMIT');
    this.#rollback = db.prepare<[]>('ROLLBACK');
    this.#savepoint = db.prepare<[]>('SAVEPOINT op');
    this.#release = db.prepare<[]>('RELEASE op');
    this.#rollbackTo = db.prepare<[]>('ROLLBACK TO op');
  }

  /** Transactions committed so far. */
  get commits(): number {
    return this.#commits;
  }

  /** Writes waiting for their commit. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Queues `run` (synchronous SQLite work) for the next group; resolves with its value once committed. */
  submit<T>(run: () => T, savepoint = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, savepoint, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits the pending writes now (at most one group; the rest stay scheduled). */
  flush(): void {
    this.#scheduled = false;
    const group = this.#queue.splice(0, MAX_GROUP);
    if (this.#queue.length > 0) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    if (group.length === 0) return;
    const settled: Settled[] = [];
    try {
      this.#begin.run();
      for (const write of group) settled.push(this.#apply(write));
      this.#commit.run();
      this.#commits++;
    } catch (error) {
      if (this.#db.inTransaction) {
        try {
          this.#rollback.run();
        } catch {
          // the connection is unusable; the next write reports its own error
        }
      }
      const failure = this.#toError(error);
      for (const write of group) write.reject(failure);
      return;
    }
    for (const [i, write] of group.entries()) {
      const outcome = settled[i]!;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    }
  }

  /** Runs one write inside the open transaction; throws only when the transaction itself is gone. */
  #apply(write: Pending): Settled {
    if (write.savepoint) this.#savepoint.run();
    try {
      const value = write.run();
      if (write.savepoint) this.#release.run();
      return { ok: true, value };
    } catch (error) {
      // SQLite may have rolled the whole transaction back (disk full, I/O): then nothing of the group
      // is durable, and the caller fails every write of it.
      if (!this.#db.inTransaction) throw error;
      if (write.savepoint) {
        this.#rollbackTo.run();
        this.#release.run();
      }
      return { ok: false, error: this.#toError(error) };
    }
  }
}
