import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createNonoBroker,
  NONO_ACTION,
  nonoArgs,
  nonoBackend,
  validateNonoSpec,
} from '../../brokers/nono-cli/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';
import { recordingClient } from './recordingClient.js';

/** The nono broker against a fake `nono` that records its argv and environment; the real emulator. */

const ACTOR = 'broker-nono';

let gw: BrokerGateway;
let work: string;
let n = 0;

async function fakeNono(status: number): Promise<{ path: string; dir: string }> {
  n += 1;
  const dir = join(work, `fake-${n}`);
  await mkdir(dir);
  const path = join(dir, 'nono');
  const script = [
    '#!/bin/sh',
    `for a in "$@"; do printf '%s\\0' "$a"; done > '${dir}/argv'`,
    `env > '${dir}/env'`,
    'echo sandboxed',
    `exit ${status}`,
  ].join('\n');
  await writeFile(path, `${script}\n`);
  await chmod(path, 0o755);
  return { path, dir };
}

const envSource = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ZT_TOKEN: 's3cret', ZT_OTHER: 'leak' };
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** An executable script in its own fresh directory. */
async function program(body: string): Promise<string> {
  n += 1;
  const dir = join(work, `prog-${n}`);
  await mkdir(dir);
  const path = join(dir, 'prog');
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'zt-nono-'));
  gw = await startBrokerGateway(ACTOR, [NONO_ACTION]);
});

afterAll(async () => {
  await gw?.close();
  await rm(work, { recursive: true, force: true });
});

describe('when the permissions manifest is invalid', () => {
  it.each([
    ['a relative program', { command: ['ls'] }],
    ['a relative path', { command: ['/bin/ls'], read: ['src'] }],
    ['a `..` escape', { command: ['/bin/ls'], read: ['/work/../etc'] }],
    ['a NUL', { command: ['/bin/ls'], read: ['/work\0'] }],
    ['a CR', { command: ['/bin/ls', 'a\rb'] }],
    ['a LF in a domain', { command: ['/bin/ls'], network: { mode: 'allowlist', domains: ['a.com\nb.com'] } }],
    ['a path both read and write', { command: ['/bin/ls'], read: ['/work'], write: ['/work'] }],
    ['write access to /', { command: ['/bin/ls'], write: ['/'] }],
    ['port 0', { command: ['/bin/ls'], network: { mode: 'allowlist', domains: ['a.com'], ports: [0] } }],
    [
      'port 65536',
      { command: ['/bin/ls'], network: { mode: 'allowlist', domains: ['a.com'], ports: ['65536'] } },
    ],
    [
      'a reversed range',
      { command: ['/bin/ls'], network: { mode: 'allowlist', domains: ['a.com'], ports: ['90-80'] } },
    ],
    ['blocked with domains', { command: ['/bin/ls'], network: { mode: 'blocked', domains: ['a.com'] } }],
    ['an allowlist without domains', { command: ['/bin/ls'], network: { mode: 'allowlist', domains: [] } }],
    [
      'an option as a domain',
      { command: ['/bin/ls'], network: { mode: 'allowlist', domains: ['--allow-all'] } },
    ],
    ['an unknown field', { command: ['/bin/ls'], profile: 'claude-code' }],
    ['a name outside the allowlist', { command: ['/bin/ls'], env: ['ZT_TOKEN'] }],
    ['a missing program', { command: ['/usr/bin/zt-no-such-program'] }],
    ['a program that is not executable', { command: ['/etc/passwd'] }],
  ])('refuses %s with INVALID_SPEC', async (_, spec) => {
    await expect(validateNonoSpec(spec)).rejects.toMatchObject({ code: 'INVALID_SPEC' });
  });

  it('refuses a name outside the operator allowlist without asking the gateway', async () => {
    const client = recordingClient();
    const fake = await fakeNono(0);
    const broker = createNonoBroker({
      client,
      actor: ACTOR,
      allowedEnv: ['ZT_TOKEN'],
      nonoPath: fake.path,
      envSource,
    });
    const err = await failure(broker.run({ command: ['/usr/bin/true'], env: ['ZT_OTHER'] }));
    expect(err.code).toBe('INVALID_SPEC');
    expect(client.calls).toEqual([]);
    expect(await readdir(fake.dir)).toEqual(['nono']);
  });

  it.each([
    'LD_PRELOAD',
    'DYLD_INSERT_LIBRARIES',
    'BASH_ENV',
    'PYTHONPATH',
    'NODE_OPTIONS',
    'PATH',
    'NONO_PROFILE',
  ])('refuses an operator allowlist holding `%s` with INVALID_OPTIONS', (name) => {
    expect(() =>
      createNonoBroker({ client: recordingClient(), actor: ACTOR, allowedEnv: [name] }),
    ).toThrowError(expect.objectContaining({ code: 'INVALID_OPTIONS' }) as unknown as Error);
  });
});

