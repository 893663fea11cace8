/**
 * `npm run bench`: signed decisions over HTTP against the local emulator at concurrency 1 and 32, beside a
 * compute floor measured in the same run, and the floors of the parts (record signing, one SQLite
 * conditional put, one Cedar evaluation). Prints a human table, then exactly one line of JSON (the last
 * line of stdout) whose `summary.local` holds the issue's figures.
 *
 * - The emulator runs in a child process (as `npm run local` does) on its SQLite store in a temp data dir;
 *   the compute floor (bench/computeFloor.ts: the same SigV4 check, one record canonicalized, hashed and
 *   signed, JSON in and out, no store, no policy) runs in another child. Each child times its own CPU.
 * - The load client (this process) signs every request with the SDK's signer and sends it over keep-alive
 *   `node:http` connections (bench/httpClient.ts): `fetch` cost more client CPU than the server's work.
 * - Concurrency 32 runs in alternating rounds, floor then emulator, so a change in the machine's load
 *   (it is shared) hits both; the median round of each is reported. Every phase is bounded in count and time
 *   and prints the load average it ran under.
 *
 * `ZT_BENCH_PROFILE_DIR=dir` writes a V8 CPU profile of each child there (`--cpu-prof`), to see what bounds
 * a figure; `ZT_BENCH_ROUNDS` (1-9, default 3) sets the number of concurrency-32 rounds.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyValueStore } from '../core/ports/index.js';
import { GatewayClient } from '../sdk/GatewayClient.js';
import { type AwsCredentials, signRequest } from '../sdk/signer.js';
import { startComputeFloor } from './computeFloor.js';
import {
  type CedarFloor,
  type CryptoFloor,
  measureCedarFloor,
  measureCryptoFloor,
  measureStoreFloor,
  type StoreFloor,
} from './floors.js';
import { KeepAliveClient } from './httpClient.js';
import { formatLoad, type MachineLoad, machineLoad } from './machine.js';
import { type LoadSummary, round, runBounded, summarize } from './stats.js';

// The AWS SDK warns on Node 20 at first use; not a bench figure.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] = 'true';

/** Issue 9's local targets. */
const TARGETS = { c1P50Ms: 1, c32DecisionsPerSec: 2_000, c32P99OverP50: 2, c32OverFloor: 0.5 };
const CAPS = {
  warmup: { count: 600, maxMs: 4_000, concurrency: 8 },
  c1: { count: 1_500, maxMs: 5_000, concurrency: 1 },
  c32: { count: 12_000, maxMs: 3_000, concurrency: 32 },
};
const REQUEST_TIMEOUT_MS = 10_000;
const AGENT_ID = 'bench-agent';
const ACTION = 'hello-world.say_hello';

// ------------------------------------------------------------------ children: the emulator, the floor

/** Per-method count and busy time of store calls; chain appends (`chain#` partitions) apart. */
interface StoreCallStats {
  [op: string]: { calls: number; totalMs: number };
}

interface ChildStats {
  /** CPU time of the child since the last reset (user + system, ms). */
  cpuMs: number;
  wallMs: number;
  store?: StoreCallStats;
  /** SQLite transactions committed (group commits). */
  commits?: number;
  conflicts?: number;
}

type ParentMessage = { type: 'reset' } | { type: 'stats' } | { type: 'close' };
type ChildMessage =
  | { type: 'ready'; url: string; region: string; credentials: AwsCredentials }
  | { type: 'stats'; stats: ChildStats }
  | { type: 'error'; error: string };

function timedStore(inner: KeyValueStore, stats: { current: StoreCallStats }): KeyValueStore {
  const time = <T>(op: string, pk: string, run: () => Promise<T>): Promise<T> => {
    const key = pk.startsWith('chain#') ? `chain.${op}` : op;
    const t0 = performance.now();
    const done = () => {
      const entry = stats.current[key] ?? { calls: 0, totalMs: 0 };
      stats.current[key] = entry;
      entry.calls++;
      entry.totalMs += performance.now() - t0;
    };
    return run().finally(done);
  };
  return {
    get: (pk, sk) => time('get', pk, () => inner.get(pk, sk)),
    putIfAbsent: (pk, sk, data) => time('putIfAbsent', pk, () => inner.putIfAbsent(pk, sk, data)),
    put: (pk, sk, data) => time('put', pk, () => inner.put(pk, sk, data)),
    replaceIf: (pk, sk, expected, data) =>
      time('replaceIf', pk, () => inner.replaceIf(pk, sk, expected, data)),
    delete: (pk, sk) => time('delete', pk, () => inner.delete(pk, sk)),
    query: (pk, options) => time('query', pk, () => inner.query(pk, options)),
    increment: (pk, sk) => time('increment', pk, () => inner.increment(pk, sk)),
    transact: (ops) => time('transact', ops[0]?.pk ?? '', () => inner.transact(ops)),
  };
}

