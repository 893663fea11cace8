import type { LogCheckpoint } from './Checkpointer.js';
import type { Checkpoint } from './checkpoint.js';
import { InfrastructureError, ValidationError } from './errors.js';
import { type Caller, requireAdmin } from './Gateway.js';
import type { KeyValueStore } from './ports.js';
import { chainPartition, LANE_NAME_PATTERN, MAIN_LANE, seqKey } from './storageLayout.js';

/** What the audit read routes need of the checkpointer (`Checkpointer`). */
export interface CheckpointSource {
  checkpoint(): Promise<LogCheckpoint>;
  list(afterSize: number, limit?: number, lane?: string): Promise<Checkpoint[]>;
}

/** One page of one lane: records exactly as stored, and the `after` of the next page or null. */
export interface AuditPage {
  records: string[];
  next: number | null;
}

/**
 * The audit read routes (`GET /audit`, `GET /audit/checkpoint`, `GET /audit/checkpoints`), admin only: pages
 * of one lane's records, byte for byte as stored, and the signed checkpoints. Every lane is its own chain, so
 * paging is per lane (`lane`, default `main`); the lanes themselves are named by the epoch of
 * `GET /audit/checkpoint`.
 */
export class AuditReader {
  constructor(private readonly deps: { store: KeyValueStore; checkpoints: CheckpointSource }) {}

  /** Records of `lane` with `seq > after`, at most `limit`, in order, as stored. */
  async page(caller: Caller, options: { lane?: string; after: number; limit: number }): Promise<AuditPage> {
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
    return { records, next };
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
