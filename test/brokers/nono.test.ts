import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNonoBroker, NONO_ACTION, nonoArgs, validateNonoSpec } from '../../brokers/nono-cli/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/** The nono broker against a fake `nono` that records its argv; the real emulator. */

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
    'echo sandboxed',
    `exit ${status}`,
  ].join('\n');
  await writeFile(path, `${script}\n`);
  await chmod(path, 0o755);
  return { path, dir };
}

const envSource = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };

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
  ])('refuses %s with INVALID_SPEC', (_, spec) => {
    expect(() => validateNonoSpec(spec)).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });
});

describe('when the flags are built', () => {
  it('blocks the network by default', () => {
    const spec = validateNonoSpec({ command: ['/usr/bin/make', 'test'], read: ['/src'], write: ['/out'] });
    expect(nonoArgs(spec)).toEqual([
      'run',
      '--read',
      '/src',
      '--write',
      '/out',
      '--block-net',
      '--',
      '/usr/bin/make',
      'test',
    ]);
  });

  it('lists allowed domains and ports in canonical form', () => {
    const spec = validateNonoSpec({
      command: ['/usr/bin/curl'],
      network: { mode: 'allowlist', domains: ['api.github.com'], ports: [443, '8000-8080', '22-22'] },
    });
    expect(nonoArgs(spec)).toEqual([
      'run',
      '--allow-domain',
      'api.github.com',
      '--allow-port',
      '443',
      '--allow-port',
      '8000-8080',
      '--allow-port',
      '22',
      '--',
      '/usr/bin/curl',
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
  it('invokes nono once with the generated flags and reports its exit status', async () => {
    const fake = await fakeNono(2);
    const broker = createNonoBroker({ client: gw.client, actor: ACTOR, nonoPath: fake.path, envSource });
    const result = await broker.run({ command: ['/usr/bin/ls', '/src'], read: ['/src'] });
    const argv = (await readFile(join(fake.dir, 'argv'), 'utf8')).split('\0').slice(0, -1);
    expect(argv).toEqual(['run', '--read', '/src', '--block-net', '--', '/usr/bin/ls', '/src']);
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