/** Answers `reset`/`stats`/`close` from the parent with this process's CPU and what `extra` adds. */
function serveStats(
  extra: () => Omit<ChildStats, 'cpuMs' | 'wallMs'>,
  reset: () => void,
  close: () => Promise<void>,
) {
  let cpu = process.cpuUsage();
  let wall = performance.now();
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'reset') {
      reset();
      cpu = process.cpuUsage();
      wall = performance.now();
    } else if (message.type === 'stats') {
      const used = process.cpuUsage(cpu);
      const stats: ChildStats = {
        cpuMs: (used.user + used.system) / 1000,
        wallMs: performance.now() - wall,
        ...extra(),
      };
      process.send?.({ type: 'stats', stats } satisfies ChildMessage);
    } else if (message.type === 'close') {
      void close().finally(() => process.exit(0));
    }
  });
}

async function serveEmulator(dataDir: string): Promise<void> {
  const { startEmulator } = await import('../local/emulator.js');
  const stats = { current: {} as StoreCallStats };
  const sqlite: { store: { commits: number } | null } = { store: null };
  let conflicts = 0;
  const emulator = await startEmulator({
    events: { appendConflict: () => conflicts++ },
    dataDir,
    port: 0,
    // One JSON line per request on stdout is `npm run local`'s default; it is not the bench's subject.
    log: null,
    wrapStore: (store) => {
      if ('commits' in store) sqlite.store = store as unknown as { commits: number };
      return timedStore(store, stats);
    },
  });
  let commits = sqlite.store?.commits ?? 0;
  serveStats(
    () => ({
      store: stats.current,
      conflicts,
      ...(sqlite.store ? { commits: sqlite.store.commits - commits } : {}),
    }),
    () => {
      stats.current = {};
      commits = sqlite.store?.commits ?? 0;
      conflicts = 0;
    },
    () => emulator.close(),
  );
  process.send?.({
    type: 'ready',
    url: emulator.url,
    region: emulator.region,
    credentials: { accessKeyId: emulator.admin.accessKeyId, secretAccessKey: emulator.admin.secretAccessKey },
  } satisfies ChildMessage);
}

async function serveFloor(): Promise<void> {
  const floor = await startComputeFloor();
  serveStats(
    () => ({}),
    () => undefined,
    () => floor.close(),
  );
  process.send?.({
    type: 'ready',
    url: floor.url,
    region: floor.region,
    credentials: floor.credentials,
  } satisfies ChildMessage);
}

// ------------------------------------------------------------------ parent: the load client

class ServerProcess {
  readonly #child: ChildProcess;
  #waiting: Array<(m: ChildMessage) => void> = [];

