import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleZtLocal, spawnEmulator } from './emulatorProcess.js';

/** Runs the bundled zt-local to its end (at most 30 s): exit code and stderr. */
function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('when zt-local is started with or without its console', () => {
  let bundle: Awaited<ReturnType<typeof bundleZtLocal>>;
  let parent: string;
  let n = 0;
  const dataDir = () => join(parent, `zt-${++n}`);

  beforeAll(async () => {
    bundle = await bundleZtLocal();
    parent = await mkdtemp(join(tmpdir(), 'zt-console-flags-'));
  });
  afterAll(async () => {
    await bundle?.remove();
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('prints the console URL with its token, and the console answers it on the port asked for', async () => {
    const emulator = await spawnEmulator(process.execPath, [
      bundle.file,
      '--port',
      '0',
      '--console-port',
      '0',
      '--data-dir',
      dataDir(),
      '--quiet',
    ]);
    try {
      const login = /console\s+(http:\/\/127\.0\.0\.1:(\d+)\/)\?token=([A-Za-z0-9_-]{43})\s/.exec(
        emulator.stderr(),
      );
      expect(login, emulator.stderr()).not.toBeNull();
      const [, url, , token] = login as RegExpExecArray;
      expect((await fetch(`${url}api/policies`)).status).toBe(401);
      expect(
        (await fetch(`${url}api/policies`, { headers: { authorization: `Bearer ${token}` } })).status,
      ).toBe(200);
    } finally {
      await emulator.stop();
    }
    expect(await emulator.exited).toBe(0);
  }, 60_000);

  it('serves no console with --no-console or ZT_CONSOLE=off', async () => {
    for (const [args, env] of [
      [['--no-console'], []],
      [[], ['ZT_CONSOLE=off']],
    ] as const) {
      const emulator = await spawnEmulator('env', [
        ...env,
        process.execPath,
        bundle.file,
        '--port',
        '0',
        '--data-dir',
        dataDir(),
        '--quiet',
        ...args,
      ]);
      try {
        expect(emulator.stderr()).toMatch(/console\s+off/);
        expect(emulator.stderr()).not.toContain('token=');
      } finally {
        await emulator.stop();
      }
    }
  }, 60_000);

  describe('when the console cannot start as asked', () => {
    let taken: Server;
    let takenPort: number;

    beforeAll(async () => {
      taken = createServer();
      await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
      takenPort = (taken.address() as { port: number }).port;
    });
    afterAll(async () => {
      await new Promise<void>((ok) => taken.close(() => ok()));
    });

    it('exits 1 with one line when the console port is taken', async () => {
      const result = await run([
        bundle.file,
        '--port',
        '0',
        '--console-port',
        String(takenPort),
        '--data-dir',
        dataDir(),
        '--quiet',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`console port ${takenPort} is in use`);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }, 60_000);

    it('exits 2 on a console port or switch it cannot use', async () => {
      const cases: Array<[string[], Record<string, string>, RegExp]> = [
        [['--console-port', 'abc'], {}, /console port must be an integer 0-65535, got `abc`/],
        [['--console-port', '70000'], {}, /console port must be an integer/],
        [['--console-port', '9000', '--no-console'], {}, /exclude each other/],
        [[], { ZT_CONSOLE: 'maybe' }, /ZT_CONSOLE must be `on` or `off`, got `maybe`/],
        [[], { ZT_CONSOLE_PORT: '-1' }, /console port must be an integer/],
        [['--console-approver', 'alice', '--no-console'], { ZT_APPROVERS: 'alice' }, /needs the console/],
      ];
      for (const [args, env, message] of cases) {
        const result = await run([bundle.file, '--port', '0', '--data-dir', dataDir(), ...args], env);
        expect(result.code, args.join(' ')).toBe(2);
        expect(result.stderr).toMatch(message);
      }
    }, 60_000);

    it('exits 1 naming CONSOLE_APPROVER_UNKNOWN when the console approver is not one of ZT_APPROVERS', async () => {
      for (const [args, env] of [
        [['--console-approver', 'mallory'], { ZT_APPROVERS: 'alice,bob' }],
        [[], { ZT_CONSOLE_APPROVER: 'alice' }],
      ] as const) {
        const result = await run(
          [bundle.file, '--port', '0', '--console-port', '0', '--data-dir', dataDir(), '--quiet', ...args],
          env,
        );
        expect(result.code, JSON.stringify(env)).toBe(1);
        expect(result.stderr).toContain('CONSOLE_APPROVER_UNKNOWN');
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
      }
    }, 60_000);
  });
});
