import { type Checkpoint, defaultCheckpointOrigin, signCheckpoint } from './checkpoint.js';
import { InfrastructureError } from './errors.js';
import { CompactRange, leafHash } from './merkle.js';
import type { Clock, KeyValueStore, Signer } from './ports.js';
import { checkpointPartition, heartbeatPartition, merklePartition, seqKey } from './storageLayout.js';

/** A checkpoint as stored: the `GET /audit/checkpoint` body plus when it was signed (unsigned metadata). */
export interface StoredCheckpoint extends Checkpoint {
  timestamp: string;
}

/**
 * The liveness marker: the newest checkpoint and the last time a `checkpoint()` call found it covering the
 * head. `timestamp` is NOT signed (a C2SP checkpoint has no time in it), so it is an operational signal
 * (the checkpointer is alive and the head is covered), never evidence a verifier can trust.
 */
export interface CheckpointHeartbeat {
  checkpoint: Checkpoint;
  timestamp: string;
}

export interface CheckpointerDeps {
  store: KeyValueStore;
  /** The root key: checkpoints are signed by it, never by a session key. */
  rootSigner: Signer;
  clock: Clock;
  /** Default `main`. */
  chain?: string;
  /**
   * Origin line and key name of the notes, unique to this log (`checkpointOrigin`). Default
   * `zt-infra/<chain>`, shared by every log that keeps it: the gateway's entry points always give one.
   */
  origin?: string;
  /** Stored record texts with `seq > after`, in order (`ChainWriter.page`). */
  readPage(after: number, limit: number): Promise<string[]>;
}

export { checkpointPartition, heartbeatPartition, merklePartition } from './storageLayout.js';

const STATE_SK = 'state';
const HEARTBEAT_SK = 'latest';
const PAGE_SIZE = 1000;
/** During a long catch-up the state is saved this often, so a crash or timeout keeps the progress. */
const SAVE_EVERY_RECORDS = 50_000;
const MAX_ATTEMPTS = 20;
const CHECKPOINT_SK = /^[0-9]{20}$/;

interface MerkleState {
  size: number;
  range: ReturnType<CompactRange['toJSON']>;
}

function storeFailure(what: string, cause: unknown): never {
  if (cause instanceof InfrastructureError) throw cause;
  throw new InfrastructureError('STORE_UNAVAILABLE', `could not ${what}`, { cause });
}

function publicCheckpoint(stored: Checkpoint): Checkpoint {
  return { origin: stored.origin, size: stored.size, root: stored.root, note: stored.note };
}

function parseStored(data: string, sk: string): StoredCheckpoint {
  let value: StoredCheckpoint;
  try {
    value = JSON.parse(data) as StoredCheckpoint;
  } catch (cause) {
    throw new InfrastructureError('CHECKPOINT_STATE_CORRUPT', `stored checkpoint \`${sk}\` is not JSON`, {
      cause,
    });
  }
  if (
    typeof value?.origin !== 'string' ||
    typeof value.size !== 'number' ||
    typeof value.root !== 'string' ||
    typeof value.note !== 'string' ||
    seqKey(value.size) !== sk
  ) {
    throw new InfrastructureError('CHECKPOINT_STATE_CORRUPT', `stored checkpoint \`${sk}\` is malformed`);
  }
  return value;
}

/**
 * Signs C2SP checkpoints over one audit chain with the root key, incrementally.
 *
 * The RFC 6962 frontier (`CompactRange`) of the records already covered is kept in the store at
 * `merkle#<chain>`/`state` as `{size, range}`, so a checkpoint reads and hashes only the records after it:
 * O(new records) time, O(log n) memory. The state is advanced with `putIfAbsent`/`replaceIf` against the
 * exact text read, so two processes never corrupt it; the loser re-reads and continues from the winner.
 * Each checkpoint is stored once at `checkpoint#<chain>`/<20-digit size> with `putIfAbsent`, never
 * overwritten: when two processes sign the same size, both return the one that was stored first.
 */
export class Checkpointer {
  readonly chain: string;
  readonly origin: string;
  #tail: Promise<unknown> = Promise.resolve();
  /** Lost state races since start, a contention figure. */
  conflicts = 0;

  constructor(private readonly deps: CheckpointerDeps) {
    this.chain = deps.chain ?? 'main';
    this.origin = deps.origin ?? defaultCheckpointOrigin(this.chain);
  }