  private constructor(child: ChildProcess) {
    this.#child = child;
    child.on('message', (m: ChildMessage) => this.#waiting.shift()?.(m));
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => {
      const error = `server process exited (${signal ?? `code ${code}`})`;
      for (const waiter of this.#waiting.splice(0)) waiter({ type: 'error', error });
    });
  }

  static async start(
    args: string[],
  ): Promise<{ proc: ServerProcess; url: string; region: string; credentials: AwsCredentials }> {
    const profileDir = process.env['ZT_BENCH_PROFILE_DIR'];
    const child = fork(fileURLToPath(import.meta.url), args, {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    const proc = new ServerProcess(child);
    let timer: NodeJS.Timeout | undefined;
    const ready = await Promise.race([
      proc.#next(),
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`${args[0]} did not start within 30 s`)), 30_000);
      }),
    ]).finally(() => clearTimeout(timer));
    if (ready.type !== 'ready') {
      child.kill();
      throw new Error(`${args[0]} failed to start: ${ready.type === 'error' ? ready.error : ready.type}`);
    }
    return { proc, url: ready.url, region: ready.region, credentials: ready.credentials };
  }

  #next(): Promise<ChildMessage> {
    return new Promise((ok) => this.#waiting.push(ok));
  }

  reset(): void {
    if (this.#child.connected) this.#child.send({ type: 'reset' } satisfies ParentMessage);
  }

  async stats(): Promise<ChildStats> {
    if (!this.#child.connected) throw new Error('the server process is gone');
    const reply = this.#next();
    this.#child.send({ type: 'stats' } satisfies ParentMessage);
    const m = await reply;
    if (m.type === 'error') throw new Error(m.error);
    if (m.type !== 'stats') throw new Error(`expected stats from the server, got \`${m.type}\``);
    return m.stats;
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null || !this.#child.connected) return;
    const exited = new Promise<void>((ok) => this.#child.once('exit', () => ok()));
    this.#child.send({ type: 'close' } satisfies ParentMessage);
    // A profile is written at exit: give it time, then stop waiting.
    const timer = setTimeout(() => this.#child.kill(), 20_000);
    await exited;
    clearTimeout(timer);
  }
}

/** One load phase against one server. */
interface Phase extends LoadSummary {
  target: 'emulator' | 'floor';
  label: string;
  concurrency: number;
  load: MachineLoad;
  firstError?: string;
  /** Client (this process) CPU per request, signing included, in µs; and as a fraction of one core. */
  clientCpuUsPerRequest: number;
  clientCpuUtil: number;
  server: {
    cpuUtil: number;
    cpuMsPerRequest: number;
    /** Emulator only: store calls per decision by method, mean ms each. */
    store?: Record<string, { perDecision: number; meanMs: number }>;
    /** Emulator only: decisions per SQLite commit (group commit). */
    decisionsPerCommit?: number;
    conflicts?: number;
  };
}

interface Target {
  name: 'emulator' | 'floor';
  proc: ServerProcess;
  http: KeepAliveClient;
  request: (i: number) => Promise<void>;
}

function decisionBody(run: string, i: number): string {
  return JSON.stringify({
    actor: AGENT_ID,
    action: ACTION,
    resource: `arn:aws:ec2:us-east-1:123456789012:instance/i-${i.toString(16).padStart(17, '0')}`,
    context: { environment: 'dev', region: 'us-east-1' },
    // The SDK sends a request id with every decision (its idempotency key); so does the load client.
    request_id: `bench-${run}-${i}`,
  });
}

function makeTarget(
  name: 'emulator' | 'floor',
  proc: ServerProcess,
  url: string,
  region: string,
  credentials: AwsCredentials,
): Target {
  const http = new KeepAliveClient(url, CAPS.c32.concurrency);
  const run = randomUUID().slice(0, 8);
  let n = 0;
  const request = async (): Promise<void> => {
    // Signed fresh for every request, as a real agent does: the signing cost is the client's.
    const signed = await signRequest(
      {
        method: 'POST',
        url: `${url}/actions`,
        headers: { accept: 'application/json' },
        body: decisionBody(run, n++),
      },
      { credentials, region },
    );
    const res = await http.send(signed, REQUEST_TIMEOUT_MS);
    const decision = (JSON.parse(res.body) as { decision?: unknown }).decision;
    if (res.status !== 200 || decision !== 'allow') {
      throw new Error(`${name}: expected 200 allow, got ${res.status} ${res.body.slice(0, 200)}`);
    }
  };
  return { name, proc, http, request };
}

async function measurePhase(
  target: Target,
  label: string,
  bounds: { count: number; maxMs: number; concurrency: number },
): Promise<Phase> {
  target.proc.reset();
  const cpu0 = process.cpuUsage();
  const result = await runBounded(bounds, target.request);
  const clientCpu = process.cpuUsage(cpu0);
  const load = machineLoad();
  const s = await target.proc.stats();
  const summary = summarize(result);
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
  const requests = summary.ops + summary.failed;
  const phase: Phase = {
    ...summary,
    target: target.name,
    label,
    concurrency: bounds.concurrency,
    load,
    clientCpuUsPerRequest: requests > 0 ? (clientCpuMs * 1000) / requests : Number.NaN,
    clientCpuUtil: clientCpuMs / result.elapsedMs,
    ...(result.firstError !== undefined ? { firstError: String(result.firstError) } : {}),
    server: {
      cpuUtil: s.cpuMs / s.wallMs,
      cpuMsPerRequest: requests > 0 ? s.cpuMs / requests : Number.NaN,
    },
  };
  if (s.store) {
    const store: Record<string, { perDecision: number; meanMs: number }> = {};
    for (const [op, v] of Object.entries(s.store)) {
      store[op] = { perDecision: v.calls / Math.max(1, summary.ops), meanMs: v.totalMs / v.calls };
    }
    phase.server.store = store;
  }
  if (s.commits !== undefined) phase.server.decisionsPerCommit = summary.ops / Math.max(1, s.commits);
  if (s.conflicts !== undefined) phase.server.conflicts = s.conflicts;
  progress(
    `${label}: ${fmt(phase.opsPerSec, 0)}/s p50 ${fmt(phase.p50Ms, 2)} ms p99 ${fmt(phase.p99Ms, 2)} ms` +
      ` failed ${phase.failed} (${formatLoad(load)})`,
  );
  return phase;
}

/** CPU µs of one SDK signature of a decision request (user + system time, not wall time: the machine is shared). */
async function measureClientSigning(): Promise<{ cpuUsPerSignature: number; signatures: number }> {
  const credentials = { accessKeyId: 'AKIDBENCHBENCHBENCH0', secretAccessKey: 'x'.repeat(40) };
  const sign = (i: number) =>
    signRequest(
      {
        method: 'POST',
        url: 'http://127.0.0.1:8787/actions',
        headers: { accept: 'application/json' },
        body: decisionBody('sign', i),
      },
      { credentials, region: 'us-east-1' },
    );
  for (let i = 0; i < 500; i++) await sign(i);
  const cpu0 = process.cpuUsage();
  const deadline = performance.now() + 1_500;
  let n = 0;
  while (n < 20_000 && performance.now() < deadline) await sign(n++);
  const used = process.cpuUsage(cpu0);
  return { cpuUsPerSignature: (used.user + used.system) / n, signatures: n };
}

// ------------------------------------------------------------------ report

const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '-');

function pad(cells: Array<string | number | null>, widths: number[]): string {
  return cells
    .map((c, i) => {
      const text = c === null ? '-' : String(c);
      return i === 0 ? text.padEnd(widths[i] ?? 10) : text.padStart(widths[i] ?? 10);
    })
    .join('  ');
}

/** The round with the median throughput (the lower one of two middles). */
function medianRound(phases: Phase[]): Phase {
  const sorted = [...phases].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)] as Phase;
}

