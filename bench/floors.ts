import { createHash, createPrivateKey, sign as cryptoSign, randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InMemoryP256Signer, recordSigningPayload, signRecord } from '../core/keys/index.js';
import {
  canonicalize,
  canonicalSha256,
  GENESIS_HASH,
  RECORD_SCHEMA,
  sha256Hex,
  type UnsignedRecord,
} from '../core/model/index.js';
import { PolicyEngine } from '../core/policy/index.js';
import { SqliteKeyValueStore } from '../local/SqliteKeyValueStore.js';
import { measurePolicyScaling } from './policyScaling.js';
import { type LoadSummary, quantile, runBounded, summarize, timePerOp } from './stats.js';

/**
 * The floors the gateway's decision rate is compared with, each measured in the running process: the
 * CPU cost of one audit record (canonical JSON, SHA-256, ECDSA P-256), one conditional put on the
 * embedded store, and one Cedar evaluation as the policy set grows.
 */

/** A decision record as the gateway writes one (field sizes as in the demo), before hashing and signing. */
export function typicalDecisionRecord(signer: InMemoryP256Signer, seq = 1042): UnsignedRecord {
  return {
    schema: RECORD_SCHEMA,
    chain: 'main',
    seq,
    id: `main-${seq}`,
    kind: 'decision',
    timestamp: '2026-11-26T08:20:22.123Z',
    principal_arn: 'arn:aws:iam::000000000000:user/zt-agent-bench-agent',
    signing_key_id: signer.keyId,
    previous_hash: sha256Hex(GENESIS_HASH),
    request_id: `srv-${randomUUID()}`,
    actor: 'bench-agent',
    action: 'hello-world.say_hello',
    resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abcd1234ef567890',
    context_sha256: canonicalSha256({ environment: 'dev', region: 'us-east-1' }),
    params_sha256: canonicalSha256(null),
    decision: 'allow',
    reason: 'allowed by policy `allow-bench-agent-hello-world.say_hello`',
    policy_ids: ['allow-bench-agent-hello-world.say_hello'],
    policy_set_sha256: sha256Hex('policy-set'),
    errors: [],
  };
}

export interface CryptoFloor {
  /** Canonical bytes the hash and signature cover. */
  payloadBytes: number;
  /** Canonical bytes stored (the signed record). */
  storedBytes: number;
  /** What `ChainWriter` spends per append: `signRecord` (canonicalize, ECDSA over SHA-256, SHA-256) + canonicalize of the signed record. */
  record: { perOpUs: number; opsPerSec: number; ops: number };
  ecdsaSignUs: number;
  sha256Us: number;
  canonicalizeUs: number;
}

/** One ECDSA P-256 sign + SHA-256 + canonicalization of a typical decision record, whole and in parts. */
export async function measureCryptoFloor(): Promise<CryptoFloor> {
  const signer = InMemoryP256Signer.generate();
  const unsigned = typicalDecisionRecord(signer);
  const payload = recordSigningPayload(unsigned);
  const payloadBuf = Buffer.from(payload, 'utf8');
  const signed = await signRecord(unsigned, signer);
  const stored = canonicalize(signed);
  // The parts use a key of their own: `sign` below is node:crypto's, the same call the signer makes.
  const privateKey = createPrivateKey(InMemoryP256Signer.generate().exportPrivateKeyPem());

  // warm-up: JIT and OpenSSL's first-use costs out of the figures
  await timePerOp({ count: 300, maxMs: 300 }, () => signRecord(unsigned, signer).then(canonicalize));

  const record = await timePerOp({ count: 20_000, maxMs: 1_500 }, async (i) => {
    const r = await signRecord({ ...unsigned, seq: 1042 + i, id: `main-${1042 + i}` }, signer);
    return canonicalize(r);
  });
  const ecdsa = await timePerOp({ count: 20_000, maxMs: 700 }, () =>
    cryptoSign('sha256', payloadBuf, privateKey),
  );
  const sha = await timePerOp({ count: 200_000, maxMs: 300, batch: 500 }, () =>
    createHash('sha256').update(payload).digest('hex'),
  );
  const canon = await timePerOp({ count: 100_000, maxMs: 400, batch: 200 }, () => canonicalize(unsigned));
  return {
    payloadBytes: payloadBuf.length,
    storedBytes: Buffer.byteLength(stored),
    record: { perOpUs: record.perOpUs, opsPerSec: record.opsPerSec, ops: record.ops },
    ecdsaSignUs: ecdsa.perOpUs,
    sha256Us: sha.perOpUs,
    canonicalizeUs: canon.perOpUs,
  };
}

