import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Checkpoint, verifyCheckpoint } from '../../core/log/checkpoint.js';
import { type EmulatorOptions, startEmulator } from '../../local/emulator.js';
import { loadOrCreateLogId } from '../../local/logIdentity.js';
import { send } from '../helpers/http.js';

const LOCAL_ORIGIN = /^zt-infra\/local\/[0-9a-f]{32}\/main$/;

/** Starts an emulator on `dataDir`, asks it for a checkpoint over HTTP as its admin, verifies it, closes it. */
async function checkpointOf(dataDir: string, options: EmulatorOptions = {}): Promise<Checkpoint> {
  const emulator = await startEmulator({ dataDir, port: 0, log: null, checkpoints: false, ...options });
  try {
    const admin = {
      accessKeyId: emulator.admin.accessKeyId,
      secretAccessKey: emulator.admin.secretAccessKey,
    };
    const keys = (await send(emulator.url, 'GET', '/keys', { credentials: admin })).body as {
      keys: Array<{ role: string; publicKeyPem: string }>;
    };
    const root = keys.keys.find((k) => k.role === 'root')?.publicKeyPem as string;
    const answer = await send(emulator.url, 'GET', '/audit/checkpoint', { credentials: admin });
    expect(answer.status).toBe(200);
    const checkpoint = answer.body as Checkpoint;
    // the verifier takes the origin from the note itself: a per-log origin verifies like the old fixed one
    expect(verifyCheckpoint(checkpoint, [root]).ok).toBe(true);
    return checkpoint;
  } finally {
    await emulator.close();
  }
}

describe('when emulators keep their logs in data dirs', () => {
  let dirs: string[];
  const newDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'zt-log-id-'));
    dirs.push(dir);
    return dir;
  };
  beforeEach(() => {
    dirs = [];
  });
  afterEach(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('gives two data dirs two origins, and one data dir the same origin across restarts', async () => {
    const a = await newDir();
    const b = await newDir();
    const first = await checkpointOf(a);
    expect(first.origin).toMatch(LOCAL_ORIGIN);
    expect(first.note.startsWith(`${first.origin}\n`)).toBe(true);
    const again = await checkpointOf(a);
    expect(again.origin).toBe(first.origin);
    const other = await checkpointOf(b);
    expect(other.origin).toMatch(LOCAL_ORIGIN);
    expect(other.origin).not.toBe(first.origin);
    // the id is the data dir's: one file, made once
    expect((await readFile(join(a, 'log-id'), 'utf8')).trim()).toBe(first.origin.split('/')[2]);
  });

  it('gives a log kept in memory a new origin each run (it is a new log each run)', async () => {
    const dir = await newDir();
    const one = await checkpointOf(dir, { inMemory: true });
    const two = await checkpointOf(dir, { inMemory: true });
    expect(one.origin).toMatch(LOCAL_ORIGIN);
    expect(two.origin).not.toBe(one.origin);
  });

  it('refuses to start on a log-id file that holds no id, and leaves the file as it was', async () => {
    const dir = await newDir();
    await writeFile(join(dir, 'log-id'), 'not an id\n');
    await expect(startEmulator({ dataDir: dir, port: 0, log: null, checkpoints: false })).rejects.toThrow(
      /log id file .* must hold 32 lower-case hex digits, got `not an id`/,
    );
    expect(await readFile(join(dir, 'log-id'), 'utf8')).toBe('not an id\n');
  });

  it('agrees on one id when several starts race on a fresh data dir, leaving no temporary file', async () => {
    const dir = await newDir();
    const ids = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLogId(join(dir, 'log-id'))));
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(await readdir(dir)).toEqual(['log-id']);
  });
});
