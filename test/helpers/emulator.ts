import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runZt } from '../../bin/cli/runZt.js';
import { type Emulator, type EmulatorOptions, startEmulator } from '../../local/emulator.js';
import type { AwsCredentials } from '../../sdk/signer.js';

export interface TestEmulator extends Emulator {
  /** The admin's SigV4 credentials (profile `zt-admin`). */
  adminCredentials: AwsCredentials;
}

/**
 * A real emulator on a free loopback port in a fresh temporary data dir, store in memory, quiet, no
 * automatic checkpoints unless asked; `close()` also removes the data dir.
 */
export async function startTestEmulator(options: EmulatorOptions = {}): Promise<TestEmulator> {
  const dataDir = await mkdtemp(join(tmpdir(), 'zt-test-'));
  const emulator = await startEmulator({
    dataDir,
    port: 0,
    inMemory: true,
    log: null,
    checkpoints: false,
    ...options,
  });
  return {
    ...emulator,
    adminCredentials: {
      accessKeyId: emulator.admin.accessKeyId,
      secretAccessKey: emulator.admin.secretAccessKey,
    },
    close: async () => {
      await emulator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** What an in-process `zt` run printed and returned. */
export interface ZtRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `zt` in-process against `emulator` as its admin, in `cwd` (default the emulator's data dir). */
export function ztAsAdmin(
  emulator: Pick<Emulator, 'url' | 'credentialsFile' | 'adminProfile' | 'dataDir'>,
  argv: string[],
  cwd = emulator.dataDir,
): Promise<ZtRun> {
  return ztAs(emulator, emulator.adminProfile, argv, cwd);
}

/** Runs `zt` in-process against `emulator` under `profile` of its credentials file, in `cwd`. */
export async function ztAs(
  emulator: Pick<Emulator, 'url' | 'credentialsFile' | 'dataDir'>,
  profile: string,
  argv: string[],
  cwd = emulator.dataDir,
): Promise<ZtRun> {
  let stdout = '';
  let stderr = '';
  const code = await runZt(
    [
      ...argv,
      '--endpoint',
      emulator.url,
      '--credentials-file',
      emulator.credentialsFile,
      '--profile',
      profile,
    ],
    {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
      cwd,
    },
  );
  return { code, stdout, stderr };
}