/** Conditional-put rate of one embedded-store mode. */
export interface StoreFloor {
  mode: 'disk' | 'memory';
  sequential: LoadSummary;
  c32: LoadSummary;
}

/**
 * `putIfAbsent` on fresh keys of one partition (as chain appends are), against the emulator's embedded
 * SQLite store (`npm run bench:store` compares it with dynalite): sequentially and with 32 in flight.
 */
export async function measureStoreFloor(
  mode: 'disk' | 'memory',
  dir: string,
  caps = { sequential: { count: 1_500, maxMs: 2_000 }, c32: { count: 4_000, maxMs: 2_500 } },
): Promise<StoreFloor> {
  if (mode === 'disk') await mkdir(dir, { recursive: true });
  const store = SqliteKeyValueStore.open(mode === 'disk' ? { path: join(dir, 'floor.sqlite') } : {});
  try {
    const signer = InMemoryP256Signer.generate();
    const data = canonicalize(await signRecord(typicalDecisionRecord(signer), signer));
    const pk = `chain#bench-${randomUUID()}`;
    let key = 0;
    const put = async (): Promise<void> => {
      const sk = (key++).toString().padStart(20, '0');
      if (!(await store.putIfAbsent(pk, sk, data))) {
        throw new Error(`fresh key \`${sk}\` was reported taken`);
      }
    };
    await runBounded({ count: 100, maxMs: 2_000, concurrency: 4 }, put); // warm-up: sockets, table, JIT
    const sequential = summarize(await runBounded({ ...caps.sequential, concurrency: 1 }, put));
    // a pause between the two runs, so the second starts from an idle store
    await new Promise((ok) => setTimeout(ok, 200));
    const c32 = summarize(await runBounded({ ...caps.c32, concurrency: 32 }, put));
    return { mode, sequential, c32 };
  } finally {
    await store.close();
  }
}

/** Median cost of one Cedar evaluation for a policy-set size. */
export interface CedarPoint {
  policies: number;
  medianUs: number;
  p99Us: number;
  evaluations: number;
  /** First evaluation with this set (parse, validate, slice, cache). */
  firstMs: number;
}

export interface CedarFloor {
  /** What was measured: the gateway's evaluator, a colleague's scaling benchmark, or raw cedar-wasm. */
  engine: string;
  points: CedarPoint[];
  /**
   * `core/policy/PolicyEngine` called directly with the same array each time (as `Gateway` caches its policy
   * list), so its per-array memo holds: the engine's own cost, without the adapter in front of it.
   */
  engineDirect: CedarPoint[];
  /** Raw `statefulIsAuthorized` over the whole preparsed set, no slicing: what slicing saves. */
  unsliced: CedarPoint[];
  /** Whatever `bench/policyScaling.js` reported, when that module exists. */
  policyScaling?: unknown;
}

/** `n` policies for `n / 10` agents and `n` actions; exactly one permits the benchmark request. */
export function syntheticPolicies(n: number): Array<{ policyId: string; cedar: string }> {
  const out: Array<{ policyId: string; cedar: string }> = [
    {
      policyId: 'allow-bench-agent-hello',
      cedar:
        'permit(principal == Agent::"bench-agent", action == Action::"hello-world.say_hello", resource);',
    },
  ];
  for (let i = 1; i < n; i++) {
    const agent = `agent-${i % Math.max(1, Math.floor(n / 10))}`;
    const action = `svc${i}.resource.op`;
    const cedar =
      i % 3 === 0
        ? `forbid(principal, action == Action::"${action}", resource) when { context has environment && context.environment == "prod" };`
        : `permit(principal == Agent::"${agent}", action == Action::"${action}", resource) when { context has region && context.region == "us-east-1" };`;
    out.push({ policyId: `p-${i.toString().padStart(4, '0')}`, cedar });
  }
  return out;
}

type CedarModule = typeof import('@cedar-policy/cedar-wasm/nodejs');

/**
 * One Cedar evaluation with 10 and with 1,000 policies. Through the gateway's own evaluator
 * (`core/policy/PolicyEngine`, which slices the set by principal and action); the
 * unsliced raw-Cedar figures are measured beside it so the effect of slicing shows.
 */
