import { InfrastructureError } from '../errors/errors.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../model/records.js';
import {
  type Clock,
  emitEvent,
  type GatewayEvents,
  type KeyValueStore,
  type Signer,
} from '../ports/ports.js';
import { checkpointPartition, EPOCH_PARTITION, listLanes, seqKey } from '../ports/storageLayout.js';
import {
  type Checkpoint,
  defaultCheckpointOrigin,
  laneOfOrigin,
  logOriginOf,
  signCheckpoint,
} from './checkpoint.js';
import { compareLanes, type Epoch, signEpoch } from './epoch.js';
import { advanceLaneFrontier, storeFailure } from './laneFrontier.js';
import type { CompactRange } from './merkle.js';

/**
 * A checkpoint of the whole log, the body of `GET /audit/checkpoint`: the top-level fields are one lane's
 * checkpoint (`main` by default, the shape this route always had), `epoch` the root-signed statement naming
 * every lane with its size and root, and `checkpoints` every lane's checkpoint at exactly those sizes.
 */
export interface LogCheckpoint extends Checkpoint {
  epoch: Epoch;
  checkpoints: Checkpoint[];
}

export interface CheckpointerDeps {
  store: KeyValueStore;
  /** The root key: checkpoints and epochs are signed by it, never by a session key. */
  rootSigner: Signer;
  clock: Clock;
  /** Told of each lost state or epoch race (`appendConflict`), which is then retried. */
  events?: GatewayEvents;
  /** The lane whose checkpoint is the top level of {@link LogCheckpoint}, and of `list`/`latest`; default `main`. */
  chain?: string;
  /**
   * That lane's checkpoint origin, `<log origin>/<chain>`, unique to this log (`checkpointOrigin`): every
   * lane's origin is the log origin and the lane, and the epoch's origin is the log origin. Default
   * `zt-infra/<chain>`, shared by every log that keeps it: the gateway's entry points always give one.
   */
  origin?: string;
  /**
   * An epoch unchanged in every lane is signed again once the newest is this old (default 30 s), so the
   * signed time a verifier's `--max-age` reads stays fresh while the log is idle.
   */
  epochRefreshMs?: number;
}

export { checkpointPartition, heartbeatPartition, merklePartition } from '../ports/storageLayout.js';

const MAX_ATTEMPTS = 20;
/** Lanes advanced at once during an epoch. */
const LANE_CONCURRENCY = 8;
const CHECKPOINT_SK = /^[0-9]{20}$/;

/** The served shape: origin, size, root, time (when the note has one), note. */
function publicCheckpoint(stored: Checkpoint): Checkpoint {
  const out: Checkpoint = { origin: stored.origin, size: stored.size, root: stored.root, note: stored.note };
  if (typeof stored.time === 'string') {
    return {
      origin: stored.origin,
      size: stored.size,
      root: stored.root,
      time: stored.time,
      note: stored.note,
    };
  }
  return out;
}

