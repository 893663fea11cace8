import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BWRAP_ACTION,
  bwrapBackend,
  createBwrapBroker,
  validateBwrapSpec,
} from '../../brokers/bwrap-local/index.js';
import { bwrapWorkDir, hasBwrap, isRoot, warnIfNoBwrap } from './bwrapSandbox.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';
import { recordingClient } from './recordingClient.js';

/** The bwrap broker for real: a real sandbox, a real emulator, a real signed chain. */

const ACTOR = 'broker-bwrap';
warnIfNoBwrap('bwrap.test.ts');

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

let gw: BrokerGateway;
let work: string;
let marks: string;
/** A `bwrap` that records its argv on the host before handing over to the real one: proof of a launch. */
let wrapper: string;
let marker: string;
let n = 0;

/** Writes an executable script in a fresh directory and returns its path. */
async function script(body: string, mode = 0o755): Promise<string> {
  n += 1;
  const dir = join(work, `prog-${n}`);
  await mkdir(dir);
  const path = join(dir, 'prog');
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
  return path;
}

beforeAll(async () => {
  ({ work, marks } = await bwrapWorkDir('zt-bwrap-'));
  marker = join(marks, 'launched');
  wrapper = join(work, 'bwrap-wrapper.sh');
  await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$@" > '${marker}'\nexec bwrap "$@"\n`);
  await chmod(wrapper, 0o755);
  if (hasBwrap) gw = await startBrokerGateway(ACTOR, [BWRAP_ACTION]);
});

afterAll(async () => {
  await gw?.close();
  await rm(work, { recursive: true, force: true });
});

describe('when the bwrap spec is invalid', () => {
  it.each([
    ['a relative program', { command: ['echo', 'hi'] }],
    ['a `..` segment', { command: ['/usr/bin/../bin/sh'] }],
    ['a NUL in an argument', { command: ['/usr/bin/echo', 'a\0b'] }],
    ['a lone surrogate in an argument', { command: ['/usr/bin/echo', 'a\ud800b'] }],
    ['no command', { command: [] }],
    ['a program under /proc', { command: ['/proc/self/exe'] }],
    ['a missing program', { command: ['/usr/bin/zt-no-such-program'] }],
    ['a directory as program', { command: ['/usr/bin'] }],
    ['a program that is not executable', { command: ['/etc/passwd'] }],
    ['a zero timeout', { command: ['/usr/bin/true'], timeoutMs: 0 }],
    ['an unknown field', { command: ['/usr/bin/true'], network: true }],
  ])('refuses %s with INVALID_SPEC', async (_, spec) => {
    await expect(validateBwrapSpec(spec)).rejects.toMatchObject({ code: 'INVALID_SPEC' });
  });
});

describe('when the spec is valid', () => {
  it('makes the canonical spec a policy can read: program, its sha256, the argv as one string, sorted env', async () => {
    const spec = await validateBwrapSpec(
      { command: ['/usr/bin/echo', 'a b', '"q"'], env: ['ZT_B', 'ZT_A'], timeoutMs: 500 },
      { allowedEnv: ['ZT_A', 'ZT_B'] },
    );
    expect(spec).toEqual({
      program: '/usr/bin/echo',
      programSha256: sha256(await readFile('/usr/bin/echo')),
      argv: '["/usr/bin/echo","a b","\\"q\\""]',
      env: ['ZT_A', 'ZT_B'],
      network: 'none',
      timeoutMs: 500,
    });
  });
});

