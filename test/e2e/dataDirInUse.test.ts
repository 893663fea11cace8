import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator } from '../../local/emulator.js';
import { bundleZtLocal, type EmulatorProcess, spawnEmulator } from './emulatorProcess.js';

/** Runs a command to its end (at most 30 s) and returns its exit code, stderr and wall time. */
function run(command: string, args: string[]): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

describe('when a second emulator starts on a data dir already in use', () => {
  let bundle: Awaited<ReturnType<typeof bundleZtLocal>>;
  let parent: string;
  let dir: string;
  let first: EmulatorProcess | undefined;

  beforeAll(async () => {
    bundle = await bundleZtLocal();
    parent = await mkdtemp(join(tmpdir(), 'zt-in-use-'));
    dir = join(parent, 'zt');
    first = await spawnEmulator(process.execPath, [bundle.file, '--data-dir', dir, '--port', '0', '--quiet']);
  });
  afterAll(async () => {
    await first?.stop();
    await bundle?.remove();
    if (parent) await rm(parent, { recursive: true, force: true });
  });

  it('exits 1 at once with one line naming the running process, never a stack trace', async () => {
    const second = await run(process.execPath, [bundle.file, '--data-dir', dir, '--port', '0', '--quiet']);

    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`is in use by process ${first!.pid} (`);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).not.toMatch(/^\s+at /m);
    // "at once": no waiting on the lock (the time is mostly Node and module loading)
    expect(second.ms).toBeLessThan(15_000);
  });

  it('refuses a key rotation meanwhile, and an in-process start, with DATA_DIR_IN_USE', async () => {
    const rotation = await run(process.execPath, [bundle.file, 'rotate-key', '--data-dir', dir]);
    const inProcess = startEmulator({ dataDir: dir, port: 0, log: null, checkpoints: false });

    expect(rotation.code).toBe(1);
    expect(rotation.stderr).toContain(`is in use by process ${first!.pid}`);
    await expect(inProcess).rejects.toMatchObject({ code: 'DATA_DIR_IN_USE' });
  });

  it('starts on the same data dir once the first one was killed (the lock dies with it)', async () => {
    await first!.kill9();

    first = await spawnEmulator(process.execPath, [bundle.file, '--data-dir', dir, '--port', '0', '--quiet']);

    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});
