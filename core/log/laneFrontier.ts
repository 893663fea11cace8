import { InfrastructureError } from '../errors/errors.js';
import { emitEvent, type GatewayEvents, type KeyValueStore } from '../ports/ports.js';
import { chainPartition, merklePartition, seqKey } from '../ports/storageLayout.js';
import { CompactRange, leafHash } from './merkle.js';

/**
 * Each lane's RFC 6962 frontier (`CompactRange`), kept at `merkle#<lane>`/`state` as `{size, range}`: the
 * Checkpointer extends it by the records after it (O(new records) time, O(log n) memory) and saves it with
 * `putIfAbsent`/`replaceIf` against the exact text read, so two processes never corrupt it.
 */

const STATE_SK = 'state';
const PAGE_SIZE = 1000;
/** During a long catch-up the state is saved this often, so a crash or timeout keeps the progress. */
const SAVE_EVERY_RECORDS = 50_000;
const MAX_ATTEMPTS = 20;

interface MerkleState {
  size: number;
  range: ReturnType<CompactRange['toJSON']>;
}

/** Rethrows a gateway error as it is; anything else is the store failing at `what`. */
export function storeFailure(what: string, cause: unknown): never {
  if (cause instanceof InfrastructureError) throw cause;
  throw new InfrastructureError('STORE_UNAVAILABLE', `could not ${what}`, { cause });
}

async function readFrontier(
  store: KeyValueStore,
  lane: string,
): Promise<{ text: string | null; range: CompactRange }> {
  let text: string | null;
  try {
    text = await store.get(merklePartition(lane), STATE_SK);
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

/** Appends up to `max` records of `lane` after `range.size`; true when it reached the head (a short page). */
async function extendFrontier(
  store: KeyValueStore,
  lane: string,
  range: CompactRange,
  max: number,
): Promise<boolean> {
  let added = 0;
  while (added < max) {
    let page: Array<{ sk: string; data: string }>;
    try {
      page = await store.query(chainPartition(lane), {
        after: range.size > 0 ? seqKey(range.size) : undefined,
        limit: PAGE_SIZE,
      });
    } catch (cause) {
      storeFailure('read the audit records', cause);
    }
    for (const { data: text } of page) {
      // INVARIANT: leaf i is record seq i + 1 of this lane; a gap or a reordering must not be hashed over.
      let record: { seq?: unknown; chain?: unknown };
      try {
        record = JSON.parse(text) as { seq?: unknown; chain?: unknown };
      } catch (cause) {
        throw new InfrastructureError('CHAIN_CORRUPT', `record ${lane}-${range.size + 1} is not JSON`, {
          cause,
        });
      }
      if (record.seq !== range.size + 1 || record.chain !== lane) {
        throw new InfrastructureError(
          'CHAIN_GAP',
          `expected record ${lane}-${range.size + 1} after ${lane}-${range.size}, read \`${String(record.chain)}-${String(record.seq)}\``,
        );
      }
      range.append(leafHash(text));
    }
    added += page.length;
    if (page.length < PAGE_SIZE) return true;
  }
  return false;
}

/**
 * Brings the stored frontier of `lane` up to its head and returns it. A lost race on the state item (another
 * process advanced it first) is told to `events` as `appendConflict` and retried from what that one saved.
 */
export async function advanceLaneFrontier(
  store: KeyValueStore,
  lane: string,
  events?: GatewayEvents,
): Promise<CompactRange> {
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    let { text, range } = await readFrontier(store, lane);
    let lost = false;
    for (;;) {
      const before = range.size;
      const atHead = await extendFrontier(store, lane, range, SAVE_EVERY_RECORDS);
      if (range.size > before) {
        const next = JSON.stringify({ size: range.size, range: range.toJSON() } satisfies MerkleState);
        let saved: boolean;
        try {
          saved =
            text === null
              ? await store.putIfAbsent(merklePartition(lane), STATE_SK, next)
              : await store.replaceIf(merklePartition(lane), STATE_SK, text, next);
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
    if (lost) emitEvent(events, 'appendConflict');
  }
  throw new InfrastructureError(
    'CHECKPOINT_CONTENTION',
    `could not update the merkle state of lane \`${lane}\` after ${MAX_ATTEMPTS} attempts`,
  );
}
