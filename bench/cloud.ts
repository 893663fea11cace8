/**
 * `npm run bench:cloud`: the cloud's write path simulated on one machine. K simulated Lambda instances
 * (separate processes, bench/cloud/instance.ts: each its own gateway, signer and lane, one request in
 * flight) decide against one table held by this process (bench/cloud/SimulatedDynamoDb.ts: the port's
 * semantics, DynamoDB-like latency, and optionally DynamoDB's per-partition capacity), for K = 1, 4, 16,
 * 32, today's design (lanes) and the single-chain design it replaced (vendored in bench/cloud/baseline/),
 * side by side, without and with partition limits modelled.
 *
 * After every run the table is checked: every lane verifies on its own (core/verify/ChainVerifier: hashes, links,
 * seqs, signatures from the root key), every answered decision has its record (lost), no request id has
 * two records (duplicated), no lane has a gap or fork (forked).
 *
 * Prints a table, the hottest partitions of each run with limits, and exactly one line of JSON last, with
 * `summary.cloud`. Environment: `ZT_CLOUD_K` (default `1,4,16,32`), `ZT_CLOUD_SECONDS` (measured seconds
 * per run, default 5, at most 60), `ZT_CLOUD_LIMITS` (`both`, `off`, `on`; default both),
 * `ZT_CLOUD_DESIGNS` (default `lanes,single-chain`), `ZT_CLOUD_PROFILE_DIR` (a V8 CPU profile per instance).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { InMemoryP256Signer } from '../core/keys/index.js';
import type { Caller } from '../core/model/index.js';
import { wireGateway } from '../lambdas/wiring.js';
import type { Design, InstanceDone, InstanceInit, InstanceMessage } from './cloud/instance.js';
import type { StoreReplyMessage } from './cloud/RemoteKeyValueStore.js';
import {
  type CapacityModel,
  DYNAMODB_LATENCY,
  DYNAMODB_PARTITION_LIMITS,
  type LatencyModel,
  SimulatedDynamoDb,
} from './cloud/SimulatedDynamoDb.js';
import { type Verification, verifyLanes } from './cloud/verifyLanes.js';
import { formatLoad, type MachineLoad, machineLoad } from './machine.js';
import { quantile, round } from './stats.js';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** Agent principals the decisions are spread over; each has its own idempotency partition. */
const AGENTS = 32;
const ACTION = 'bench.decide';
const DENIED_ACTION = 'bench.unpermitted';
/** Every 10th decision asks for an action no policy permits: a recorded deny. */
const DENY_EVERY = 10;
/**
 * Decisions each instance makes before the measured window: one per agent, so every agent is in the
 * instance's configuration cache (a warm Lambda's steady state) and its lane and session key exist.
 */
const WARMUP_PER_INSTANCE = AGENTS;
const MAX_DECISIONS_PER_INSTANCE = 5_000;
const READY_TIMEOUT_MS = 120_000;
const TARGETS = { scaling: 0.8, p99OverK1: 2 };

// ------------------------------------------------------------------ configuration

function intList(name: string, fallback: number[], max: number): number[] {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1 || v > max)) {
    throw new Error(`${name} must be comma-separated integers from 1 to ${max}, got \`${text}\``);
  }
  return values;
}

function choice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  if (!(allowed as readonly string[]).includes(text)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}, got \`${text}\``);
  }
  return text as T;
}

function designs(): Design[] {
  const text = process.env['ZT_CLOUD_DESIGNS'];
  if (text === undefined || text === '') return ['lanes', 'single-chain'];
  const list = text.split(',').map((s) => s.trim());
  for (const d of list) {
    if (d !== 'lanes' && d !== 'single-chain') {
      throw new Error(`ZT_CLOUD_DESIGNS must list \`lanes\` and/or \`single-chain\`, got \`${text}\``);
    }
  }
  return list as Design[];
}

