import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { type Checkpoint, signCheckpoint } from '../../core/log/checkpoint.js';
import { type Epoch, signEpoch } from '../../core/log/epoch.js';
import { leafHash, rootFromLeaves } from '../../core/log/merkle.js';
import { canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import type { DecisionFields, KindFields } from '../../core/model/records.js';
import { ACCOUNT, ChainBuilder, DEFAULT_START } from './chainFactory.js';

/**
 * Multi-lane test logs built with the chain factory (the real lane writer is the lead's): each lane its own
 * chain signed by its own session key certified in that lane, admin records carrying `config_version` in one
 * lane and decisions naming versions in the others, and the gateway's statements over them: each lane's
 * timed checkpoint and the epoch (`GET /audit/checkpoint` body).
 */

export const LOG_ORIGIN = 'zt-infra/local/test-log';
export const POLICY = 'permit(principal == Agent::"ci", action == Action::"deploy", resource);';

export function decision(
  i: number,
  version: number,
  allow: boolean,
  policyIds = allow ? ['allow-ci'] : [],
): DecisionFields {
  return {
    kind: 'decision',
    request_id: `req-${i}`,
    actor: 'ci',
    action: 'deploy',
    resource: `svc-${i}`,
    context_sha256: canonicalSha256({ i }),
    params_sha256: canonicalSha256({}),
    decision: allow ? 'allow' : 'deny',
    reason: allow ? 'permitted' : 'no policy permits this action',
    policy_ids: policyIds,
    policy_set_sha256: sha256Hex(POLICY),
    errors: [],
    config_version: version,
  };
}

export function policyPut(id: string, version: number): KindFields {
  return {
    kind: 'policy',
    policy_id: id,
    change: 'put',
    cedar: POLICY,
    policy_sha256: sha256Hex(POLICY),
    config_version: version,
  };
}

export function policyDelete(id: string, version: number): KindFields {
  return {
    kind: 'policy',
    policy_id: id,
    change: 'delete',
    cedar: null,
    policy_sha256: null,
    config_version: version,
  };
}

export function agentRegister(version: number): KindFields {
  return {
    kind: 'agent',
    agent_id: 'ci',
    change: 'register',
    bound_principal_arn: `arn:aws:iam::${ACCOUNT}:role/ci`,
    config_version: version,
  };
}

export interface LaneLog {
  root: InMemoryP256Signer;
  /** Lane name -> its builder (records, lines). */
  lanes: Map<string, ChainBuilder>;
}

/** A lane whose first record certifies its own session key (root-signed), then `fields` signed by it. */
export async function buildLane(
  log: LaneLog,
  lane: string,
  fields: KindFields[],
  start: Date = DEFAULT_START,
): Promise<ChainBuilder> {
  const builder = log.lanes.get(lane) ?? new ChainBuilder({ chain: lane, start });
  log.lanes.set(lane, builder);
  const session = InMemoryP256Signer.generate();
  await builder.certify(log.root, session, { notBefore: new Date(start.getTime() - 1000) });
  for (const f of fields) await builder.append(f, session);
  return builder;
}

/**
 * The honest log: `main` holds the admin records (agent v1, policy `allow-ci` v2, policy `old` v3, `old`
 * deleted v4), `w-1` and `w-2` hold decisions at versions 2 and 4.
 */
export async function honestLaneLog(root = InMemoryP256Signer.generate()): Promise<LaneLog> {
  const log: LaneLog = { root, lanes: new Map() };
  await buildLane(log, 'main', [
    agentRegister(1),
    policyPut('allow-ci', 2),
    policyPut('old', 3),
    policyDelete('old', 4),
  ]);
  await buildLane(log, 'w-1', [
    decision(1, 2, true),
    decision(2, 2, false),
    decision(3, 4, true),
    decision(4, 4, true),
  ]);
  await buildLane(log, 'w-2', [
    decision(5, 4, true),
    decision(6, 3, true, ['allow-ci', 'old']),
    decision(7, 4, false),
  ]);
  return log;
}

/** Each lane's lines, optionally only the first `sizes[lane]` of them. */
export function linesOf(log: LaneLog, sizes: Record<string, number> = {}): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [lane, b] of log.lanes) out.set(lane, b.lines.slice(0, sizes[lane] ?? b.lines.length));
  return out;
}

/** The `GET /audit/checkpoint` body over these lanes: each lane's timed checkpoint and epoch `number`. */
export async function signLog(
  root: InMemoryP256Signer,
  lanes: Map<string, string[]>,
  number: number,
  time: Date,
): Promise<Checkpoint & { epoch: Epoch; checkpoints: Checkpoint[] }> {
  const names = [...lanes.keys()].sort();
  const checkpoints: Checkpoint[] = [];
  const entries: Array<{ lane: string; size: number; root: Buffer }> = [];
  for (const lane of names) {
    const lines = lanes.get(lane) as string[];
    const r = rootFromLeaves(lines.map((l) => leafHash(l)));
    checkpoints.push(
      await signCheckpoint({ origin: `${LOG_ORIGIN}/${lane}`, size: lines.length, root: r, time }, root),
    );
    entries.push({ lane, size: lines.length, root: r });
  }
  const epoch = await signEpoch({ origin: LOG_ORIGIN, epoch: number, time, lanes: entries }, root);
  const main = checkpoints.find((c) => c.origin.endsWith('/main')) as Checkpoint;
  return { ...main, epoch, checkpoints };
}

/** Writes a bundle: lanes/<lane>.jsonl, checkpoint.json. */
export async function writeLaneBundle(
  dir: string,
  lanes: Map<string, string[]>,
  checkpoint: unknown,
): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'lanes'), { recursive: true });
  for (const [lane, lines] of lanes) {
    await writeFile(join(dir, 'lanes', `${lane}.jsonl`), lines.map((l) => `${l}\n`).join(''));
  }
  await writeFile(join(dir, 'checkpoint.json'), `${JSON.stringify(checkpoint, null, 2)}\n`);
}
