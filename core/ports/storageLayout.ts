import { LANE_NAME_PATTERN, MAIN_LANE } from '../model/records.js';
import type { KeyValueStore } from './ports.js';

/**
 * The storage layout: every partition and sort key the gateway writes in its one table, in one place.
 * The DynamoDB table, SQLite and the in-memory store all hold exactly these items.
 *
 * | pk                          | sk                  | data                                              |
 * |-----------------------------|---------------------|---------------------------------------------------|
 * | `chain#<lane>`              | 20-digit seq        | a record's canonical JSON, byte for byte          |
 * | `lanes`                     | `<lane>`            | `{lane, createdAt}`: every lane ever made          |
 * | `lane#<lane>`               | `state`             | {@link LaneState}: lease holder and fence         |
 * | `meta`                      | `version`           | the configuration version, decimal                |
 * | `meta`                      | `config`            | the first release's change counter (read once)    |
 * | `meta`                      | `lanes`             | counter naming new lanes                          |
 * | `meta`                      | `schema`            | the admin's declarations                          |
 * | `agent` / `principal`       | id / ARN            | agents and their principal bindings               |
 * | `policy`                    | policy id           | stored policies                                   |
 * | `idem#<principal>`          | request id          | the record a request id was answered with         |
 * | `request#<lane>`            | 20-digit seq        | request data kept for replay (opt-in, unchained; core/gateway/keptRequests.ts) |
 * | `outcome`                   | `<decision>#started|final` | outcome claims                             |
 * | `approvals`                 | approval id         | a pending approval: the request an approver sees  |
 * | `approval#<approval id>`    | `approve#<principal>`, `reject`, `claim` | the verdicts and the one claim |
 * | `key`                       | key id              | public session keys (GET /keys)                   |
 * | `merkle#` / `checkpoint#` / `checkpoint-heartbeat#` + lane | ... | checkpoint state per lane      |
 * | `checkpoint#:epoch`         | 20-digit epoch      | the signed epoch statements (every lane's size and root) |
 */

/** Zero-padded sort key of a chain position, so byte order equals numeric order. */
export function seqKey(seq: number): string {
  return seq.toString().padStart(20, '0');
}

/** The partition holding a lane's records (a lane is one hash chain). */
export function chainPartition(lane: string): string {
  return `chain#${lane}`;
}

/** The registry of lanes: one item per lane ever made, sk = the lane's name. */
export const LANES_PARTITION = 'lanes';

/** A lane's state item: who holds it (the lease) and the configuration version it is fenced at. */
export function lanePartition(lane: string): string {
  return `lane#${lane}`;
}
export const LANE_STATE_SK = 'state';

/**
 * A lane's state: the one item every append of the lane checks in its transaction. A writer appends
 * only while this is exactly what it last wrote or read: a takeover (new `holder`) or an admin change
 * (new `fence`) makes its next append fail, so a zombie holder can never fork the lane and a decision
 * evaluated under an older configuration is never appended after the change was fenced.
 */
export interface LaneState {
  /** Random id of the writer holding the lease (a Lambda instance, an emulator process); '' when none. */
  holder: string;
  /** When the lease ends (epoch ms); another writer may take the lane over after it. */
  expiresAt: number;
  /** The configuration version the lane is fenced at: decisions it appends were evaluated at >= it. */
  fence: number;
}

export const P_META = 'meta';
/** The first release's change counter (a counter item); versions continue from its value. */
export const META_CONFIG_SK = 'config';
/** The configuration version, decimal text: raised by exactly one for each admin change, in its transaction. */
export const META_VERSION_SK = 'version';
export const META_LANES_SK = 'lanes';
export const META_SCHEMA_SK = 'schema';
export const P_AGENT = 'agent';
export const P_PRINCIPAL = 'principal';
export const P_POLICY = 'policy';
export const P_OUTCOME = 'outcome';
export const P_KEYS = 'key';
/** Pending approvals (sk = the approval id, the `approval_required` decision's record id). */
export const P_APPROVALS = 'approvals';

/** The verdicts and the claim of one approval: sk `approve#<principal>`, `reject`, `claim`. */
export function approvalPartition(approvalId: string): string {
  return `approval#${approvalId}`;
}

/** Idempotency items of one caller: sk = request id. */
export function idemPartition(principalArn: string): string {
  return `idem#${principalArn}`;
}

/** A lane's incremental Merkle state. */
export function merklePartition(lane: string): string {
  return `merkle#${lane}`;
}

/** A lane's signed checkpoints, one per size. */
export function checkpointPartition(lane: string): string {
  return `checkpoint#${lane}`;
}

/**
 * The log's signed epoch statements, one per epoch (sk = 20-digit epoch number). Under the `checkpoint#`
 * prefix so the checkpoint writers' grant (`dynamodb:LeadingKeys`) covers it, and never a lane's partition:
 * `:` is not allowed in a lane name.
 */
export const EPOCH_PARTITION = 'checkpoint#:epoch';

/** Kept out of `checkpoint#<lane>` so that partition holds only checkpoints, one per size. */
export function heartbeatPartition(lane: string): string {
  return `checkpoint-heartbeat#${lane}`;
}

/** Every lane of the log: the registry's (sk = lane name) and `main`, which is a lane even where the registry lacks it. */
export async function listLanes(store: KeyValueStore): Promise<string[]> {
  const lanes = new Set<string>([MAIN_LANE]);
  let after: string | undefined;
  for (;;) {
    const page = await store.query(LANES_PARTITION, { after, limit: 1000 });
    for (const item of page) if (LANE_NAME_PATTERN.test(item.sk)) lanes.add(item.sk);
    if (page.length < 1000) return [...lanes];
    after = page[page.length - 1]?.sk;
  }
}
