/**
 * `npm run bench:soak`: a bounded soak of the emulator. Starts it in a child process as users do
 * (`dist/bin/zt-local.js` on a free port, a fresh data dir, its on-disk store), then drives it with
 * SigV4-signed decisions (allows, no-policy denies and forbid denies) at a fixed concurrency for a
 * bounded time, printing decisions/s as it goes.
 *
 * It exists because Node 20's V8 aborted the emulator under sustained load (issue 9: "unreachable code"
 * in the deoptimizer; see bench/v8-repro/README.md), and nothing shorter catches a crash that comes once
 * in minutes. It exits non-zero, loudly, when the emulator dies (signal or exit code, with the tail of
 * its output), when it does not stop cleanly at the end, or when any decision fails or comes back wrong.
 *
 * Environment: `ZT_SOAK_SECONDS` (default 180, at most 3600), `ZT_SOAK_CONCURRENCY` (default 32),
 * `ZT_SOAK_NODE_ARGS` (extra Node flags for the emulator process, e.g. `--trace-deopt`, space-separated).
 * Not part of `npm test`: it runs for minutes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GatewayClient } from '../sdk/GatewayClient.js';
import { type AwsCredentials, signRequest } from '../sdk/signer.js';
import { sendRequest } from '../sdk/transport.js';
import { quantile, round } from './stats.js';

const AGENT_ID = 'soak-agent';
const ALLOWED = 'hello-world.say_hello';
const UNPERMITTED = 'aws.ec2.terminate_instances';
const REPORT_EVERY_MS = 10_000;
const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Output of the emulator kept for the failure report. */
const TAIL_BYTES = 16 * 1024;

function positiveInt(name: string, fallback: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new Error(`${name} must be an integer from 1 to ${max}, got \`${text}\``);
  }
  return value;
}

/** The last `TAIL_BYTES` of a stream, for the report. */
class Tail {
  #text = '';
  push(chunk: Buffer): void {
    this.#text = (this.#text + chunk.toString('utf8')).slice(-TAIL_BYTES);
  }
  get text(): string {
    return this.#text;
  }
}

interface Death {
  code: number | null;
  signal: NodeJS.Signals | null;
  afterMs: number;
}

/** The emulator as a child process, watched: `died` settles the moment it exits, for whatever reason. */
class WatchedEmulator {
  readonly stdout = new Tail();
  readonly stderr = new Tail();
  death: Death | null = null;
  readonly died: Promise<Death>;
  readonly #child: ChildProcess;