// ------------------------------------------------------------------ the instance pool

class InstancePool {
  readonly #children: ChildProcess[] = [];
  #table: SimulatedDynamoDb | null = null;
  readonly #waiters = new Map<number, { type: string; resolve: (m: InstanceMessage) => void }>();

  constructor(size: number) {
    const entry = fileURLToPath(new URL('./cloud/instance.js', import.meta.url));
    for (let i = 0; i < size; i++) {
      // ZT_CLOUD_PROFILE_DIR=dir writes a V8 CPU profile of each instance there (what an instance spends).
      const profileDir = process.env['ZT_CLOUD_PROFILE_DIR'];
      const child = fork(entry, [], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
      });
      child.on('message', (m: InstanceMessage) => this.#onMessage(i, child, m));
      child.on('exit', (code, signal) => {
        const waiter = this.#waiters.get(i);
        this.#waiters.delete(i);
        waiter?.resolve({ type: 'failed', error: `instance ${i} exited (${signal ?? `code ${code}`})` });
      });
      this.#children.push(child);
    }
  }

  /** The table the instances' calls go to from now on. */
  useTable(table: SimulatedDynamoDb): void {
    this.#table = table;
  }

  #onMessage(i: number, child: ChildProcess, m: InstanceMessage): void {
    if (m.type === 'store') {
      const table = this.#table;
      if (!table) return;
      void table.call(m.call).then((reply) => {
        if (child.connected) child.send({ type: 'store-reply', id: m.id, reply } satisfies StoreReplyMessage);
      });
      return;
    }
    const waiter = this.#waiters.get(i);
    if (waiter && (m.type === waiter.type || m.type === 'failed')) {
      this.#waiters.delete(i);
      waiter.resolve(m);
    }
  }

  #expect(i: number, type: string, timeoutMs: number): Promise<InstanceMessage> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(i);
        resolve({ type: 'failed', error: `instance ${i} sent no \`${type}\` within ${timeoutMs} ms` });
      }, timeoutMs);
      this.#waiters.set(i, {
        type,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  async init(k: number, make: (i: number) => InstanceInit): Promise<void> {
    const replies = Array.from({ length: k }, (_, i) => {
      const reply = this.#expect(i, 'ready', READY_TIMEOUT_MS);
      this.#children[i]?.send(make(i));
      return reply;
    });
    for (const m of await Promise.all(replies)) {
      if (m.type === 'failed') throw new Error(m.error);
    }
  }

  async go(k: number, durationMs: number): Promise<InstanceDone[]> {
    const replies = Array.from({ length: k }, (_, i) => {
      const reply = this.#expect(i, 'done', durationMs + 120_000);
      this.#children[i]?.send({ type: 'go', durationMs, maxDecisions: MAX_DECISIONS_PER_INSTANCE });
      return reply;
    });
    const done: InstanceDone[] = [];
    for (const m of await Promise.all(replies)) {
      if (m.type === 'failed') throw new Error(m.error);
      done.push(m as InstanceDone);
    }
    return done;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((ok) => {
            if (child.exitCode !== null || child.signalCode !== null) return ok();
            const timer = setTimeout(() => child.kill(), 10_000);
            child.once('exit', () => {
              clearTimeout(timer);
              ok();
            });
            if (child.connected) child.send({ type: 'exit' });
            else child.kill();
          }),
      ),
    );
  }
}

// ------------------------------------------------------------------ one run

interface PartitionClass {
  /** `chain#<lane>`, `idem#<principal>`, `meta`, ... */
  name: string;
  keys: number;
  /** The busiest key of the class: units per second and per decision of the run. */
  writeUnitsPerSec: number;
  readUnitsPerSec: number;
  writeUnitsPerDecision: number;
  readUnitsPerDecision: number;
  throttled: number;
  /** Decisions/s one key of the class allows at DynamoDB's limits, at this run's units per decision. */
  ceilingPerKey: number;
}

