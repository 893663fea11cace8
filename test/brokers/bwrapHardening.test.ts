import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BWRAP_ACTION, createBwrapBroker, sandboxStatusProblems } from '../../brokers/bwrap-local/index.js';
import { bwrapWorkDir, hasBwrap, isRoot, warnIfNoBwrap } from './bwrapSandbox.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/**
 * The sandbox from the attacker's side, run for real and, in CI and here, as root: the command must not get
 * back the privileges bwrap's caller has.
 */

const ACTOR = 'broker-bwrap-hardening';
warnIfNoBwrap('bwrapHardening.test.ts');

let gw: BrokerGateway;
let work: string;
let marks: string;

beforeAll(async () => {
  ({ work, marks } = await bwrapWorkDir('zt-bwrap-hard-'));
  if (hasBwrap) gw = await startBrokerGateway(ACTOR, [BWRAP_ACTION]);
});

afterAll(async () => {
  await gw?.close();
  await rm(work, { recursive: true, force: true });
});

/** Runs `script` with `/usr/bin/sh -c` in the sandbox and returns its stdout. */
async function inSandbox(script: string): Promise<string> {
  const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
  const result = await broker.run({ command: ['/usr/bin/sh', '-c', script] });
  return result.stdout.toString();
}

describe.runIf(hasBwrap)('when the sandboxed command tries to take back privileges', () => {
  it('cannot remount the read-only /usr bind read-write and write to the host through it', async () => {
    // Prepare: a file name that must never appear in the host's /usr
    const probe = `/usr/zt-probe-${randomUUID()}`;
    try {
      // Act
      const out = await inSandbox(
        [
          `mount -o remount,rw /usr 2>/dev/null && echo REMOUNTED;`,
          `mount -o remount,bind,rw /usr 2>/dev/null && echo REMOUNTED-BIND;`,
          `touch ${probe} 2>/dev/null && echo WROTE;`,
          'echo done',
        ].join(' '),
      );
      // Assess
      expect(out).toBe('done\n');
      expect(existsSync(probe)).toBe(false);
    } finally {
      await rm(probe, { force: true });
    }
  });

  it('cannot open a bound /etc file for writing, nor write a new file in /etc, even after trying to remount', async () => {
    // `: >>` opens for appending and writes nothing, so even a broken sandbox leaves the host's file as is;
    // the subshell keeps a failed redirection of a special builtin from ending the script.
    const out = await inSandbox(
      [
        'mount -o remount,bind,rw /etc/passwd 2>/dev/null && echo REMOUNTED-PASSWD;',
        'if ( : >> /etc/passwd ) 2>/dev/null; then echo PASSWD-WRITABLE; fi;',
        'mount -o remount,rw / 2>/dev/null && echo REMOUNTED-ROOT;',
        'if touch /etc/zt-probe 2>/dev/null; then echo WROTE-ETC; fi;',
        'echo done',
      ].join(' '),
    );
    expect(out).toBe('done\n');
  });

  it('cannot read /proc/1/environ', async () => {
    const out = await inSandbox(
      'if cat /proc/1/environ >/dev/null 2>&1; then echo READ; else echo REFUSED; fi',
    );
    expect(out).toBe('REFUSED\n');
  });

  it('runs with no capability, a non-zero uid and gid, and no new privileges', async () => {
    const out = await inSandbox('cat /proc/self/status');
    const field = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(out)?.[1];
    expect(field('CapEff')).toBe('0000000000000000');
    expect(field('CapPrm')).toBe('0000000000000000');
    expect(field('CapBnd')).toBe('0000000000000000');
    expect(field('Uid')?.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(field('Gid')?.split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(field('NoNewPrivs')).toBe('1');
    expect(sandboxStatusProblems(out)).toEqual([]);
  });

  it('cannot create a user namespace of its own (where it would hold every capability)', async () => {
    const out = await inSandbox('if unshare -U true 2>/dev/null; then echo CREATED; else echo REFUSED; fi');
    expect(out).toBe('REFUSED\n');
  });

  it.runIf(isRoot)(
    'has bwrap itself started as an unprivileged host user when the broker is root',
    async () => {
      // Prepare: a bwrap that records who it runs as, then hands over to the real one
      const ids = join(marks, 'ids');
      const wrapper = join(work, 'bwrap-id.sh');
      await writeFile(wrapper, `#!/bin/sh\necho "$(id -u) $(id -g) $(id -G)" > '${ids}'\nexec bwrap "$@"\n`);
      await chmod(wrapper, 0o755);
      const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });
      // Act
      const result = await broker.run({ command: ['/usr/bin/true'] });
      // Assess
      expect(result.status).toBe('succeeded');
      expect((await readFile(ids, 'utf8')).trim()).toBe('65534 65534 65534');
    },
  );
});