  constructor(dataDir: string, nodeArgs: string[]) {
    const entry = fileURLToPath(new URL('../bin/zt-local.js', import.meta.url));
    this.#child = spawn(
      process.execPath,
      // No console: the soak measures the gateway alone.
      [...nodeArgs, entry, '--port', '0', '--data-dir', dataDir, '--quiet', '--no-console'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      },
    );
    const started = performance.now();
    this.#child.stdout?.on('data', (c: Buffer) => this.stdout.push(c));
    this.#child.stderr?.on('data', (c: Buffer) => this.stderr.push(c));
    this.died = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.death = { code, signal, afterMs: performance.now() - started };
        resolve(this.death);
      });
    });
    // Never leave it behind, whatever happens to this process.
    process.once('exit', () => this.#child.kill('SIGKILL'));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Endpoint and admin profile, read from the banner zt-local prints on stderr when ready. */
  async ready(): Promise<{ endpoint: string; credentialsFile: string; profile: string }> {
    const deadline = performance.now() + STARTUP_TIMEOUT_MS;
    while (performance.now() < deadline) {
      if (this.death)
        throw new Error(`the emulator exited before it was ready (${describeDeath(this.death)})`);
      const endpoint = /^\s*endpoint\s+(\S+)/m.exec(this.stderr.text)?.[1];
      const creds = /^\s*credentials\s+(\S+) \(profile (\S+)\)/m.exec(this.stderr.text);
      if (endpoint && creds)
        return { endpoint, credentialsFile: creds[1] as string, profile: creds[2] as string };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the emulator was not ready within ${STARTUP_TIMEOUT_MS / 1000} s`);
  }

  /** SIGTERM, as Ctrl-C or a service manager would; resolves with how it ended. */
  async stop(): Promise<Death> {
    if (this.death) return this.death;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const death = await this.died;
    clearTimeout(timer);
    return death;
  }
}

function describeDeath(d: Death): string {
  return d.signal ? `killed by ${d.signal}` : `exit code ${d.code}`;
}

/** Resident memory of a process in MB (Linux `/proc`), or null where that is not available. */
async function rssMb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Math.round(Number(kb) / 1024) : null;
  } catch {
    return null;
  }
}

type Kind = 'allow' | 'deny-no-policy' | 'deny-forbid';

/** The mix a real agent sends: mostly allowed work, some refused, some refused by an explicit forbid. */
function requestFor(i: number): { kind: Kind; body: string } {
  const kind: Kind = i % 4 === 2 ? 'deny-no-policy' : i % 4 === 3 ? 'deny-forbid' : 'allow';
  const body = {
    actor: AGENT_ID,
    action: kind === 'deny-no-policy' ? UNPERMITTED : ALLOWED,
    resource: `arn:aws:ec2:us-east-1:123456789012:instance/i-${i.toString(16).padStart(17, '0')}`,
    context: { environment: kind === 'deny-forbid' ? 'prod' : 'dev', region: 'us-east-1', count: i % 10 },
  };
  return { kind, body: JSON.stringify(body) };
}

async function main(): Promise<number> {
  const seconds = positiveInt('ZT_SOAK_SECONDS', 180, 3600);
  const concurrency = positiveInt('ZT_SOAK_CONCURRENCY', 32, 256);
  const nodeArgs = (process.env['ZT_SOAK_NODE_ARGS'] ?? '').split(/\s+/).filter((a) => a !== '');
  const scratch = await mkdtemp(join(tmpdir(), 'zt-soak-'));
  const emulator = new WatchedEmulator(join(scratch, 'data'), nodeArgs);
  const say = (line: string) => process.stderr.write(`soak: ${line}\n`);
  const fail = (why: string): number => {
    process.stderr.write(
      [
        '',
        '=================================================================',
        `SOAK FAILED: ${why}`,
        '=================================================================',
        emulator.death
          ? `emulator: ${describeDeath(emulator.death)} after ${round(emulator.death.afterMs / 1000, 1)} s`
          : '',
        '--- emulator stderr (tail) ---',
        emulator.stderr.text.trimEnd() || '(empty)',
        '--- emulator stdout (tail) ---',
        emulator.stdout.text.trimEnd() || '(empty)',
        '',
      ].join('\n'),
    );
    return 1;
  };
  try {
    say(
      `node ${process.versions.node}, ${seconds} s at concurrency ${concurrency}, emulator pid ${emulator.pid}`,
    );
    const { endpoint, credentialsFile, profile } = await emulator.ready();
    const admin = new GatewayClient({ endpoint, credentialsFile, profile });
    const agent = await admin.registerAgent({ agentId: AGENT_ID });
    if (!agent.credentials) throw new Error('the emulator registered the agent without minting credentials');
    await admin.allowPolicy({ action: ALLOWED, agentId: AGENT_ID });
    await admin.putPolicy('soak-no-prod', {
      cedar: `forbid(principal, action == Action::"${ALLOWED}", resource) when { context has environment && context.environment == "prod" };`,
    });
    const credentials: AwsCredentials = {
      accessKeyId: agent.credentials.accessKeyId,
      secretAccessKey: agent.credentials.secretAccessKey,
    };

    const counts = { allow: 0, 'deny-no-policy': 0, 'deny-forbid': 0 } satisfies Record<Kind, number>;
    const errors: string[] = [];
    let failed = 0;
    let next = 0;
    let done = 0;
    const latencies: number[] = [];
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const decide = async (i: number): Promise<void> => {
      const { kind, body } = requestFor(i);
      const signed = await signRequest(
        { method: 'POST', url: `${endpoint}/actions`, headers: { accept: 'application/json' }, body },
        { credentials, region: admin.region },
      );
      // Generous: on a shared 2-core machine a live emulator can take seconds; one that takes 30 s is hung.
      const res = await sendRequest(signed, { acceptAnyStatus: true, timeoutMs: 30_000 });
      const decision = (res.json as { decision?: unknown } | undefined)?.decision;
      const expected =
        kind === 'allow' ? { status: 200, decision: 'allow' } : { status: 403, decision: 'deny' };
      if (res.status !== expected.status || decision !== expected.decision) {
        throw new Error(
          `expected ${expected.status} ${expected.decision} for a ${kind} request, got ${res.status} ${res.bodyText.slice(0, 200)}`,
        );
      }
      counts[kind]++;
    };
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline && !emulator.death) {
        const i = next++;
        const t0 = performance.now();
        try {
          await decide(i);
          latencies.push(performance.now() - t0);
          done++;
        } catch (error) {
          // A request the dying emulator could not answer is not a separate finding.
          if (emulator.death) return;
          failed++;
          if (errors.length < 5) errors.push(String((error as Error)?.message ?? error));
        }
      }
    };

    let lastDone = 0;
    let lastAt = started;
    const reporter = setInterval(() => {
      const now = performance.now();
      void rssMb(emulator.pid).then((rss) => {
        say(
          `${Math.round((now - started) / 1000)} s: ${round(((done - lastDone) * 1000) / (now - lastAt), 0)} decisions/s` +
            ` (total ${done}, failed ${failed}${rss === null ? '' : `, emulator rss ${rss} MB`})`,
        );
        lastDone = done;
        lastAt = now;
      });
    }, REPORT_EVERY_MS);
    await Promise.race([Promise.all(Array.from({ length: concurrency }, worker)), emulator.died]);
    clearInterval(reporter);
    const elapsedMs = performance.now() - started;

    if (emulator.death) {
      return fail(
        `the emulator process died during the soak (${describeDeath(emulator.death)}) after ${done} decisions`,
      );
    }
    const rss = await rssMb(emulator.pid);
    const stopped = await emulator.stop();
    const report = {
      bench: 'zt-infra/soak',
      node: process.versions.node,
      seconds: round(elapsedMs / 1000, 1),
      concurrency,
      decisions: done,
      decisionsPerSec: round((done * 1000) / elapsedMs, 1),
      p50Ms: round(quantile(latencies, 0.5)),
      p99Ms: round(quantile(latencies, 0.99)),
      byKind: counts,
      failed,
      emulatorRssMb: rss,
      emulatorExit: stopped.signal ?? stopped.code,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    if (stopped.signal !== null || stopped.code !== 0) {
      return fail(`the emulator did not stop cleanly on SIGTERM (${describeDeath(stopped)})`);
    }
    if (done === 0) return fail('no decision succeeded');
    if (failed > 0) return fail(`${failed} decisions failed; first: ${errors.join(' | ')}`);
    say(`ok: ${done} decisions in ${report.seconds} s, the emulator stayed up and stopped cleanly`);
    return 0;
  } catch (error) {
    return fail(String((error as Error)?.stack ?? error));
  } finally {
    await emulator.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

process.exitCode = await main();