interface Run {
  design: Design;
  K: number;
  partitionLimits: boolean;
  decisionsPerSec: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: Record<string, number>;
  contentionErrors: number;
  throttledErrors: number;
  throttledCalls: number;
  /** Table calls per answered decision, by operation. */
  callsPerDecision: Record<string, number>;
  verification: Verification;
  partitions: PartitionClass[];
  /** Harness CPU over the measured window, in cores: all instances, and the table process. */
  cpu: { instances: number; table: number };
  lanesUsed: number;
  load: MachineLoad;
}

function classOf(pk: string): string {
  const hash = pk.indexOf('#');
  return hash === -1 ? pk : `${pk.slice(0, hash)}#<${pk.startsWith('idem#') ? 'principal' : 'lane'}>`;
}

async function setUpTable(table: SimulatedDynamoDb, root: InMemoryP256Signer, run: string) {
  // The admin's own writer holds a lane of its own, so the instances' lanes start empty.
  const { gateway } = wireGateway({
    store: table.store,
    rootSigner: root,
    clock: { now: () => new Date() },
    gatewayPrincipal: 'arn:aws:iam::123456789012:role/zt-admin-function',
    lane: 'setup',
    origin: `zt-infra/bench/${run}/setup`,
  });
  const admin: Caller = { principalArn: 'arn:aws:iam::123456789012:role/zt-admin', isAdmin: true };
  const agents: Array<{ agentId: string; principalArn: string }> = [];
  for (let i = 0; i < AGENTS; i++) {
    const agent = { agentId: `agent-${i}`, principalArn: `arn:aws:iam::123456789012:role/bench-agent-${i}` };
    await gateway.registerAgent(admin, agent);
    agents.push(agent);
  }
  await gateway.putPolicy(admin, 'allow-bench', {
    cedar: `permit(principal, action == Action::"${ACTION}", resource);`,
  });
  return agents;
}

