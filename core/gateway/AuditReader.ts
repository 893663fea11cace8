import { InfrastructureError, ValidationError } from '../errors/errors.js';
import type { LogCheckpoint } from '../log/Checkpointer.js';
import type { Checkpoint } from '../log/checkpoint.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../model/records.js';
import { type Clock, type KeyValueStore, systemClock } from '../ports/ports.js';
import { chainPartition, seqKey } from '../ports/storageLayout.js';
import { type Caller, requireAdmin } from './Gateway.js';
import { keptRequestPartition, parseKeptRequest } from './keptRequests.js';

/** What the audit read routes need of the checkpointer (`Checkpointer`). */
export interface CheckpointSource {
  checkpoint(): Promise<LogCheckpoint>;
  list(afterSize: number, limit?: number, lane?: string): Promise<Checkpoint[]>;
}

/** One page of one lane: records exactly as stored, and the `after` of the next page or null. */
export interface AuditPage {
  records: string[];
  next: number | null;
  /**
   * With `requests: true`: the request data kept for replay of this page's records (core/gateway/keptRequests.ts), as
   * stored, for the records that have some; expired items are left out.
   */
  requests?: string[];
}

/**
 * The audit read routes (`GET /audit`, `GET /audit/checkpoint`, `GET /audit/checkpoints`), admin only: pages
 * of one lane's records, byte for byte as stored, and the signed checkpoints. Every lane is its own chain, so
 * paging is per lane (`lane`, default `main`); the lanes themselves are named by the epoch of
 * `GET /audit/checkpoint`.
 */
export class AuditReader {
  constructor(
    private readonly deps: { store: KeyValueStore; checkpoints: CheckpointSource; clock?: Clock },
  ) {}

  /**
   * Records of `lane` with `seq > after`, at most `limit`, in order, as stored; with `requests`, also the
   * request data kept for those records.
   */
  async page(
    caller: Caller,
    options: { lane?: string; after: number; limit: number; requests?: boolean },
  ): Promise<AuditPage> {
    requireAdmin(caller);
    const lane = laneParameter(options.lane);
    let items: Array<{ sk: string; data: string }>;
    try {
      items = await this.deps.store.query(chainPartition(lane), {
        after: options.after > 0 ? seqKey(options.after) : undefined,
        limit: options.limit,
      });
    } catch (cause) {
      if (cause instanceof InfrastructureError) throw cause;
      throw new InfrastructureError('STORE_UNAVAILABLE', 'could not read the audit records', { cause });
    }
    const records = items.map((i) => i.data);
    const last = items[items.length - 1];
    // The sort key is the seq, zero-padded: no need to parse the record for it.
    const next = records.length === options.limit && last ? Number(last.sk) : null;
    if (options.requests !== true) return { records, next };
    return { records, next, requests: last ? await this.#kept(lane, options.after, last.sk) : [] };
  }

  /** Kept request items of `lane` for seqs in (after, lastSk], unexpired, as stored. */
  async #kept(lane: string, after: number, lastSk: string): Promise<string[]> {
    const now = (this.deps.clock ?? systemClock).now().getTime();
    const out: string[] = [];
    let from = after > 0 ? seqKey(after) : undefined;
    // Bounded: at most one item per record of the page, read a page of 100 at a time.
    for (let round = 0; round < 1000; round++) {
      let items: Array<{ sk: string; data: string }>;
      try {
        items = await this.deps.store.query(keptRequestPartition(lane), { after: from, limit: 100 });
      } catch (cause) {
        if (cause instanceof InfrastructureError) throw cause;
        throw new InfrastructureError('STORE_UNAVAILABLE', 'could not read the kept requests', { cause });
      }
      for (const item of items) {
        if (item.sk > lastSk) return out;
        const kept = parseKeptRequest(item.data);
        // INVARIANT: request data past its retention is never served, whether or not it was deleted yet.
        if (typeof kept !== 'string' && kept.expires_at <= now) {
          await this.deps.store.delete(keptRequestPartition(lane), item.sk).catch(() => undefined);
          continue;
        }
        out.push(item.data);
      }
      if (items.length < 100) return out;
      from = items[items.length - 1]?.sk;
    }
    return out;
  }

  /** Signs (or reuses) every lane's checkpoint and the epoch over them (see `LogCheckpoint`). */
  async checkpoint(caller: Caller): Promise<LogCheckpoint> {
    requireAdmin(caller);
    return this.deps.checkpoints.checkpoint();
  }

  /** Stored checkpoints of `lane` (default `main`) with `size > after`. */
  async checkpoints(caller: Caller, options: { lane?: string; after: number }): Promise<Checkpoint[]> {
    requireAdmin(caller);
    return this.deps.checkpoints.list(options.after, 100, laneParameter(options.lane));
  }
}

/** A `lane` query parameter: absent is `main`; anything else must be a lane name. */
function laneParameter(lane: string | undefined): string {
  if (lane === undefined) return MAIN_LANE;
  if (!LANE_NAME_PATTERN.test(lane)) {
    throw new ValidationError(
      `query parameter \`lane\` must be a lane name (letters, digits, \`.\`, \`_\`, \`-\`, 1-64), got \`${lane}\``,
      { field: 'lane' },
    );
  }
  return lane;
}