describe('when the manifest is valid', () => {
  it('makes the canonical spec a policy can read: program and its sha256, argv as one string, sorted sets', async () => {
    const spec = await validateNonoSpec({
      command: ['/usr/bin/env', 'b', 'a'],
      read: ['/src', '/etc'],
      network: { mode: 'allowlist', domains: ['b.example.com', 'a.example.com'], ports: [8443, '443'] },
    });
    expect(spec).toEqual({
      program: '/usr/bin/env',
      programSha256: sha256(await readFile('/usr/bin/env')),
      argv: '["/usr/bin/env","b","a"]',
      read: ['/etc', '/src'],
      write: [],
      network: { mode: 'allowlist', domains: ['a.example.com', 'b.example.com'], ports: ['443', '8443'] },
      env: [],
      timeoutMs: 60_000,
    });
  });

  it('writes a blocked network with empty sets, so a policy needs no `has` test', async () => {
    const spec = await validateNonoSpec({ command: ['/usr/bin/true'] });
    expect(spec.network).toEqual({ mode: 'blocked', domains: [], ports: [] });
  });
});

describe('when the flags are built', () => {
  it('blocks the network by default', async () => {
    const spec = await validateNonoSpec({
      command: ['/usr/bin/env', 'test'],
      read: ['/src'],
      write: ['/out'],
    });
    expect(nonoArgs(spec)).toEqual([
      'run',
      '--read',
      '/src',
      '--write',
      '/out',
      '--block-net',
      '--',
      '/usr/bin/env',
      'test',
    ]);
  });

  it('lists allowed domains and ports in canonical form', async () => {
    const spec = await validateNonoSpec({
      command: ['/usr/bin/env'],
      network: { mode: 'allowlist', domains: ['api.github.com'], ports: [443, '8000-8080', '22-22'] },
    });
    expect(nonoArgs(spec)).toEqual([
      'run',
      '--allow-domain',
      'api.github.com',
      '--allow-port',
      '22',
      '--allow-port',
      '443',
      '--allow-port',
      '8000-8080',
      '--',
      '/usr/bin/env',
    ]);
  });
});

describe('when the action is denied', () => {
  it('never invokes nono', async () => {
    const fake = await fakeNono(0);
    const broker = createNonoBroker({
      client: gw.client,
      actor: ACTOR,
      action: 'broker.nono.forbidden',
      nonoPath: fake.path,
      envSource,
    });
    const err = await failure(broker.run({ command: ['/usr/bin/true'] }));
    expect(err.code).toBe('DENIED');
    expect(await readdir(fake.dir)).toEqual(['nono']);
  });
});

describe('when the action is allowed', () => {
  it('invokes nono once with the generated flags and only the approved variables, and reports its exit status', async () => {
    const fake = await fakeNono(2);
    const broker = createNonoBroker({
      client: gw.client,
      actor: ACTOR,
      allowedEnv: ['ZT_TOKEN', 'ZT_OTHER'],
      nonoPath: fake.path,
      envSource,
    });
    const result = await broker.run({ command: ['/usr/bin/ls', '/src'], read: ['/src'], env: ['ZT_TOKEN'] });
    const argv = (await readFile(join(fake.dir, 'argv'), 'utf8')).split('\0').slice(0, -1);
    expect(argv).toEqual(['run', '--read', '/src', '--block-net', '--', '/usr/bin/ls', '/src']);
    const env = await readFile(join(fake.dir, 'env'), 'utf8');
    expect(env).toContain('ZT_TOKEN=s3cret');
    expect(env).not.toContain('ZT_OTHER');
    expect(result.exitCode).toBe(2);
    expect(result.status).toBe('failed');
    expect(result.stdout.toString()).toBe('sandboxed\n');
    expect(result.outcomeRecorded).toBe(true);
  });
});

describe('when the manifest changed after the decision', () => {
  it('refuses with PARAMS_MISMATCH and never invokes nono', async () => {
    const fake = await fakeNono(0);
    const broker = createNonoBroker({ client: gw.client, actor: ACTOR, nonoPath: fake.path, envSource });
    const approval = await broker.authorize({ command: ['/usr/bin/ls'], read: ['/src'] });
    const err = await failure(broker.execute(approval, { command: ['/usr/bin/ls'], write: ['/src'] }));
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(await readdir(fake.dir)).toEqual(['nono']);
  });
});

describe('when the program changed after the decision', () => {
  it('refuses a program swapped between the approval and the run with PARAMS_MISMATCH, never invoking nono', async () => {
    const fake = await fakeNono(0);
    const prog = await program('echo approved');
    const broker = createNonoBroker({ client: gw.client, actor: ACTOR, nonoPath: fake.path, envSource });
    const approval = await broker.authorize({ command: [prog] });
    await writeFile(prog, '#!/bin/sh\necho swapped\n');
    const err = await failure(broker.execute(approval, { command: [prog] }));
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(await readdir(fake.dir)).toEqual(['nono']);
  });

  it('refuses with PROGRAM_MISMATCH a program that changed after the last check, never invoking nono', async () => {
    const fake = await fakeNono(0);
    const prog = await program('echo approved');
    const backend = nonoBackend({ nonoPath: fake.path, envSource });
    const spec = await backend.validate({ command: [prog] });
    await writeFile(prog, '#!/bin/sh\necho swapped\n');
    await expect(backend.execute(spec)).rejects.toMatchObject({ code: 'PROGRAM_MISMATCH' });
    expect(await readdir(fake.dir)).toEqual(['nono']);
  });
});