interface Summary {
  c1P50Ms: number;
  c32DecisionsPerSec: number;
  c32P50Ms: number;
  c32P99Ms: number;
  computeFloorPerSec: number;
}

function printReport(
  crypto: CryptoFloor,
  signing: { cpuUsPerSignature: number },
  store: StoreFloor,
  cedar: CedarFloor | null,
  phases: Phase[],
  summary: Summary,
  met: Record<string, boolean>,
): void {
  const out: string[] = [];
  out.push(
    `zt-infra bench (Node ${process.versions.node}, loopback only, ${formatLoad(machineLoad())} at the end)`,
  );
  out.push('', 'floors of the parts');
  out.push(
    `  record: canonicalize + SHA-256 + ECDSA P-256 sign (${crypto.storedBytes} B stored): ${fmt(crypto.record.perOpUs)} µs` +
      `  [ecdsa ${fmt(crypto.ecdsaSignUs)} µs, sha256 ${fmt(crypto.sha256Us, 2)} µs, canonicalize ${fmt(crypto.canonicalizeUs)} µs]`,
  );
  out.push(
    `  client: one SigV4 signature (SDK signer, node:crypto SHA-256): ${fmt(signing.cpuUsPerSignature)} µs CPU`,
  );
  out.push(
    `  SQLite conditional put (disk): sequential ${fmt(store.sequential.opsPerSec, 0)}/s p50 ${fmt(store.sequential.p50Ms, 2)} ms;` +
      ` c=32 ${fmt(store.c32.opsPerSec, 0)}/s p50 ${fmt(store.c32.p50Ms, 2)} ms`,
  );
  if (cedar) {
    for (const p of cedar.points) {
      out.push(
        `  cedar, ${p.policies} policies (${cedar.engine.split(',')[0]}): median ${fmt(p.medianUs)} µs`,
      );
    }
  }
  out.push(
    '',
    'signed decisions over HTTP (keep-alive node:http client in this process; servers in child processes)',
  );
  const w = [22, 3, 7, 7, 7, 7, 9, 9, 9, 6, 16];
  out.push(
    `  ${pad(['phase', 'c', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'cli µs/r', 'srv cpu', 'srv ms/r', 'fail', 'load 1/5/15'], w)}`,
  );
  for (const p of phases) {
    out.push(
      `  ${pad(
        [
          p.label,
          p.concurrency,
          fmt(p.opsPerSec, 0),
          fmt(p.p50Ms, 2),
          fmt(p.p99Ms, 2),
          fmt(p.maxMs, 1),
          fmt(p.clientCpuUsPerRequest, 0),
          `${fmt(p.server.cpuUtil * 100, 0)}%`,
          fmt(p.server.cpuMsPerRequest, 3),
          p.failed,
          p.load.loadAvg.map((l) => l.toFixed(1)).join('/'),
        ],
        w,
      )}`,
    );
  }
  const emu = phases.filter((p) => p.target === 'emulator' && p.concurrency === 32);
  const median = emu.length > 0 ? medianRound(emu) : null;
  if (median?.server.store) {
    const calls = Object.entries(median.server.store)
      .map(([op, v]) => `${op} ${fmt(v.perDecision, 2)} × ${fmt(v.meanMs, 2)} ms`)
      .join(', ');
    out.push(
      `  emulator c=32 (median round): store calls per decision: ${calls};` +
        ` ${fmt(median.server.decisionsPerCommit ?? Number.NaN, 1)} decisions per SQLite commit; lane conflicts ${median.server.conflicts ?? 0}`,
    );
  }
  out.push('', 'against the targets (issue 9)');
  const ok = (b: boolean | undefined) => (b ? 'ok' : 'MISSED');
  out.push(`  c=1 p50 ${fmt(summary.c1P50Ms, 2)} ms (<= ${TARGETS.c1P50Ms} ms) ${ok(met['c1P50'])}`);
  out.push(
    `  c=32 ${fmt(summary.c32DecisionsPerSec, 0)} decisions/s (>= ${TARGETS.c32DecisionsPerSec}) ${ok(met['c32Rate'])};` +
      ` p99 ${fmt(summary.c32P99Ms, 2)} ms <= ${TARGETS.c32P99OverP50} × p50 ${fmt(summary.c32P50Ms, 2)} ms ${ok(met['c32P99'])}`,
  );
  out.push(
    `  c=32 / compute floor ${fmt(summary.computeFloorPerSec, 0)}/s = ${fmt(summary.c32DecisionsPerSec / summary.computeFloorPerSec, 2)}` +
      ` (>= ${TARGETS.c32OverFloor}) ${ok(met['c32VsFloor'])}`,
  );
  process.stdout.write(`${out.join('\n')}\n\n`);
}

