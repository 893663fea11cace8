import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDockerBroker,
  DOCKER_ACTION,
  dockerEnvFile,
  dockerRunArgs,
  validateDockerSpec,
} from '../../brokers/docker-local/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';
import { recordingClient } from './recordingClient.js';

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
    'prev=; for a in "$@"; do if [ "$prev" = --env-file ]; then cat "$a" > "$out.envfile"; fi; prev=$a; done',
    options.hangOnRun ? 'if [ "$1" = run ]; then sleep 30; fi' : '',
    'echo "fake docker $1"',
    `exit ${status}`,
  ].join('\n');
  await writeFile(path, `${script}\n`);
  await chmod(path, 0o755);
  return { path, dir };
}

async function calls(
  dir: string,
  kind: string,
): Promise<Array<{ argv: string[]; env: string; envFile: string | null }>> {
  const names = (await readdir(dir)).filter((f) => f.startsWith(`call-${kind}-`) && f.endsWith('.argv'));
  return Promise.all(
    names.map(async (f) => ({
      argv: (await readFile(join(dir, f), 'utf8')).split('\0').slice(0, -1),
      env: await readFile(join(dir, f.replace(/\.argv$/, '.env')), 'utf8'),
      envFile: await readFile(join(dir, f.replace(/\.argv$/, '.envfile')), 'utf8').catch(() => null),
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
    [{ image: '--privileged', digest: DIGEST }],
    [{ image: 'alpine@sha256:abc', digest: DIGEST }],
    [{ image: 'Alpine', digest: DIGEST }],
    [{ image: 'alpine' }],
    [{ image: 'alpine', digest: 'sha256:xyz' }],
    [{ image: 'alpine', digest: DIGEST, user: '0:0' }],
    [{ image: 'alpine', digest: DIGEST, user: 'root' }],
    [{ image: 'alpine', digest: DIGEST, command: ['echo', 'a\nb'] }],
    [{ image: 'alpine', digest: DIGEST, env: ['A=B'] }],
    [{ image: 'alpine', digest: DIGEST, env: ['ZT_TOKEN'] }],
    [{ image: 'alpine', digest: DIGEST, memoryMb: 1.5 }],
    [{ image: 'alpine', digest: DIGEST, privileged: true }],
  ])('refuses %j with INVALID_SPEC', (spec) => {
    expect(() => validateDockerSpec(spec)).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });
});

describe('when a spec names a variable outside the operator allowlist', () => {
  it('refuses with INVALID_SPEC and never asks the gateway', async () => {
    const client = recordingClient();
    const fake = await fakeDocker(0);
    const broker = createDockerBroker({
      client,
      actor: ACTOR,
      allowedEnv: ['ZT_TOKEN'],
      dockerPath: fake.path,
      envSource,
    });
    const err = await failure(broker.run({ image: 'alpine', digest: DIGEST, env: ['ZT_OTHER'] }));
    expect(err.code).toBe('INVALID_SPEC');
    expect(client.calls).toEqual([]);
    expect(await readdir(fake.dir)).toEqual(['docker']);
  });

  it.each(['LD_PRELOAD', 'PATH', 'NODE_OPTIONS', 'PYTHONPATH'])(
    'refuses an operator allowlist holding `%s` with INVALID_OPTIONS',
    (name) => {
      expect(() =>
        createDockerBroker({ client: recordingClient(), actor: ACTOR, allowedEnv: [name] }),
      ).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as unknown as Error);
    },
  );
});

describe('when values are written to the env file', () => {
  it('writes one NAME=value line each', () => {
    expect(dockerEnvFile({ A: 'x y', B: '=b' })).toBe('A=x y\nB==b\n');
  });

  it.each([
    ['a newline', 'a\nb'],
    ['a carriage return', 'a\r'],
    ['matching double quotes', '"quoted"'],
    ['matching single quotes', "'quoted'"],
  ])('refuses a value with %s (docker would not read it back exactly)', (_, value) => {
    expect(() => dockerEnvFile({ A: value })).toThrow();
  });
});

describe('when the argv is built', () => {
  it('carries every hardening flag and pins the digest', () => {
    const spec = validateDockerSpec(
      {
        image: 'alpine:3.20',
        digest: DIGEST,
        command: ['echo', 'hi'],
        env: ['ZT_TOKEN'],
      },
      { allowedEnv: ['ZT_TOKEN'] },
    );
    expect(spec.argv).toBe('["echo","hi"]');
    expect(dockerRunArgs(spec, 'zt-x', '/dev/fd/3')).toEqual([
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
      '--env-file',
      '/dev/fd/3',
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
    const err = await failure(broker.run({ image: 'alpine', digest: DIGEST }));
    expect(err.code).toBe('DENIED');
    expect(await readdir(fake.dir)).toEqual(['docker']);
  });
});

describe('when the action is allowed', () => {
  it('runs docker once with the hardened argv, passes approved values only through the env file, and reports the exit status', async () => {
    // Prepare
    const fake = await fakeDocker(7);
    const broker = createDockerBroker({
      client: gw.client,
      actor: ACTOR,
      allowedEnv: ['ZT_TOKEN', 'ZT_OTHER'],
      dockerPath: fake.path,
      envSource,
    });
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
    const { argv, env, envFile } = runs[0]!;
    expect(argv).toContain('--read-only');
    expect(argv.slice(-2)).toEqual([`alpine:3.20@${DIGEST}`, 'id']);
    expect(argv.join(' ')).not.toContain('s3cret');
    // INVARIANT: the host-side docker process never holds a spec-named variable.
    expect(env).not.toContain('ZT_TOKEN');
    expect(env).not.toContain('s3cret');
    expect(env).not.toContain('ZT_OTHER');
    expect(envFile).toBe('ZT_TOKEN=s3cret\n');
    expect(result.exitCode).toBe(7);
    expect(result.status).toBe('failed');
    expect(result.stdout.toString()).toBe('fake docker run\n');
    expect(result.outcomeRecorded).toBe(true);
  });

  it('kills docker and the container by name when the timeout passes', async () => {
    const fake = await fakeDocker(0, { hangOnRun: true });
    const broker = createDockerBroker({ client: gw.client, actor: ACTOR, dockerPath: fake.path, envSource });
    const result = await broker.run({ image: 'alpine', digest: DIGEST, timeoutMs: 300 });
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
    const err = await failure(
      broker.execute(approval, { image: 'alpine', digest: `sha256:${'b'.repeat(64)}` }),
    );
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(existsSync(join(fake.dir, 'docker'))).toBe(true);
    expect(await readdir(fake.dir)).toEqual(['docker']);
  });
});