  /**
   * Signs (or reuses, when the newest stored checkpoint already has the head's size) a checkpoint over all
   * records up to the current head, and refreshes the heartbeat. A signer or store failure rejects with an
   * `InfrastructureError` (the route answers 5xx).
   */
  checkpoint(): Promise<Checkpoint> {
    // INVARIANT: one checkpoint() at a time in this process, in call order.
    const run = this.#tail.then(() => this.#checkpointNow());
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Stored checkpoints with `size > afterSize`, in size order. `limit` 1-1000, default 100. */
  async list(afterSize: number, limit = 100): Promise<Checkpoint[]> {
    if (!Number.isSafeInteger(afterSize)) {
      throw new RangeError(`afterSize must be an integer, got \`${afterSize}\``);
    }
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw new RangeError(`limit must be an integer from 1 to 1000, got \`${limit}\``);
    }
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(checkpointPartition(this.chain), {
        after: afterSize >= 0 ? seqKey(afterSize) : undefined,
        limit,
      });
    } catch (cause) {
      storeFailure('read the checkpoints', cause);
    }
    return items
      .filter((i) => CHECKPOINT_SK.test(i.sk))
      .map((i) => publicCheckpoint(parseStored(i.data, i.sk)));
  }

  /** The newest stored checkpoint, or null when none was signed yet. */
  async latest(): Promise<Checkpoint | null> {
    const stored = await this.#latestStored();
    return stored === null ? null : publicCheckpoint(stored);
  }

  /** The heartbeat item (see `CheckpointHeartbeat`), or null before the first checkpoint. */
  async heartbeat(): Promise<CheckpointHeartbeat | null> {
    let data: string | null;
    try {
      data = await this.deps.store.get(heartbeatPartition(this.chain), HEARTBEAT_SK);
    } catch (cause) {
      storeFailure('read the checkpoint heartbeat', cause);
    }
    if (data === null) return null;
    const stored = JSON.parse(data) as StoredCheckpoint;
    return { checkpoint: publicCheckpoint(stored), timestamp: stored.timestamp };
  }

  async #latestStored(): Promise<StoredCheckpoint | null> {
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(checkpointPartition(this.chain), { limit: 1, descending: true });
    } catch (cause) {
      storeFailure('read the newest checkpoint', cause);
    }
    const newest = items[0];
    return newest === undefined ? null : parseStored(newest.data, newest.sk);
  }

  async #checkpointNow(): Promise<Checkpoint> {
    const range = await this.#advance();
    const root = range.root();
    const rootB64 = root.toString('base64');
    const latest = await this.#latestStored();
    let result: StoredCheckpoint;
    if (latest !== null && latest.size >= range.size) {
      // Reuse. A larger one means another process covered records appended since our read: newer is better.
      if (latest.size === range.size) this.#checkSameRoot(latest, rootB64);
      result = latest;
    } else {
      let signed: Checkpoint;
      try {
        signed = await signCheckpoint({ origin: this.origin, size: range.size, root }, this.deps.rootSigner);
      } catch (cause) {
        throw new InfrastructureError('SIGNING_FAILED', 'could not sign the checkpoint', { cause });
      }
      result = { ...signed, timestamp: this.deps.clock.now().toISOString() };
      const sk = seqKey(range.size);
      let written: boolean;
      try {
        written = await this.deps.store.putIfAbsent(
          checkpointPartition(this.chain),
          sk,
          JSON.stringify(result),
        );
      } catch (cause) {
        storeFailure('write the checkpoint', cause);
      }
      if (!written) {
        // Another process signed this size first: its note is the one, never overwritten.
        let data: string | null;
        try {
          data = await this.deps.store.get(checkpointPartition(this.chain), sk);
        } catch (cause) {
          storeFailure('read the checkpoint', cause);
        }
        if (data === null) throw new InfrastructureError('STORE_UNAVAILABLE', 'a stored checkpoint vanished');
        result = parseStored(data, sk);
        this.#checkSameRoot(result, rootB64);
      }
    }
    await this.#beat(result);
    return publicCheckpoint(result);
  }

  #checkSameRoot(stored: StoredCheckpoint, root: string): void {
    // INVARIANT: one root per size. Another root means the records under a signed checkpoint changed.
    // The origin may differ: a deployment that moved from the fixed `zt-infra/<chain>` to its own origin
    // keeps the checkpoint already signed at this size (it is genuine, and never overwritten); the next
    // size is signed under the configured origin.
    if (stored.root !== root) {
      throw new InfrastructureError(
        'CHECKPOINT_ROOT_MISMATCH',
        `the stored checkpoint of size ${stored.size} does not match the records`,
      );
    }
  }

  /** Refreshes the heartbeat item unless another process already recorded a larger checkpoint there. */
  async #beat(checkpoint: StoredCheckpoint): Promise<void> {
    const pk = heartbeatPartition(this.chain);
    const data = JSON.stringify({
      ...publicCheckpoint(checkpoint),
      timestamp: this.deps.clock.now().toISOString(),
    });
    try {
      // Two tries: losing both races means others are refreshing it right now, which is all it is for.
      for (let attempt = 0; attempt < 2; attempt++) {
        const current = await this.deps.store.get(pk, HEARTBEAT_SK);
        if (current === null) {
          if (await this.deps.store.putIfAbsent(pk, HEARTBEAT_SK, data)) return;
          continue;
        }
        const currentSize = (JSON.parse(current) as { size?: unknown }).size;
        if (typeof currentSize === 'number' && currentSize > checkpoint.size) return;
        if (await this.deps.store.replaceIf(pk, HEARTBEAT_SK, current, data)) return;
      }
    } catch (cause) {
      storeFailure('write the checkpoint heartbeat', cause);
    }
  }

  async #readState(): Promise<{ text: string | null; range: CompactRange }> {
    let text: string | null;
    try {
      text = await this.deps.store.get(merklePartition(this.chain), STATE_SK);
    } catch (cause) {
      storeFailure('read the merkle state', cause);
    }
    if (text === null) return { text, range: new CompactRange() };
    try {
      const state = JSON.parse(text) as MerkleState;
      const range = CompactRange.fromJSON(state.range);
      if (state.size !== range.size) throw new TypeError('state size differs from its range size');
      return { text, range };
    } catch (cause) {
      throw new InfrastructureError('CHECKPOINT_STATE_CORRUPT', 'the stored merkle state is malformed', {
        cause,
      });
    }
  }

  /** Appends up to `max` records after `range.size`; true when it reached the head (a short page). */
  async #extend(range: CompactRange, max: number): Promise<boolean> {
    let added = 0;
    while (added < max) {
      let page: string[];
      try {
        page = await this.deps.readPage(range.size, PAGE_SIZE);
      } catch (cause) {
        storeFailure('read the audit records', cause);
      }
      for (const text of page) {
        // INVARIANT: leaf i is record seq i + 1; a gap or a reordering must not be hashed over.
        let seq: unknown;
        try {
          seq = (JSON.parse(text) as { seq?: unknown }).seq;
        } catch (cause) {
          throw new InfrastructureError('CHAIN_CORRUPT', `record ${range.size + 1} is not JSON`, { cause });
        }
        if (seq !== range.size + 1) {
          throw new InfrastructureError(
            'CHAIN_GAP',
            `expected record ${range.size + 1} after record ${range.size}, read \`${String(seq)}\``,
          );
        }
        range.append(leafHash(text));
      }
      added += page.length;
      if (page.length < PAGE_SIZE) return true;
    }
    return false;
  }

  /** Brings the stored frontier up to the head and returns it. */
  async #advance(): Promise<CompactRange> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let { text, range } = await this.#readState();
      let lost = false;
      for (;;) {
        const before = range.size;
        const atHead = await this.#extend(range, SAVE_EVERY_RECORDS);
        if (range.size > before) {
          const next = JSON.stringify({ size: range.size, range: range.toJSON() } satisfies MerkleState);
          let saved: boolean;
          try {
            saved =
              text === null
                ? await this.deps.store.putIfAbsent(merklePartition(this.chain), STATE_SK, next)
                : await this.deps.store.replaceIf(merklePartition(this.chain), STATE_SK, text, next);
          } catch (cause) {
            storeFailure('write the merkle state', cause);
          }
          if (!saved) {
            lost = true;
            break;
          }
          text = next;
        }
        if (atHead) return range;
      }
      if (lost) this.conflicts++;
    }
    throw new InfrastructureError(
      'CHECKPOINT_CONTENTION',
      `could not update the merkle state after ${MAX_ATTEMPTS} attempts`,
    );
  }
}