export async function measureCedarFloor(sizes: number[] = [10, 1_000]): Promise<CedarFloor> {
  const floor: CedarFloor = { engine: 'none', points: [], engineDirect: [], unsliced: [] };
  try {
    floor.policyScaling = measurePolicyScaling();
  } catch (error) {
    floor.policyScaling = { error: String(error) };
  }

  const request = {
    agentId: 'bench-agent',
    agentAttributes: { team: 'bench' },
    action: 'hello-world.say_hello',
    resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abcd1234ef567890',
    context: { environment: 'dev', region: 'us-east-1' },
  };
  floor.engine = 'core/policy/PolicyEngine, as the gateway calls it (sliced by principal and action)';
  for (const n of sizes) {
    const evaluator = new PolicyEngine();
    const policies = syntheticPolicies(n);
    const t0 = performance.now();
    const first = evaluator.evaluate(policies, request);
    const firstMs = performance.now() - t0;
    if (first.decision !== 'allow') {
      throw new Error(`cedar benchmark request was denied with ${n} policies: ${first.reason}`);
    }
    floor.points.push({
      policies: n,
      firstMs,
      ...(await medianOf(() => evaluator.evaluate(policies, request))),
    });
  }

  // The scaling benchmark measures the engine in its steady state on one array: shown beside it.
  const scaled = scalingPoints(floor.policyScaling);
  if (scaled) floor.engineDirect.push(...scaled);

  const cedar = (await import('@cedar-policy/cedar-wasm/nodejs')) as CedarModule;
  for (const n of sizes) {
    const id = `bench-${n}-${randomUUID()}`;
    const staticPolicies: Record<string, string> = {};
    for (const p of syntheticPolicies(n)) staticPolicies[p.policyId] = p.cedar;
    const t0 = performance.now();
    const parsed = cedar.preparsePolicySet(id, { staticPolicies });
    if (parsed.type !== 'success') throw new Error(`cedar could not parse the ${n} synthetic policies`);
    const call = {
      principal: { type: 'Agent', id: request.agentId },
      action: { type: 'Action', id: request.action },
      resource: { type: 'Resource', id: request.resource },
      context: request.context,
      preparsedPolicySetId: id,
      entities: [],
    };
    const answer = cedar.statefulIsAuthorized(call);
    const firstMs = performance.now() - t0;
    if (answer.type !== 'success' || answer.response.decision !== 'allow') {
      throw new Error(`raw cedar did not allow the benchmark request with ${n} policies`);
    }
    const point = { policies: n, firstMs, ...(await medianOf(() => cedar.statefulIsAuthorized(call))) };
    floor.unsliced.push(point);
    if (floor.points.length < sizes.length) floor.points.push(point);
  }
  return floor;
}

/** `evaluate10`/`evaluate1000` of `bench/policyScaling`'s figures as points, when they have that shape. */
function scalingPoints(figures: unknown): CedarPoint[] | null {
  type Row = { iterations: number; median_us: number; p99_us: number };
  const f = figures as { evaluate10?: Row; evaluate1000?: Row; coldIndex1000_ms?: number } | undefined;
  const ok = (r: Row | undefined): r is Row => typeof r?.median_us === 'number';
  if (!ok(f?.evaluate10) || !ok(f?.evaluate1000)) return null;
  const point = (policies: number, r: Row, firstMs: number): CedarPoint => ({
    policies,
    medianUs: r.median_us,
    p99Us: r.p99_us,
    evaluations: r.iterations,
    firstMs,
  });
  return [
    point(10, f.evaluate10, Number.NaN),
    point(1_000, f.evaluate1000, typeof f.coldIndex1000_ms === 'number' ? f.coldIndex1000_ms : Number.NaN),
  ];
}

async function medianOf(
  op: () => unknown,
): Promise<{ medianUs: number; p99Us: number; evaluations: number }> {
  for (let i = 0; i < 50; i++) op(); // warm-up
  const samples: number[] = [];
  const deadline = performance.now() + 800;
  while (samples.length < 5_000 && performance.now() < deadline) {
    const t0 = performance.now();
    op();
    samples.push((performance.now() - t0) * 1000);
  }
  return { medianUs: quantile(samples, 0.5), p99Us: quantile(samples, 0.99), evaluations: samples.length };
}