describe.runIf(hasBwrap)('when one broker runs several commands', () => {
  it('probes the sandbox once, before the first, and keeps the passing verdict', async () => {
    // Prepare: a bwrap that logs each launch's command, then hands over to the real one
    const log = join(marks, 'launches.log');
    const wrapper = join(work, 'bwrap-log.sh');
    await writeFile(
      wrapper,
      `#!/bin/sh\nfor a in "$@"; do [ "$a" = -- ] && seen=1 && continue; [ -n "$seen" ] && printf '%s ' "$a"; done >> '${log}'\necho >> '${log}'\nexec bwrap "$@"\n`,
    );
    await chmod(wrapper, 0o755);
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });
    // Act
    await broker.run({ command: ['/usr/bin/echo', 'one'] });
    await broker.run({ command: ['/usr/bin/echo', 'two'] });
    // Assess
    const launches = (await readFile(log, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => l.trim());
    expect(launches).toEqual(['/usr/bin/cat /proc/self/status', '/usr/bin/echo one', '/usr/bin/echo two']);
  });
});

describe.runIf(hasBwrap)('when the sandbox would leave the command privileges', () => {
  it('refuses with SANDBOX_UNSAFE after the probe, reports failed, and never starts the command', async () => {
    // Prepare: a "bwrap" that runs the command on the host with no sandbox at all, as the broker's user
    const log = join(marks, 'fake-bwrap.log');
    const fake = join(work, 'no-sandbox.sh');
    await writeFile(
      fake,
      [
        '#!/bin/sh',
        `echo "$*" >> '${log}'`,
        'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do shift; done',
        'shift',
        'exec "$@"',
      ].join('\n'),
    );
    await chmod(fake, 0o755);
    const marker = join(marks, 'ran');
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: fake, hostUser: null });
    // Act: twice, so a failed verdict is seen not to be cached
    const first = await failure(broker.run({ command: ['/usr/bin/touch', marker] }));
    const second = await failure(broker.run({ command: ['/usr/bin/touch', marker] }));
    // Assess
    expect(first.code).toBe('SANDBOX_UNSAFE');
    expect(second.code).toBe('SANDBOX_UNSAFE');
    expect(existsSync(marker)).toBe(false);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    expect(calls).toEqual([
      '--args 4 -- /usr/bin/cat /proc/self/status',
      '--args 4 -- /usr/bin/cat /proc/self/status',
    ]);
    const statuses = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === first.recordId) statuses.push(r.status);
    }
    expect(statuses).toEqual(['started', 'failed']);
  });
});

describe('when a sandboxed status is checked', () => {
  const safe = [
    'Name:\tcat',
    'Uid:\t65534\t65534\t65534\t65534',
    'Gid:\t65534\t65534\t65534\t65534',
    'CapInh:\t0000000000000000',
    'CapPrm:\t0000000000000000',
    'CapEff:\t0000000000000000',
    'CapBnd:\t0000000000000000',
    'CapAmb:\t0000000000000000',
    'NoNewPrivs:\t1',
  ].join('\n');

  it('accepts no capability, non-zero ids and no new privileges', () => {
    expect(sandboxStatusProblems(safe)).toEqual([]);
  });

  it.each([
    ['an effective capability', 'CapEff:\t0000000000000000', 'CapEff:\t0000000000200000'],
    ['a permitted capability', 'CapPrm:\t0000000000000000', 'CapPrm:\t0000000000000001'],
    ['a bounding capability', 'CapBnd:\t0000000000000000', 'CapBnd:\t000001ffffffffff'],
    ['an ambient capability', 'CapAmb:\t0000000000000000', 'CapAmb:\t0000000000000400'],
    ['uid 0', 'Uid:\t65534\t65534\t65534\t65534', 'Uid:\t0\t0\t0\t0'],
    ['a saved uid 0', 'Uid:\t65534\t65534\t65534\t65534', 'Uid:\t65534\t65534\t0\t65534'],
    ['gid 0', 'Gid:\t65534\t65534\t65534\t65534', 'Gid:\t0\t0\t0\t0'],
    ['new privileges allowed', 'NoNewPrivs:\t1', 'NoNewPrivs:\t0'],
    ['a missing capability set', 'CapAmb:\t0000000000000000\n', ''],
    ['a malformed uid line', 'Uid:\t65534\t65534\t65534\t65534', 'Uid:\t65534'],
  ])('refuses %s', (_, from, to) => {
    expect(sandboxStatusProblems(safe.replace(from, to))).not.toEqual([]);
  });
});
