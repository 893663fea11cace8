import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import type { AwsCredentials } from '../../sdk/signer.js';

const root = join(import.meta.dirname, '..', '..');

/**
 * `bin/zt-local.ts` bundled into one ESM file (dependencies left as imports), so a test can run the
 * emulator as a real child process without depending on `dist/` (which another test may be rebuilding).
 * It lives under `node_modules/.cache` so its imports resolve to this checkout's `node_modules`.
 */
export async function bundleZtLocal(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = join(root, 'node_modules', '.cache', 'zt-test-emulator', randomUUID());
  const file = join(dir, 'zt-local.mjs');
  await build({
    entryPoints: [join(root, 'bin', 'zt-local.ts')],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface EmulatorProcess {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the child is gone. */
  exited: Promise<number | NodeJS.Signals | null>;
  /** SIGKILL, then waits for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM (a clean stop), SIGKILL after 10 s, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Spawns `command args` (the bundled emulator, possibly behind a wrapper such as `unshare`) and waits
 * until it prints its endpoint (at most `timeoutMs`). The wrapper must `exec` the emulator, so the
 * child's pid is the emulator's.
 */
export async function spawnEmulator(
  command: string,
  args: string[],
  timeoutMs = 30_000,
): Promise<EmulatorProcess> {
  const child = spawn(command, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    // The console on a free port: parallel emulators never compete for its default 8788.
    env: { ZT_CONSOLE_PORT: '0', ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  let url: string | undefined;
  while (url === undefined) {
    url = /endpoint\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    if (url !== undefined) break;
    if (gone) throw new Error(`the emulator exited before it was ready:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the emulator was not ready within ${timeoutMs} ms:\n${stderr}`);
    }
    await sleep(50);
  }
  const waitExit = async (): Promise<void> => {
    await exited;
  };
  return {
    child,
    pid: child.pid!,
    url,
    stderr: () => stderr,
    exited,
    kill9: async () => {
      if (!gone) child.kill('SIGKILL');
      await waitExit();
    },
    stop: async () => {
      if (!gone) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await waitExit();
      clearTimeout(timer);
    },
  };
}

/** The credentials of `profile` in an AWS shared-credentials file (the emulator's). */
export async function credentialsFrom(file: string, profile: string): Promise<AwsCredentials> {
  const text = await readFile(file, 'utf8');
  const section = text.split(/^\[/m).find((part) => part.startsWith(`${profile}]`));
  const value = (name: string) => new RegExp(`^${name}\\s*=\\s*(\\S+)`, 'm').exec(section ?? '')?.[1];
  const accessKeyId = value('aws_access_key_id');
  const secretAccessKey = value('aws_secret_access_key');
  if (!accessKeyId || !secretAccessKey) throw new Error(`no profile \`${profile}\` in \`${file}\``);
  return { accessKeyId, secretAccessKey };
}