function parseStored(data: string, sk: string): Checkpoint {
  let value: Checkpoint;
  try {
    value = JSON.parse(data) as Checkpoint;
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

function parseStoredEpoch(data: string, sk: string): Epoch {
  let value: Epoch;
  try {
    value = JSON.parse(data) as Epoch;
  } catch (cause) {
    throw new InfrastructureError('CHECKPOINT_STATE_CORRUPT', `stored epoch \`${sk}\` is not JSON`, {
      cause,
    });
  }
  if (
    typeof value?.origin !== 'string' ||
    typeof value.epoch !== 'number' ||
    typeof value.time !== 'string' ||
    !Array.isArray(value.lanes) ||
    typeof value.note !== 'string' ||
    seqKey(value.epoch) !== sk
  ) {
    throw new InfrastructureError('CHECKPOINT_STATE_CORRUPT', `stored epoch \`${sk}\` is malformed`);
  }
  return value;
}

/** A lane brought to its head: its frontier and the checkpoint signed (or found) at exactly that size. */
interface LaneHead {
  lane: string;
  range: CompactRange;
  checkpoint: Checkpoint;
}

/**
 * Signs checkpoints over every lane of the audit log with the root key, incrementally, and one epoch
 * statement over all of them.
 *
 * Per lane (each lane is one hash chain, `chain#<lane>`): the RFC 6962 frontier (`CompactRange`) of the
 * records already covered is kept at `merkle#<lane>`/`state` as `{size, range}` (laneFrontier.ts), so a checkpoint reads and
 * hashes only the records after it: O(new records) time, O(log n) memory. The state is advanced with
 * `putIfAbsent`/`replaceIf` against the exact text read, so two processes never corrupt it. Each lane
 * checkpoint is stored once at `checkpoint#<lane>`/<20-digit size> with `putIfAbsent`, never overwritten,
 * with the time it was first signed in its note.
 *
 * Per epoch: the lanes are those of the registry (`lanes`), `main` always, and every lane of the previous
 * epoch (a lane is never dropped); epoch N+1 is written at `checkpoint#:epoch`/<20-digit N+1> with
 * `putIfAbsent` after reading epoch N, then each lane's head, so its sizes are at least epoch N's and its
 * time later: the epochs form one growing sequence, and an older one shown in place of a newer is a rollback.
 */
export class Checkpointer {
  readonly chain: string;
  readonly origin: string;
  /** The log's origin: the epoch's origin and key name, and the prefix of every lane's origin. */
  readonly logOrigin: string;
  readonly #refreshMs: number;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: CheckpointerDeps) {
    this.chain = deps.chain ?? MAIN_LANE;
    this.origin = deps.origin ?? defaultCheckpointOrigin(this.chain);
    if (laneOfOrigin(this.origin) !== this.chain || !this.origin.includes('/')) {
      throw new TypeError(
        `origin \`${this.origin}\` must end with \`/${this.chain}\`: its last segment is the lane`,
      );
    }
    this.logOrigin = logOriginOf(this.origin);
    this.#refreshMs = deps.epochRefreshMs ?? 30_000;
  }

  /** The checkpoint origin of `lane`: the log's origin and the lane. */
  originOf(lane: string): string {
    return `${this.logOrigin}/${lane}`;
  }

  /**
   * Brings every lane to its head, signs (or reuses) each lane's checkpoint at that size, and signs a new
   * epoch over them unless the newest one already names exactly these sizes and is younger than
   * `epochRefreshMs`. A signer or store failure rejects with an `InfrastructureError` (the route answers 5xx).
   */
  checkpoint(): Promise<LogCheckpoint> {
    // INVARIANT: one checkpoint() at a time in this process, in call order.
    const run = this.#tail.then(() => this.#checkpointNow());
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Stored checkpoints of `lane` (default: this checkpointer's chain) with `size > afterSize`, in size order. */
  async list(afterSize: number, limit = 100, lane: string = this.chain): Promise<Checkpoint[]> {
    if (!Number.isSafeInteger(afterSize)) {
      throw new RangeError(`afterSize must be an integer, got \`${afterSize}\``);
    }
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw new RangeError(`limit must be an integer from 1 to 1000, got \`${limit}\``);
    }
    if (!LANE_NAME_PATTERN.test(lane)) throw new RangeError(`invalid lane name \`${lane}\``);
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(checkpointPartition(lane), {
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

  /** The newest stored checkpoint of `lane` (default: this checkpointer's chain), or null. */
  async latest(lane: string = this.chain): Promise<Checkpoint | null> {
    const stored = await this.#latestStored(lane);
    return stored === null ? null : publicCheckpoint(stored);
  }

  /** The newest stored epoch statement, or null before the first. */
  async latestEpoch(): Promise<Epoch | null> {
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(EPOCH_PARTITION, { limit: 1, descending: true });
    } catch (cause) {
      storeFailure('read the newest epoch', cause);
    }
    const newest = items[0];
    return newest === undefined ? null : parseStoredEpoch(newest.data, newest.sk);
  }

  /** Every lane of the log: the registry's, and `main` (always a lane, even where the registry lacks it). */
  async lanes(): Promise<string[]> {
    let lanes: string[];
    try {
      lanes = await listLanes(this.deps.store);
    } catch (cause) {
      storeFailure('read the lanes', cause);
    }
    return lanes.sort(compareLanes);
  }

  async #latestStored(lane: string): Promise<Checkpoint | null> {
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(checkpointPartition(lane), { limit: 1, descending: true });
    } catch (cause) {
      storeFailure('read the newest checkpoint', cause);
    }
    const newest = items[0];
    return newest === undefined ? null : parseStored(newest.data, newest.sk);
  }

  async #checkpointNow(): Promise<LogCheckpoint> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      // INVARIANT: the previous epoch is read before any lane head, so every size below is at least its.
      const previous = await this.latestEpoch();
      const names = new Set(await this.lanes());
      names.add(this.chain);
      for (const l of previous?.lanes ?? []) names.add(l.lane);
      const lanes = [...names].sort(compareLanes);
      const heads: LaneHead[] = [];
      for (let i = 0; i < lanes.length; i += LANE_CONCURRENCY) {
        heads.push(
          ...(await Promise.all(lanes.slice(i, i + LANE_CONCURRENCY).map((l) => this.#laneHead(l)))),
        );
      }
      const now = this.deps.clock.now();
      if (previous !== null) {
        this.#checkNotBehind(previous, heads);
        const unchanged =
          previous.lanes.length === heads.length &&
          heads.every(
            (h, i) =>
              previous.lanes[i]?.size === h.checkpoint.size && previous.lanes[i]?.root === h.checkpoint.root,
          );
        const fresh = now.getTime() - Date.parse(previous.time) < this.#refreshMs;
        // A deployment given a new origin signs its next epoch under it (the previous one stays genuine).
        if (unchanged && fresh && previous.origin === this.logOrigin) {
          return this.#body(previous, heads);
        }
      }
      const number = (previous?.epoch ?? 0) + 1;
      // The signed time never goes back, even if this process's clock is behind the previous signer's.
      const time = previous === null ? now : new Date(Math.max(now.getTime(), Date.parse(previous.time) + 1));
      let epoch: Epoch;
      try {
        epoch = await signEpoch(
          {
            origin: this.logOrigin,
            epoch: number,
            time,
            lanes: heads.map((h) => ({ lane: h.lane, size: h.checkpoint.size, root: h.checkpoint.root })),
          },
          this.deps.rootSigner,
        );
      } catch (cause) {
        throw new InfrastructureError('SIGNING_FAILED', 'could not sign the epoch', { cause });
      }
      let written: boolean;
      try {
        written = await this.deps.store.putIfAbsent(EPOCH_PARTITION, seqKey(number), JSON.stringify(epoch));
      } catch (cause) {
        storeFailure('write the epoch', cause);
      }
      if (written) return this.#body(epoch, heads);
      // Another process signed this epoch number first: start again after it.
      emitEvent(this.deps.events, 'appendConflict');
    }
    throw new InfrastructureError(
      'CHECKPOINT_CONTENTION',
      `could not sign an epoch after ${MAX_ATTEMPTS} attempts`,
    );
  }

  /** INVARIANT: an epoch never names a lane smaller than the previous epoch did, nor another root at its size. */
  #checkNotBehind(previous: Epoch, heads: LaneHead[]): void {
    for (const before of previous.lanes) {
      const head = heads.find((h) => h.lane === before.lane);
      const size = head?.checkpoint.size ?? -1;
      if (size < before.size || (size === before.size && head?.checkpoint.root !== before.root)) {
        throw new InfrastructureError(
          'CHECKPOINT_ROOT_MISMATCH',
          `lane \`${before.lane}\` no longer extends epoch ${previous.epoch} (size ${before.size}): its records changed`,
        );
      }
    }
  }

  #body(epoch: Epoch, heads: LaneHead[]): LogCheckpoint {
    const checkpoints = heads.map((h) => publicCheckpoint(h.checkpoint));
    const top = checkpoints.find((c) => laneOfOrigin(c.origin) === this.chain) ?? checkpoints[0];
    return { ...publicCheckpoint(top as Checkpoint), epoch, checkpoints };
  }

  /** One lane at its head, with its checkpoint at exactly that size (signed now unless stored). */
  async #laneHead(lane: string): Promise<LaneHead> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const range = await advanceLaneFrontier(this.deps.store, lane, this.deps.events);
      const rootB64 = range.root().toString('base64');
      const latest = await this.#latestStored(lane);
      if (latest !== null && latest.size > range.size) {
        // Another process covered records appended since our read: catch up to them.
        continue;
      }
      if (latest !== null && latest.size === range.size) {
        this.#checkSameRoot(latest, rootB64);
        return { lane, range, checkpoint: latest };
      }
      let signed: Checkpoint;
      try {
        signed = await signCheckpoint(
          { origin: this.originOf(lane), size: range.size, root: range.root(), time: this.deps.clock.now() },
          this.deps.rootSigner,
        );
      } catch (cause) {
        throw new InfrastructureError('SIGNING_FAILED', 'could not sign the checkpoint', { cause });
      }
      const sk = seqKey(range.size);
      let written: boolean;
      try {
        written = await this.deps.store.putIfAbsent(checkpointPartition(lane), sk, JSON.stringify(signed));
      } catch (cause) {
        storeFailure('write the checkpoint', cause);
      }
      if (written) return { lane, range, checkpoint: signed };
      // Another process signed this size first: its note is the one, never overwritten.
      let data: string | null;
      try {
        data = await this.deps.store.get(checkpointPartition(lane), sk);
      } catch (cause) {
        storeFailure('read the checkpoint', cause);
      }
      if (data === null) throw new InfrastructureError('STORE_UNAVAILABLE', 'a stored checkpoint vanished');
      const stored = parseStored(data, sk);
      this.#checkSameRoot(stored, rootB64);
      return { lane, range, checkpoint: stored };
    }
    throw new InfrastructureError('CHECKPOINT_CONTENTION', `could not checkpoint lane \`${lane}\``);
  }

  #checkSameRoot(stored: Checkpoint, root: string): void {
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
}