describe('when a spec names a variable outside the operator allowlist', () => {
  it('refuses with INVALID_SPEC and never asks the gateway', async () => {
    // Prepare: a broker secret in the broker's environment, and a client that records every call
    const client = recordingClient();
    const broker = createBwrapBroker({
      client,
      actor: ACTOR,
      allowedEnv: ['ZT_APPROVED'],
      envSource: { ZT_APPROVED: 'yes', ZT_SECRET: 'broker-secret' },
      bwrapPath: wrapper,
    });
    // Act
    const err = await failure(broker.run({ command: ['/usr/bin/env'], env: ['ZT_SECRET'] }));
    // Assess
    expect(err.code).toBe('INVALID_SPEC');
    expect(client.calls).toEqual([]);
  });

  it.each([
    'LD_PRELOAD',
    'BASH_ENV',
    'ENV',
    'PERL5OPT',
    'PYTHONPATH',
    'NODE_OPTIONS',
    'PATH',
    'BASH_FUNC_x%%',
  ])('refuses an operator allowlist holding `%s` with INVALID_OPTIONS', (name) => {
    const client = recordingClient();
    expect(() => createBwrapBroker({ client, actor: ACTOR, allowedEnv: [name] })).toThrowError(
      expect.objectContaining({ code: 'INVALID_OPTIONS' }) as unknown as Error,
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
    const probe = [
      'for p in /etc/zt-probe /usr/zt-probe /zt-probe; do',
      'if touch "$p" 2>/dev/null; then echo "WROTE $p"; else echo "DENIED $p"; fi;',
      'done;',
      'echo ok > /tmp/probe && cat /tmp/probe',
    ].join(' ');
    const result = await broker.run({ command: ['/usr/bin/sh', '-c', probe] });
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

  it('passes only the approved names, with values kept out of the host process list', async () => {
    // Prepare
    await rm(marker, { force: true });
    const broker = createBwrapBroker({
      client: gw.client,
      actor: ACTOR,
      allowedEnv: ['ZT_APPROVED', 'ZT_UNSET'],
      envSource: { ZT_APPROVED: 'approved-value', ZT_SECRET: 'no' },
      bwrapPath: wrapper,
    });
    // Act
    const result = await broker.run({ command: ['/usr/bin/env'], env: ['ZT_APPROVED', 'ZT_UNSET'] });
    // Assess: the sandbox saw the value; bwrap's own argv (what `ps` shows) did not carry it
    const lines = result.stdout.toString().trim().split('\n').sort();
    expect(lines).toEqual(['HOME=/tmp', 'PATH=/usr/bin:/bin', 'PWD=/tmp', 'ZT_APPROVED=approved-value']);
    const argv = (await readFile(marker, 'utf8')).trim().split('\n');
    expect(argv).toEqual(['--args', '4', '--', '/usr/bin/env']);
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

  it('refuses a program swapped between the approval and the run, and launches nothing', async () => {
    // Prepare: an allow for a program in a temp dir, whose file is then replaced by other code
    await rm(marker, { force: true });
    const program = await script('echo approved');
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR, bwrapPath: wrapper });
    const approval = await broker.authorize({ command: [program] });
    expect(approval.spec.programSha256).toBe(sha256(await readFile(program)));
    await writeFile(program, '#!/bin/sh\necho swapped\n');
    // Act: the same input, the same path
    const err = await failure(broker.execute(approval, { command: [program] }));
    // Assess
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses with PROGRAM_MISMATCH a program that changed after the last check, and launches nothing', async () => {
    // Prepare: a spec validated against one file content, then the file changes (what a swap between the
    // broker's re-check and the launch would look like to the backend)
    await rm(marker, { force: true });
    const program = await script('echo approved');
    const backend = bwrapBackend({ bwrapPath: wrapper });
    const spec = await backend.validate({ command: [program] });
    await writeFile(program, '#!/bin/sh\necho swapped\n');
    // Act
    const err = await backend.execute(spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    // Assess: the probe may have launched bwrap, the program never did
    expect(err).toMatchObject({ code: 'PROGRAM_MISMATCH' });
    const launched = existsSync(marker) ? await readFile(marker, 'utf8') : '';
    expect(launched).not.toContain(program);
  });

  it('runs a program named through a symlink outside the bound directories', async () => {
    const program = await script('echo via-link');
    const link = join(work, `link-${n}`);
    await symlink(program, link);
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    const result = await broker.run({ command: [link] });
    expect(result.stdout.toString()).toBe('via-link\n');
    expect(result.status).toBe('succeeded');
  });

  it.runIf(isRoot)(
    'runs the bytes the broker hashed, not the host file (a root-only program runs as nobody)',
    async () => {
      // Prepare: a program only root can read, in a directory only root can enter
      const program = await script('echo "ran as $(id -u)"', 0o700);
      await chmod(join(program, '..'), 0o700);
      const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
      // Act
      const result = await broker.run({ command: [program] });
      // Assess: the sandbox user could never have opened the host's file
      expect(result.stdout.toString()).toBe('ran as 65534\n');
    },
  );

  it('reports the digest of all of stdout, beyond the captured first MiB', async () => {
    // Prepare: 3 000 000 bytes of output
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    const expected = sha256(Buffer.alloc(3_000_000));
    // Act
    const result = await broker.run({ command: ['/usr/bin/head', '-c', '3000000', '/dev/zero'] });
    // Assess
    expect(result.stdout.length).toBe(1 << 20);
    expect(result.outputSha256).toBe(expected);
    const digests = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === result.recordId) digests.push(r.output_sha256);
    }
    expect(digests).toEqual([null, expected]);
  });

  it('kills a process that outlives its timeout and reports it failed', async () => {
    const broker = createBwrapBroker({ client: gw.client, actor: ACTOR });
    const result = await broker.run({ command: ['/usr/bin/sleep', '30'], timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(result.status).toBe('failed');
    expect(result.outcomeRecorded).toBe(true);
  });
});