/** Rounds every number in a JSON-able value (3 decimals), NaN to null. */
function rounded(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? value : round(value, 3);
  if (Array.isArray(value)) return value.map(rounded);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)]));
  }
  return value;
}

/**
 * The Cedar floor runs in a child process of its own, so its figures are free of the garbage the other
 * phases left, and a crash there costs that floor, not the run.
 */
async function measureCedarInChild(): Promise<CedarFloor | null> {
  const child = fork(fileURLToPath(import.meta.url), ['--cedar-floor'], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill(), 60_000);
  const floor = await new Promise<CedarFloor | null>((ok) => {
    let result: CedarFloor | null = null;
    child.on('message', (m: { type: 'cedar'; floor: CedarFloor }) => {
      result = m.floor;
    });
    child.on('exit', () => ok(result));
  });
  clearTimeout(timer);
  if (!floor) progress(`cedar floor failed: ${stderr.split('\n').slice(0, 4).join(' | ')}`);
  return floor;
}

/** Progress goes to stderr: stdout carries only the table and the final JSON line. */
function progress(step: string): void {
  process.stderr.write(`bench: ${step}\n`);
}

function rounds(): number {
  const text = process.env['ZT_BENCH_ROUNDS'];
  const n = text === undefined || text === '' ? 3 : Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 9)
    throw new Error(`ZT_BENCH_ROUNDS must be 1 to 9, got \`${text}\``);
  return n;
}