async function runOnce(
  pool: InstancePool,
  design: Design,
  k: number,
  latency: LatencyModel,
  capacity: CapacityModel | null,
  durationMs: number,
): Promise<Run> {
  const run = randomUUID().slice(0, 8);
  const table = new SimulatedDynamoDb({ latency, capacity });
  const root = InMemoryP256Signer.generate();
  const agents = await setUpTable(table, root, run);
  pool.useTable(table);
  await pool.init(k, (index) => ({
    type: 'init',
    run,
    design,
    index,
    rootKeyPem: root.exportPrivateKeyPem(),
    agents,
    action: ACTION,
    deniedAction: DENIED_ACTION,
    denyEvery: DENY_EVERY,
    warmup: WARMUP_PER_INSTANCE,
  }));
  table.resetUsage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const done = await pool.go(k, durationMs);
  const wallMs = performance.now() - t0;
  const tableCpu = process.cpuUsage(cpu0);
  const load = machineLoad();

  const all = done.flatMap((d) => d.results);
  const measured = all.filter((r) => r[7]);
  const answered = measured.filter((r) => r[1] !== null);
  const latencies = answered.map((r) => r[4]);
  const errors: Record<string, number> = {};
  let throttledErrors = 0;
  for (const r of measured) {
    if (r[5] === null) continue;
    errors[r[5]] = (errors[r[5]] ?? 0) + 1;
    if (r[6]) throttledErrors++;
  }
  // Each instance's own rate over its own window, summed: no instance's start-up skew counts.
  const decisionsPerSec = done.reduce((sum, d) => {
    const mine = d.results.filter((r) => r[7] && r[1] !== null).length;
    return sum + (d.measuredMs > 0 ? (mine * 1000) / d.measuredMs : 0);
  }, 0);
  const verification = await verifyLanes(
    table.store,
    root.publicKeyPem,
    all.map(([requestId, decision, lane, seq]) => ({ requestId, decision, lane, seq })),
  );

  const windowSec = wallMs / 1000;
  const classes = new Map<string, PartitionClass>();
  for (const [pk, usage] of table.usage()) {
    const name = classOf(pk);
    const c = classes.get(name) ?? {
      name,
      keys: 0,
      writeUnitsPerSec: 0,
      readUnitsPerSec: 0,
      writeUnitsPerDecision: 0,
      readUnitsPerDecision: 0,
      throttled: 0,
      ceilingPerKey: Number.POSITIVE_INFINITY,
    };
    c.keys++;
    c.throttled += usage.throttled;
    c.writeUnitsPerSec = Math.max(c.writeUnitsPerSec, usage.writeUnits / windowSec);
    c.readUnitsPerSec = Math.max(c.readUnitsPerSec, usage.readUnits / windowSec);
    classes.set(name, c);
  }
  const rate = Math.max(decisionsPerSec, 1e-9);
  for (const c of classes.values()) {
    c.writeUnitsPerDecision = c.writeUnitsPerSec / rate;
    c.readUnitsPerDecision = c.readUnitsPerSec / rate;
    const limits = DYNAMODB_PARTITION_LIMITS;
    c.ceilingPerKey = Math.min(
      c.writeUnitsPerDecision > 0
        ? limits.writeUnitsPerSec / c.writeUnitsPerDecision
        : Number.POSITIVE_INFINITY,
      c.readUnitsPerDecision > 0 ? limits.readUnitsPerSec / c.readUnitsPerDecision : Number.POSITIVE_INFINITY,
    );
  }
  return {
    design,
    K: k,
    partitionLimits: capacity !== null,
    decisionsPerSec,
    answered: answered.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: quantile(latencies, 1),
    errors,
    contentionErrors: errors['CHAIN_CONTENTION'] ?? 0,
    throttledErrors,
    throttledCalls: table.throttledCalls,
    callsPerDecision: Object.fromEntries(
      Object.entries(table.calls).map(([op, n]) => [op, n / Math.max(1, answered.length)]),
    ),
    verification,
    partitions: [...classes.values()].sort(
      (a, b) => b.writeUnitsPerSec + b.readUnitsPerSec / 3 - (a.writeUnitsPerSec + a.readUnitsPerSec / 3),
    ),
    cpu: {
      instances: done.reduce((s, d) => s + d.cpuMs, 0) / wallMs,
      table: (tableCpu.user + tableCpu.system) / 1000 / wallMs,
    },
    lanesUsed: new Set(done.map((d) => d.lane)).size,
    load,
  };
}

// ------------------------------------------------------------------ report

const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function pad(cells: Array<string | number>, widths: number[]): string {
  return cells
    .map((c, i) => (i === 0 ? String(c).padEnd(widths[i] ?? 8) : String(c).padStart(widths[i] ?? 8)))
    .join(' ');
}

const W = [13, 3, 7, 6, 7, 7, 6, 8, 7, 6, 5, 5, 5, 6, 11, 14];

function header(): string {
  return pad(
    [
      'design',
      'K',
      'dec/s',
      'scale',
      'p50 ms',
      'p99 ms',
      'p99x',
      'content.',
      'thrott.',
      'other',
      'lost',
      'dup',
      'fork',
      'lanes',
      'cpu i/t',
      'load',
    ],
    W,
  );
}

function row(r: Run, k1: Run | undefined): string {
  const scale = k1 ? r.decisionsPerSec / (r.K * k1.decisionsPerSec) : Number.NaN;
  const p99x = k1 ? r.p99Ms / k1.p99Ms : Number.NaN;
  const other =
    Object.entries(r.errors)
      .filter(([code]) => code !== 'CHAIN_CONTENTION')
      .reduce((s, [, n]) => s + n, 0) - r.throttledErrors;
  return pad(
    [
      r.design,
      r.K,
      fmt(r.decisionsPerSec, 0),
      fmt(scale, 2),
      fmt(r.p50Ms, 1),
      fmt(r.p99Ms, 1),
      fmt(p99x, 2),
      r.contentionErrors,
      r.throttledErrors,
      Math.max(0, other),
      r.verification.lost,
      r.verification.duplicated,
      r.verification.forked,
      r.verification.lanes,
      `${fmt(r.cpu.instances, 2)}/${fmt(r.cpu.table, 2)}`,
      r.load.loadAvg.map((l) => l.toFixed(1)).join('/'),
    ],
    W,
  );
}

