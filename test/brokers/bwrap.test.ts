import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BWRAP_ACTION, createBwrapBroker, validateBwrapSpec } from '../../brokers/bwrap-local/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/** The bwrap broker for real: a real sandbox, a real emulator, a real signed chain. */

const ACTOR = 'broker-bwrap';
const probe = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', '--', '/usr/bin/true']);
const hasBwrap = probe.status === 0;
if (!hasBwrap) {
  console.warn(
    'bwrap broker tests skipped: bubblewrap is missing or cannot create namespaces here (apt-get install -y bubblewrap)',
  );
}

let gw: BrokerGateway;
let work: string;
/** A `bwrap` that leaves a marker on the host before handing over to the real one: proof of a launch. */
let wrapper: string;
let marker: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'zt-bwrap-'));
  marker = join(work, 'launched');
  wrapper = join(work, 'bwrap-wrapper.sh');
  await writeFile(wrapper, `#!/bin/sh\ntouch '${marker}'\nexec bwrap "$@"\n`);
  await chmod(wrapper, 0o755);
  if (hasBwrap) gw = await startBrokerGateway(ACTOR, [BWRAP_ACTION]);
});

afterAll(async () => {
  await gw?.close();
  await rm(work, { recursive: true, force: true });
});

describe('when the bwrap spec is invalid', () => {
  it.each([
    [{ command: ['echo', 'hi'] }],
    [{ command: ['/usr/bin/../bin/sh'] }],
    [{ command: ['/usr/bin/echo', 'a\0b'] }],
    [{ command: [] }],
    [{ command: ['/usr/bin/true'], env: ['LD_PRELOAD'] }],
    [{ command: ['/usr/bin/true'], env: ['A', 'A'] }],
    [{ command: ['/usr/bin/true'], timeoutMs: 0 }],
    [{ command: ['/usr/bin/true'], network: true }],
  ])('refuses %j with INVALID_SPEC', (spec) => {
    expect(() => validateBwrapSpec(spec)).toThrowError(
      expect.objectContaining({ code: 'INVALID_SPEC' }) as unknown as Error,
    );
  });
});

describe.runIf(hasBwrap)('when bwrap runs for real', () => {
  it('never launches the sandbox for a denied spec', async () => {
    // Prepare: the action asked is not allowed
    await rm(marker, { force: true });
    const broker = createBwrapBroker({
      client: gw.client,
      actor: ACTOR,
      action: 'broker.bwrap.forbidden',
      bwrapPath: wrapper,
    });
    // Act
    const err = await failure(broker.run({ command: ['/usr/bin/true'] }));
    // Assess
    expect(err.code).toBe('DENIED');
    expect(existsSync(marker)).toBe(false);
  });

  it('runs an allowed spec, captures its output and records the outcome', async () => {
    await rm(marker, { force: true });
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });
    const result = await broker.run({ command: ['/usr/bin/echo', 'hello from the sandbox'] });
    expect(existsSync(marker)).toBe(true);
    expect(result.stdout.toString()).toBe('hello from the sandbox\n');
    expect(result.exitCode).toBe(0);
    expect(result.status).toBe('succeeded');
    expect(result.outcomeRecorded).toBe(true);
  });

  it('cannot write outside its private /tmp', async () => {
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    const script = [
      'for p in /etc/zt-probe /usr/zt-probe /zt-probe; do',
      'if touch "$p" 2>/dev/null; then echo "WROTE $p"; else echo "DENIED $p"; fi;',
      'done;',
      'echo ok > /tmp/probe && cat /tmp/probe',
    ].join(' ');
    const result = await broker.run({ command: ['/usr/bin/sh', '-c', script] });
    expect(result.stdout.toString()).toBe(
      'DENIED /etc/zt-probe\nDENIED /usr/zt-probe\nDENIED /zt-probe\nok\n',
    );
  });

  it('cannot open a socket to the host loopback', async () => {
    // Prepare: a listener on the host's 127.0.0.1 that counts connections
    let connections = 0;
    const server: Server = createServer((s) => {
      connections += 1;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    try {
      // Act
      const result = await broker.run({
        command: [
          '/usr/bin/bash',
          '-c',
          `if exec 3<>/dev/tcp/127.0.0.1/${port}; then echo CONNECTED; else echo REFUSED; fi`,
        ],
      });
      // Assess
      expect(result.stdout.toString()).toBe('REFUSED\n');
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });

  it('passes only the approved environment names', async () => {
    const broker = createBwrapBroker({
      client: gw.client,
      actor: ACTOR,
      envSource: { ZT_APPROVED: 'yes', ZT_SECRET: 'no' },
    });
    const result = await broker.run({ command: ['/usr/bin/env'], env: ['ZT_APPROVED'] });
    const lines = result.stdout.toString().trim().split('\n').sort();
    expect(lines).toEqual(['HOME=/tmp', 'PATH=/usr/bin:/bin', 'PWD=/tmp', 'ZT_APPROVED=yes']);
  });

  it('refuses a spec changed after the decision before launching anything', async () => {
    // Prepare: an allow for one command
    await rm(marker, { force: true });
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });
    const approval = await broker.authorize({ command: ['/usr/bin/echo', 'approved'] });
    // Act: run another under it
    const err = await failure(broker.execute(approval, { command: ['/usr/bin/touch', '/tmp/other'] }));
    // Assess
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(existsSync(marker)).toBe(false);
  });

  it('kills a process that outlives its timeout and reports it failed', async () => {
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    const result = await broker.run({ command: ['/usr/bin/sleep', '30'], timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(result.status).toBe('failed');
    expect(result.outcomeRecorded).toBe(true);
  });
});
