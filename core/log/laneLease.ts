import { InfrastructureError } from '../errors/errors.js';
import { GENESIS_HASH, MAIN_LANE } from '../model/records.js';
import type { KeyValueStore, TransactOp } from '../ports/ports.js';
import {
  chainPartition,
  LANE_STATE_SK,
  LANES_PARTITION,
  type LaneState,
  lanePartition,
  listLanes,
  META_CONFIG_SK,
  META_VERSION_SK,
  P_META,
} from '../ports/storageLayout.js';

/**
 * A lane's lease and fence, as its state item (`lane#<lane>`/`state`) holds them: which lanes a writer may
 * take, taking one (conditional on the configuration version it read), reading a lane's head, and raising a
 * lane's fence. The lane writer (LaneWriter.ts) holds what these return and appends under it.
 */

/** A lane as its writer holds it: the state it last saw (and its exact text) and the head it appends after. */
export interface Held {
  lane: string;
  state: LaneState;
  /** The state item's exact text, as the transaction checks it. */
  stateText: string;
  head: { seq: number; hash: string };
}

/** How often a lost race on the state item is retried before it fails. */
const MAX_FENCE_ATTEMPTS = 48;

export const laneStateText = (state: LaneState): string => JSON.stringify(state);
export const parseLaneState = (text: string): LaneState => JSON.parse(text) as LaneState;

/** `main` first, then every registered lane, in a random order so writers spread over free lanes. */
export async function laneCandidates(store: KeyValueStore): Promise<string[]> {
  const lanes = (await listLanes(store)).filter((lane) => lane !== MAIN_LANE);
  for (let i = lanes.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [lanes[i], lanes[j]] = [lanes[j] as string, lanes[i] as string];
  }
  return [MAIN_LANE, ...lanes];
}

/**
 * Takes `lane` when it is free (no state, or an expired lease), or whatever its lease says when
 * `force`. The lane's fence becomes at least the configuration version read here, and the take is
 * conditional on that version still being current: a lane made or taken while an admin change commits
 * is either fenced by it or refused, never appended to under the older configuration.
 */
export async function takeLane(
  store: KeyValueStore,
  lane: string,
  take: { writerId: string; now: number; leaseMs: number; force: boolean },
): Promise<Held | null> {
  const { writerId, now } = take;
  const [text, versionText] = await Promise.all([
    store.get(lanePartition(lane), LANE_STATE_SK),
    store.get(P_META, META_VERSION_SK),
  ]);
  const old = text === null ? null : parseLaneState(text);
  if (old && !take.force && old.holder !== writerId && old.expiresAt > now) return null;
  const version = versionText === null ? await legacyVersion(store) : Number(versionText);
  const state: LaneState = {
    holder: writerId,
    expiresAt: now + take.leaseMs,
    fence: Math.max(old?.fence ?? 0, version),
  };
  const next = laneStateText(state);
  const ops: TransactOp[] = [
    text === null
      ? { op: 'putIfAbsent', pk: lanePartition(lane), sk: LANE_STATE_SK, data: next }
      : { op: 'replaceIf', pk: lanePartition(lane), sk: LANE_STATE_SK, expected: text, data: next },
    versionText === null
      ? { op: 'check', pk: P_META, sk: META_VERSION_SK, expected: null }
      : { op: 'check', pk: P_META, sk: META_VERSION_SK, expected: versionText },
  ];
  const registered = await store.get(LANES_PARTITION, lane);
  if (registered === null) {
    ops.push({
      op: 'putIfAbsent',
      pk: LANES_PARTITION,
      sk: lane,
      data: JSON.stringify({ lane, createdAt: new Date(now).toISOString() }),
    });
  }
  const result = await store.transact(ops);
  if (!result.ok) return null;
  return { lane, state, stateText: next, head: await readLaneHead(store, lane) };
}

/** Before configuration versions, the `meta/config` counter counted changes: versions continue from it. */
async function legacyVersion(store: KeyValueStore): Promise<number> {
  const raw = await store.get(P_META, META_CONFIG_SK);
  return raw === null ? 0 : Number(raw);
}

/** The seq and hash of a lane's newest record (genesis for an empty lane). */
export async function readLaneHead(
  store: KeyValueStore,
  lane: string,
): Promise<{ seq: number; hash: string }> {
  const [newest] = await store.query(chainPartition(lane), { limit: 1, descending: true });
  if (!newest) return { seq: 0, hash: GENESIS_HASH };
  const parsed = JSON.parse(newest.data) as { seq: number; current_hash: string };
  return { seq: parsed.seq, hash: parsed.current_hash };
}

/**
 * Raises the fence of `lane` to `version` unless it is there already. Returns the state written and the
 * exact text it replaced (so a writer holding that text can adopt the new state), or null when nothing was
 * written: no state (a lane never held; whoever takes it first reads the current version) or already fenced.
 */
export async function fenceLane(
  store: KeyValueStore,
  lane: string,
  version: number,
): Promise<{ before: string; state: LaneState; text: string } | null> {
  for (let i = 0; i < MAX_FENCE_ATTEMPTS; i++) {
    const text = await store.get(lanePartition(lane), LANE_STATE_SK);
    if (text === null) return null;
    const state = parseLaneState(text);
    if (state.fence >= version) return null;
    const fenced = { ...state, fence: version };
    const next = laneStateText(fenced);
    if (await store.replaceIf(lanePartition(lane), LANE_STATE_SK, text, next)) {
      return { before: text, state: fenced, text: next };
    }
  }
  throw new InfrastructureError('FENCE_FAILED', `could not fence lane \`${lane}\` at version ${version}`);
}