async function main(): Promise<void> {
  const started = performance.now();
  const startLoad = machineLoad();
  const roundCount = rounds();
  const scratch = await mkdtemp(join(tmpdir(), 'zt-bench-'));
  const servers: ServerProcess[] = [];
  const targets: Target[] = [];
  try {
    progress(`floors of the parts (${formatLoad(startLoad)})`);
    const crypto = await measureCryptoFloor();
    const signing = await measureClientSigning();
    const store = await measureStoreFloor('disk', join(scratch, 'store-floor'));
    const cedar = await measureCedarInChild();

    progress('starting the emulator (SQLite in a temp data dir) and the compute floor');
    const emu = await ServerProcess.start(['--serve-emulator', join(scratch, 'emulator')]);
    servers.push(emu.proc);
    const floor = await ServerProcess.start(['--serve-floor']);
    servers.push(floor.proc);
    const admin = new GatewayClient({ endpoint: emu.url, region: emu.region, credentials: emu.credentials });
    const agent = await admin.registerAgent({ agentId: AGENT_ID });
    if (!agent.credentials) throw new Error('the emulator registered the agent without minting credentials');
    await admin.allowPolicy({ action: ACTION, agentId: AGENT_ID });
    const emulator = makeTarget('emulator', emu.proc, emu.url, emu.region, {
      accessKeyId: agent.credentials.accessKeyId,
      secretAccessKey: agent.credentials.secretAccessKey,
    });
    const computeFloor = makeTarget('floor', floor.proc, floor.url, floor.region, floor.credentials);
    targets.push(emulator, computeFloor);

    const phases: Phase[] = [];
    for (const t of targets) {
      const warm = await runBounded(CAPS.warmup, t.request);
      if (warm.completed === 0)
        throw new Error(`${t.name}: no request succeeded in warm-up: ${String(warm.firstError)}`);
    }
    phases.push(await measurePhase(emulator, 'emulator c=1', CAPS.c1));
    phases.push(await measurePhase(computeFloor, 'floor c=1', CAPS.c1));
    for (let r = 1; r <= roundCount; r++) {
      phases.push(await measurePhase(computeFloor, `floor c=32 #${r}`, CAPS.c32));
      phases.push(await measurePhase(emulator, `emulator c=32 #${r}`, CAPS.c32));
    }

    const c1 = phases.find((p) => p.target === 'emulator' && p.concurrency === 1) as Phase;
    const emu32 = medianRound(phases.filter((p) => p.target === 'emulator' && p.concurrency === 32));
    const floor32 = medianRound(phases.filter((p) => p.target === 'floor' && p.concurrency === 32));
    const summary: Summary = {
      c1P50Ms: c1.p50Ms,
      c32DecisionsPerSec: emu32.opsPerSec,
      c32P50Ms: emu32.p50Ms,
      c32P99Ms: emu32.p99Ms,
      computeFloorPerSec: floor32.opsPerSec,
    };
    const met = {
      c1P50: summary.c1P50Ms <= TARGETS.c1P50Ms,
      c32Rate: summary.c32DecisionsPerSec >= TARGETS.c32DecisionsPerSec,
      c32P99: summary.c32P99Ms <= TARGETS.c32P99OverP50 * summary.c32P50Ms,
      c32VsFloor: summary.c32DecisionsPerSec >= TARGETS.c32OverFloor * summary.computeFloorPerSec,
    };
    printReport(crypto, signing, store, cedar, phases, summary, met);
    const failed = phases.some((p) => p.failed > 0);
    const report = {
      bench: 'zt-infra/decisions',
      node: process.versions.node,
      totalSeconds: (performance.now() - started) / 1000,
      machine: { atStart: startLoad, atEnd: machineLoad() },
      targets: TARGETS,
      targetsMet: met,
      floors: { crypto, clientSigV4: signing, sqlitePut: store, cedar },
      phases,
      errors: failed,
      summary: { local: summary },
    };
    process.stdout.write(`${JSON.stringify(rounded(report))}\n`);
    if (failed) process.exitCode = 1;
  } finally {
    for (const t of targets) t.http.close();
    await Promise.all(servers.map((s) => s.close()));
    await rm(scratch, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === '--cedar-floor') {
  const floor = await measureCedarFloor([10, 1_000]);
  // NaN does not survive IPC's JSON: send it as null, as the report does anyway.
  process.send?.({ type: 'cedar', floor: JSON.parse(JSON.stringify(floor)) }, () => process.disconnect());
} else if (mode === '--serve-emulator' || mode === '--serve-floor') {
  try {
    if (mode === '--serve-emulator') await serveEmulator(process.argv[3] as string);
    else await serveFloor();
  } catch (error) {
    process.send?.({ type: 'error', error: String((error as Error)?.stack ?? error) } satisfies ChildMessage);
    process.exit(1);
  }
} else {
  await main();
}
