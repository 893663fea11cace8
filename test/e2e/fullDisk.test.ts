import { spawnSync } from 'node:child_process';
import { mkdtemp, open, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { canonicalize } from '../../core/model/canonical.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { send } from '../helpers/http.js';
import { bundleZtLocal, credentialsFrom, type EmulatorProcess, spawnEmulator } from './emulatorProcess.js';

/**
 * A real full disk: the emulator runs in a mount namespace of its own (util-linux `unshare`, as root)
 * with its data dir on a 4 MiB tmpfs, which this test fills and frees through `/proc/<pid>/root`. The
 * mount dies with the process, so nothing is left mounted on the machine.
 */
const probeDir = await mkdtemp(join(tmpdir(), 'zt-tmpfs-probe-'));
const probe = spawnSync('unshare', [
  '--mount',
  '--propagation',
  'private',
  '--',
  'mount',
  '-t',
  'tmpfs',
  '-o',
  'size=64k',
  'tmpfs',
  probeDir,
]);
await rm(probeDir, { recursive: true, force: true });
const canMount = probe.status === 0;
if (!canMount) {
  console.warn(
    `skipping the full-disk test: \`unshare --mount\` + \`mount -t tmpfs\` failed (needs root and util-linux): ${probe.stderr?.toString().trim() ?? probe.error}`,
  );
}

/** Writes zeros to `path` until the file system refuses (ENOSPC); at most `maxBytes`. */
async function fill(path: string, maxBytes: number): Promise<void> {
  const handle = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let written = 0; written < maxBytes; written += chunk.length) {
      await handle.write(chunk);
    }
    throw new Error(`wrote ${maxBytes} bytes without filling the tmpfs`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    await handle.close();
  }
}

describe.skipIf(!canMount)('when the disk under the data dir is full', () => {
  let bundle: Awaited<ReturnType<typeof bundleZtLocal>>;
  let mountPoint: string;
  let emulator: EmulatorProcess | undefined;
  /** The data dir as this process sees it: through the emulator's own root, where the tmpfs is mounted. */
  let seen: (name: string) => string;

  beforeAll(async () => {
    bundle = await bundleZtLocal();
    mountPoint = await mkdtemp(join(tmpdir(), 'zt-full-disk-'));
    emulator = await spawnEmulator('unshare', [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      'mount -t tmpfs -o size=4m,mode=0700 tmpfs "$0" && exec "$1" "$2" --data-dir "$0/zt" --port 0 --quiet',
      mountPoint,
      process.execPath,
      bundle.file,
    ]);
    const pid = emulator.pid;
    seen = (name) => join(`/proc/${pid}/root`, mountPoint, 'zt', name);
  });
  afterAll(async () => {
    await emulator?.stop();
    await bundle?.remove();
    if (mountPoint) await rm(mountPoint, { recursive: true, force: true });
  });

  it('answers a 5xx deny without a record, stays up, and decides again once there is room', async () => {
    const { url } = emulator!;
    const admin = await credentialsFrom(seen('aws-credentials'), 'zt-admin');
    const registered = await send(url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    const agent = (registered.body as { credentials: AwsCredentials }).credentials;
    await send(url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    // Each call its own request: the same body signed in the same second is a replay of the earlier one,
    // answered from its record (which needs no write, so it succeeds on a full disk too).
    let calls = 0;
    const decide = () =>
      send(url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'worker', action: 'hello-world.say_hello', resource: `call-${++calls}` },
      });
    const records = async () =>
      ((await send(url, 'GET', '/audit?limit=1000', { credentials: admin })).body as { records: unknown[] })
        .records;
    expect((await decide()).status).toBe(200);
    const before = await records();

    await fill(seen('filler'), 16 * 1024 * 1024);
    const whileFull = [await decide(), await decide()];
    const health = await send(url, 'GET', '/health');
    const afterFull = await records();
    await unlink(seen('filler'));
    const roomAgain = await decide();
    const after = await records();

    for (const answer of whileFull) {
      expect(answer.status).toBe(503);
      expect((answer.body as { audit?: unknown }).audit).toBeUndefined();
      expect((answer.body as { error: { code: string } }).error.code).toBe('SERVICE_UNAVAILABLE');
    }
    expect(health.status).toBe(200);
    expect(afterFull).toEqual(before);
    expect(roomAgain.status).toBe(200);
    const record = (roomAgain.body as { audit: unknown }).audit;
    expect(after.map((r) => canonicalize(r))).toEqual([...before, record].map((r) => canonicalize(r)));
    const root = InMemoryP256Signer.fromPem(await readFile(seen('signing-key.pem'), 'utf8'));
    expect(
      verifyChain(
        after.map((r) => canonicalize(r)),
        { trustedRootKeys: [root.publicKeyPem] },
      ).findings,
    ).toEqual([]);
  }, 60_000);
});