function progress(step: string): void {
  process.stderr.write(`bench:cloud: ${step}\n`);
}

function rounded(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? value : round(value, 3);
  if (Array.isArray(value)) return value.map(rounded);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)]));
  }
  return value;
}

async function main(): Promise<void> {
  const ks = intList('ZT_CLOUD_K', [1, 4, 16, 32], 64);
  const [seconds = 5] = intList('ZT_CLOUD_SECONDS', [5], 60);
  const limitsMode = choice('ZT_CLOUD_LIMITS', ['both', 'off', 'on'] as const, 'both');
  const designList = designs();
  const latency = DYNAMODB_LATENCY;
  const say = (line = '') => {
    process.stdout.write(`${line}\n`);
  };
  const started = performance.now();
  const startLoad = machineLoad();
  say(`zt-infra bench:cloud (Node ${process.versions.node}, ${formatLoad(startLoad)} at the start)`);
  say('model:');
  say(
    `  latency, uniform: get ${latency.get.minMs}-${latency.get.maxMs} ms, query ${latency.query.minMs}-${latency.query.maxMs} ms,` +
      ` put/update/delete ${latency.write.minMs}-${latency.write.maxMs} ms, transaction ${latency.transact.minMs}-${latency.transact.maxMs} ms;` +
      ' a call takes effect half way through',
  );
  const lim = DYNAMODB_PARTITION_LIMITS;
  say(
    `  partition limits (when modelled): ${lim.writeUnitsPerSec} WCU/s and ${lim.readUnitsPerSec} RCU/s per partition key,` +
      ` token buckets holding ${lim.burstSeconds} s; 1 WCU per KB written (the larger of old and new item, failed` +
      ' conditions billed), 2 per KB per item of a transaction (condition checks and cancelled ones included),' +
      ' 1 RCU per 4 KB read strongly consistent; a throttled call fails (no SDK retry) and writes nothing',
  );
  say(
    `  instances: separate processes, one request in flight each, ${WARMUP_PER_INSTANCE} warm-up decisions before the window;` +
      ` ${AGENTS} agents, one policy, every ${DENY_EVERY}th decision a recorded deny; ${seconds} s measured per run`,
  );
  say('');

  const pool = new InstancePool(Math.max(...ks));
  const runs: Run[] = [];
  try {
    // A run nobody reads first: each process loads and compiles Cedar's wasm (V8 tiers it up on background
    // threads for seconds) as a cold Lambda does; the runs compare warm instances.
    progress(`warming ${Math.max(...ks)} instance processes (${formatLoad(machineLoad())})`);
    await runOnce(pool, designList[0] ?? 'lanes', Math.max(...ks), latency, null, 3_000);
    const modes = limitsMode === 'both' ? [false, true] : [limitsMode === 'on'];
    for (const limits of modes) {
      say(`${limits ? 'WITH' : 'without'} DynamoDB partition limits`);
      say(`  ${header()}`);
      for (const design of designList) {
        for (const k of ks) {
          progress(`${design} K=${k} ${limits ? 'with' : 'without'} limits (${formatLoad(machineLoad())})`);
          const r = await runOnce(pool, design, k, latency, limits ? lim : null, seconds * 1000);
          runs.push(r);
          const k1 = runs.find((x) => x.design === design && x.partitionLimits === limits && x.K === 1);
          say(`  ${row(r, k1)}`);
          const calls = Object.entries(r.callsPerDecision)
            .map(([op, n]) => `${op} ${fmt(n, 2)}`)
            .join(', ');
          progress(`table calls per decision: ${calls}`);
          if (r.verification.findings.length > 0) say(`    findings: ${r.verification.findings.join('; ')}`);
        }
      }
      say('');
    }
    if (modes.includes(true)) {
      say(
        'hottest partitions with limits (busiest key of each kind; ceiling = decisions/s one such key allows)',
      );
      for (const r of runs.filter((x) => x.partitionLimits)) {
        const top = r.partitions
          .slice(0, 4)
          .map(
            (c) =>
              `${c.name} x${c.keys}: ${fmt(c.writeUnitsPerSec, 0)} WCU/s ${fmt(c.readUnitsPerSec, 0)} RCU/s` +
              ` (${fmt(c.writeUnitsPerDecision, 2)} W + ${fmt(c.readUnitsPerDecision, 2)} R per decision,` +
              ` ceiling ${fmt(c.ceilingPerKey, 0)}/s${c.throttled > 0 ? `, ${c.throttled} throttled` : ''})`,
          )
          .join('; ');
        say(`  ${r.design} K=${r.K}: ${top}`);
      }
      say('');
    }
    say(
      'against the targets (lanes): decisions/s >= 0.8 x K x the K=1 rate; zero CHAIN_CONTENTION; zero lost,',
    );
    say('duplicated or forked; p99 <= 2 x the K=1 p99');
    for (const limits of modes) {
      const k1 = runs.find((x) => x.design === 'lanes' && x.partitionLimits === limits && x.K === 1);
      for (const r of runs.filter((x) => x.design === 'lanes' && x.partitionLimits === limits && x.K > 1)) {
        if (!k1) continue;
        const misses = [
          r.decisionsPerSec < TARGETS.scaling * r.K * k1.decisionsPerSec ? 'rate' : '',
          r.contentionErrors > 0 ? 'contention' : '',
          r.verification.lost + r.verification.duplicated + r.verification.forked > 0 ? 'integrity' : '',
          r.p99Ms > TARGETS.p99OverK1 * k1.p99Ms ? 'p99' : '',
        ].filter(Boolean);
        say(
          `  ${limits ? 'with' : 'without'} limits, K=${r.K}: ${misses.length === 0 ? 'ok' : `MISSED ${misses.join(', ')}`}` +
            ` (cpu: instances ${fmt(r.cpu.instances, 2)} + table ${fmt(r.cpu.table, 2)} cores of ${r.load.cpus}, ${formatLoad(r.load)})`,
        );
      }
    }
    say('');
  } finally {
    await pool.close();
  }
  const integrity = runs.every(
    (r) => r.verification.lost === 0 && r.verification.duplicated === 0 && r.verification.forked === 0,
  );
  const report = {
    bench: 'zt-infra/cloud',
    node: process.versions.node,
    totalSeconds: (performance.now() - started) / 1000,
    machine: { atStart: startLoad, atEnd: machineLoad() },
    model: { latency, partitionLimits: lim, agents: AGENTS, denyEvery: DENY_EVERY, secondsPerRun: seconds },
    runs,
    integrity,
    summary: {
      cloud: runs.map((r) => ({
        K: r.K,
        design: r.design,
        partitionLimits: r.partitionLimits,
        decisionsPerSec: r.decisionsPerSec,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        contentionErrors: r.contentionErrors,
        throttledErrors: r.throttledErrors,
        lost: r.verification.lost,
        duplicated: r.verification.duplicated,
        forked: r.verification.forked,
      })),
    },
  };
  process.stdout.write(`${JSON.stringify(rounded(report))}\n`);
  // Lost, duplicated or forked records are a correctness failure, whatever the design.
  if (!integrity) process.exitCode = 1;
}

await main();
