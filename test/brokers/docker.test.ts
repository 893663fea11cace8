import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDockerBroker,
  DOCKER_ACTION,
  dockerRunArgs,
  validateDockerSpec,
} from '../../brokers/docker-local/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/** The docker broker against a fake `docker` that records its argv and environment; the real emulator. */

const ACTOR = 'broker-docker';
const DIGEST = `sha256:${'a'.repeat(64)}`;

let gw: BrokerGateway;
let work: string;
let n = 0;

/** Writes a fake docker into its own directory: records each call, prints a line, exits with `status`. */
async function fakeDocker(
  status: number,
  options: { hangOnRun?: boolean } = {},
): Promise<{ path: string; dir: string }> {
  n += 1;
  const dir = join(work, `fake-${n}`);
  await mkdir(dir);
  const path = join(dir, 'docker');
  const script = [
    '#!/bin/sh',
    `out='${dir}/call-'$1-$$`,
    'for a in "$@"; do printf \'%s\\0\' "$a"; done > "$out.argv"',
    'env > "$out.env"',
    options.hangOnRun ? 'if [ "$1" = run ]; then sleep 30; fi' : '',
    'echo "fake docker $1"',
    `exit ${status}`,
  ].join('\n');
  await writeFile(path, `${script}\n`);
  await chmod(path, 0o755);
  return { path, dir };
}

async function calls(dir: string, kind: string): Promise<Array<{ argv: string[]; env: string }>> {
  const names = (await readdir(dir)).filter((f) => f.startsWith(`call-${kind}-`) && f.endsWith('.argv'));
  return Promise.all(
    names.map(async (f) => ({
      argv: (await readFile(join(dir, f), 'utf8')).split('\0').slice(0, -1),
      env: await readFile(join(dir, f.replace(/\.argv$/, '.env')), 'utf8'),
    })),
  );
}

const envSource = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ZT_TOKEN: 's3cret', ZT_OTHER: 'leak' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'zt-docker-'));
  gw = await startBrokerGateway(ACTOR, [DOCKER_ACTION]);
});

afterAll(async () => {
  await gw?.close();
  await rm(work, { recursive: true, force: true });
});

describe('when the docker spec is invalid', () => {
  it.each([
    [{ image: '--privileged' }],
    [{ image: 'alpine@sha256:abc' }],
    [{ image: 'Alpine' }],
    [{ image: 'alpine', digest: 'sha256:xyz' }],
    [{ image: 'alpine', user: '0:0' }],
    [{ image: 'alpine', user: 'root' }],
    [{ image: 'alpine', command: ['echo', 'a\nb'] }],
    [{ image: 'alpine', env: ['A=B'] }],
    [{ image: 'alpine', memoryMb: 1.5 }],
    [{ image: 'alpine', privileged: true }],
  ])('refuses %j with INVALID_SPEC', (spec) => {
    expect(() => validateDockerSpec(spec)).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });

  it('refuses a spec without a digest when the broker requires one', () => {
    expect(() => validateDockerSpec({ image: 'alpine' }, { requireDigest: true })).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });
});

describe('when the argv is built', () => {
  it('carries every hardening flag and pins the digest', () => {
    const spec = validateDockerSpec({
      image: 'alpine:3.20',
      digest: DIGEST,
      command: ['echo', 'hi'],
      env: ['ZT_TOKEN'],
    });
    expect(dockerRunArgs(spec, 'zt-x')).toEqual([
      'run',
      '--rm',
      '--name',
      'zt-x',
      '--network',
      'none',
      '--read-only',
      '--tmpfs',
      '/tmp:rw,noexec,nosuid,nodev,size=64m',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--user',
      '65534:65534',
      '--pids-limit',
      '64',
      '--memory',
      '256m',
      '--memory-swap',
      '256m',
      '--cpus',
      '1.000',
      '-e',
      'ZT_TOKEN',
      `alpine:3.20@${DIGEST}`,
      'echo',
      'hi',
    ]);
  });
});

describe('when the action is denied', () => {
  it('never invokes docker', async () => {
    const fake = await fakeDocker(0);
    const broker = createDockerBroker({
      client: gw.client,
      actor: ACTOR,
      action: 'broker.docker.forbidden',
      dockerPath: fake.path,
      envSource,
    });
    const err = await failure(broker.run({ image: 'alpine' }));
    expect(err.code).toBe('DENIED');
    expect(await readdir(fake.dir)).toEqual(['docker']);
  });
});

describe('when the action is allowed', () => {
  it('runs docker once with the hardened argv, passes only approved env values, and reports the exit status', async () => {
    // Prepare
    const fake = await fakeDocker(7);
    const broker = createDockerBroker({ client: gw.client, actor: ACTOR, dockerPath: fake.path, envSource });
    // Act
    const result = await broker.run({
      image: 'alpine:3.20',
      digest: DIGEST,
      command: ['id'],
      env: ['ZT_TOKEN'],
    });
    // Assess
    const runs = await calls(fake.dir, 'run');
    expect(runs).toHaveLength(1);
    const { argv, env } = runs[0]!;
    expect(argv).toContain('--read-only');
    expect(argv.slice(-2)).toEqual([`alpine:3.20@${DIGEST}`, 'id']);
    expect(argv.join(' ')).not.toContain('s3cret');
    expect(env).toContain('ZT_TOKEN=s3cret');
    expect(env).not.toContain('ZT_OTHER');
    expect(result.exitCode).toBe(7);
    expect(result.status).toBe('failed');
    expect(result.stdout.toString()).toBe('fake docker run\n');
    expect(result.outcomeRecorded).toBe(true);
  });

  it('kills docker and the container by name when the timeout passes', async () => {
    const fake = await fakeDocker(0, { hangOnRun: true });
    const broker = createDockerBroker({ client: gw.client, actor: ACTOR, dockerPath: fake.path, envSource });
    const result = await broker.run({ image: 'alpine', timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(result.status).toBe('failed');
    const [run] = await calls(fake.dir, 'run');
    const name = run!.argv[run!.argv.indexOf('--name') + 1];
    // The kill is fire-and-forget; wait for its record to appear.
    for (let i = 0; i < 100 && (await calls(fake.dir, 'kill')).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const kills = await calls(fake.dir, 'kill');
    expect(kills.map((k) => k.argv)).toEqual([['kill', name]]);
  });
});

describe('when the spec changed after the decision', () => {
  it('refuses with PARAMS_MISMATCH and never invokes docker', async () => {
    const fake = await fakeDocker(0);
    const broker = createDockerBroker({ client: gw.client, actor: ACTOR, dockerPath: fake.path, envSource });
    const approval = await broker.authorize({ image: 'alpine', digest: DIGEST });
    const err = await failure(broker.execute(approval, { image: 'alpine' }));
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(existsSync(join(fake.dir, 'docker'))).toBe(true);
    expect(await readdir(fake.dir)).toEqual(['docker']);
  });
});
