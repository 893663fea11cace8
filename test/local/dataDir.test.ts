import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { canonicalize } from '../../core/model/canonical.js';
import type { KeyValueStore, TransactOp } from '../../core/ports/ports.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { DATA_DIR_FILES, openDataDir, rotateRootKey } from '../../local/dataDir.js';
import { startEmbeddedStore } from '../../local/embeddedStore.js';
import { type Emulator, startEmulator } from '../../local/emulator.js';
import { LocalCredentialStore } from '../../local/LocalCredentialStore.js';
import { loadOrCreateRootKey } from '../../local/rootKey.js';
import { SqliteKeyValueStore } from '../../local/SqliteKeyValueStore.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { send } from '../helpers/http.js';

/** PEM blocks of a file (a verifier's `--public-key` file may hold several). */
function pemsOf(text: string): string[] {
  return [...text.matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----\n/g)].map((m) => m[0]);
}

describe('the data dir', () => {
  let parent: string;
  let dir: string;
  let running: Emulator | undefined;

  /** An emulator on `dir` with its store on disk, as `npm run local` runs it. */
  const start = async (extra: { reset?: boolean } = {}): Promise<Emulator> => {
    running = await startEmulator({ dataDir: dir, port: 0, log: null, checkpoints: false, ...extra });
    return running;
  };
  const stop = async (): Promise<void> => {
    await running?.close();
    running = undefined;
  };
  const admin = (emulator: Emulator): AwsCredentials => ({
    accessKeyId: emulator.admin.accessKeyId,
    secretAccessKey: emulator.admin.secretAccessKey,
  });
  /** Registers `worker` with an allow policy; returns its credentials. */
  const setUp = async (emulator: Emulator): Promise<AwsCredentials> => {
    const registered = await send(emulator.url, 'POST', '/agents', {
      credentials: admin(emulator),
      body: { agentId: 'worker' },
    });
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin(emulator),
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    return (registered.body as { credentials: AwsCredentials }).credentials;
  };
  const decide = async (emulator: Emulator, agent: AwsCredentials): Promise<number> =>
    (
      await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'worker', action: 'hello-world.say_hello' },
      })
    ).status;
  const chain = async (emulator: Emulator): Promise<string[]> =>
    (
      (await send(emulator.url, 'GET', '/audit?limit=1000', { credentials: admin(emulator) })).body as {
        records: unknown[];
      }
    ).records.map((r) => canonicalize(r));
  const rootPem = async (): Promise<string> =>
    InMemoryP256Signer.fromPem(await readFile(join(dir, DATA_DIR_FILES.rootKey), 'utf8')).publicKeyPem;

  beforeEach(async () => {
    parent = await mkdtemp(join(tmpdir(), 'zt-data-dir-'));
    dir = join(parent, 'zt');
  });
  afterEach(async () => {
    await stop();
    await rm(parent, { recursive: true, force: true });
  });

  describe('when it is open to other users', () => {
    it.each(['755', '750', '705', '770', '701', '702'])(
      'refuses mode %s with DATA_DIR_PERMISSIONS and writes nothing in it, even as root',
      async (mode) => {
        await mkdir(dir);
        await chmod(dir, Number.parseInt(mode, 8));

        await expect(start()).rejects.toMatchObject({ code: 'DATA_DIR_PERMISSIONS' });
        expect(await readdir(dir)).toEqual([]);
      },
    );

    // chown to another user needs root (as these tests run here and in CI)
    it.skipIf(process.getuid?.() !== 0)(
      'refuses a data dir another user owns, even with mode 0700',
      async () => {
        await mkdir(dir, { mode: 0o700 });
        await chown(dir, 65534, 65534);

        await expect(start()).rejects.toMatchObject({ code: 'DATA_DIR_PERMISSIONS' });
        expect(await readdir(dir)).toEqual([]);
      },
    );

    it('creates a missing data dir with mode 0700', async () => {
      await start();

      expect((await stat(dir)).mode & 0o777).toBe(0o700);
    });
  });

  describe('when the key file is open to other users', () => {
    it('refuses it with ROOT_KEY_PERMISSIONS', async () => {
      await start();
      await stop();
      await chmod(join(dir, DATA_DIR_FILES.rootKey), 0o640);

      await expect(start()).rejects.toMatchObject({ code: 'ROOT_KEY_PERMISSIONS' });
    });
  });

  describe('when the root key is missing', () => {
    it('refuses a data dir that holds a chain with ROOT_KEY_MISSING, and makes no key', async () => {
      const emulator = await start();
      await decide(emulator, await setUp(emulator));
      await stop();
      await rm(join(dir, DATA_DIR_FILES.rootKey));

      await expect(start()).rejects.toMatchObject({ code: 'ROOT_KEY_MISSING' });
      expect(await readdir(dir)).not.toContain(DATA_DIR_FILES.rootKey);
    });

    it('makes one for a data dir without a chain', async () => {
      await start();
      await stop();
      await rm(join(dir, DATA_DIR_FILES.rootKey));

      await start();

      expect(await readdir(dir)).toContain(DATA_DIR_FILES.rootKey);
    });
  });

  describe('when the root key is another key than the chain was signed with', () => {
    it('refuses it with ROOT_KEY_MISMATCH', async () => {
      const emulator = await start();
      await decide(emulator, await setUp(emulator));
      await stop();
      await rm(join(dir, DATA_DIR_FILES.rootKey));
      await loadOrCreateRootKey(join(dir, DATA_DIR_FILES.rootKey));

      await expect(start()).rejects.toMatchObject({ code: 'ROOT_KEY_MISMATCH' });
    });
  });

  describe('when the root key is rotated', () => {
    it('chains the new root certified by the old one; the chain verifies under both roots and under neither alone', async () => {
      let emulator = await start();
      const agent = await setUp(emulator);
      expect(await decide(emulator, agent)).toBe(200);
      await stop();
      const oldRoot = await rootPem();

      const rotation = await rotateRootKey({ dir });
      emulator = await start();
      expect(await decide(emulator, agent)).toBe(200);
      const records = await chain(emulator);
      const newRoot = await rootPem();
      const listed = pemsOf(await readFile(join(dir, DATA_DIR_FILES.rootPublicKeys), 'utf8'));
      const handover = JSON.parse(records[rotation.seq - 1]!) as Record<string, string>;

      expect(rotation.certifiedBy).toBe('previous-root');
      expect(handover).toMatchObject({ kind: 'key', certified_public_key_pem: newRoot });
      expect(handover['signing_key_id']).toBe(rotation.previousKeyId);
      expect(listed).toEqual([oldRoot, newRoot]);
      expect(verifyChain(records, { trustedRootKeys: listed }).findings).toEqual([]);
      expect(verifyChain(records, { trustedRootKeys: [oldRoot] }).ok).toBe(false);
      expect(verifyChain(records, { trustedRootKeys: [newRoot] }).ok).toBe(false);
      expect(await readdir(dir)).toContain(`signing-key.retired-${rotation.previousKeyId!.slice(7, 23)}.pem`);
    });

    it('with the old key lost: refuses without --old-key-lost, then chains a self-certified new root', async () => {
      let emulator = await start();
      const agent = await setUp(emulator);
      expect(await decide(emulator, agent)).toBe(200);
      await stop();
      const oldRoot = await rootPem();
      await rm(join(dir, DATA_DIR_FILES.rootKey));

      await expect(rotateRootKey({ dir })).rejects.toMatchObject({ code: 'ROOT_KEY_MISSING' });
      const rotation = await rotateRootKey({ dir, oldKeyLost: true });
      emulator = await start();
      expect(await decide(emulator, agent)).toBe(200);
      const records = await chain(emulator);
      const listed = pemsOf(await readFile(join(dir, DATA_DIR_FILES.rootPublicKeys), 'utf8'));

      expect(rotation.certifiedBy).toBe('new-root');
      expect(rotation.previousPublicKeyListed).toBe(true);
      expect(listed).toEqual([oldRoot, await rootPem()]);
      expect(verifyChain(records, { trustedRootKeys: listed }).findings).toEqual([]);
    });

    it('finishes a rotation that stopped after its record landed, without a second record', async () => {
      const emulator = await start();
      await decide(emulator, await setUp(emulator));
      await stop();
      const first = await rotateRootKey({ dir });
      // as if it stopped before moving the files: the new key still waiting, the old one in place
      await rename(join(dir, DATA_DIR_FILES.rootKey), join(dir, DATA_DIR_FILES.rotatingKey));
      await rename(first.retiredKeyFile!, join(dir, DATA_DIR_FILES.rootKey));

      await expect(start()).rejects.toMatchObject({ code: 'ROTATION_INTERRUPTED' });
      const again = await rotateRootKey({ dir });
      const records = await chain(await start());

      expect(again.newKeyId).toBe(first.newKeyId);
      expect(again.seq).toBe(first.seq);
      expect(records.filter((r) => JSON.parse(r).certified_key_id === first.newKeyId)).toHaveLength(1);
      expect(
        verifyChain(records, {
          trustedRootKeys: pemsOf(await readFile(join(dir, DATA_DIR_FILES.rootPublicKeys), 'utf8')),
        }).findings,
      ).toEqual([]);
    });

    it('finishes a rotation that stopped before its record, certifying the waiting key with the old root', async () => {
      const emulator = await start();
      await decide(emulator, await setUp(emulator));
      await stop();
      const waiting = await loadOrCreateRootKey(join(dir, DATA_DIR_FILES.rotatingKey));

      const rotation = await rotateRootKey({ dir });

      expect(rotation.newKeyId).toBe(waiting.signer.keyId);
      expect(rotation.certifiedBy).toBe('previous-root');
      expect(await rootPem()).toBe(waiting.signer.publicKeyPem);
    });
  });

  describe('when started with reset', () => {
    it('empties the store and makes a new key and credentials', async () => {
      const emulator = await start();
      await decide(emulator, await setUp(emulator));
      const oldRoot = await rootPem();
      await stop();

      const fresh = await start({ reset: true });

      expect(await chain(fresh)).toEqual([]);
      expect(await rootPem()).not.toBe(oldRoot);
      expect(fresh.credentials.identityFor(emulator.admin.accessKeyId)).toBeNull();
    });

    it('refuses while another emulator holds the data dir, and deletes nothing', async () => {
      await start();
      const before = (await readdir(dir)).sort();

      await expect(
        startEmulator({ dataDir: dir, port: 0, log: null, checkpoints: false, reset: true }),
      ).rejects.toMatchObject({
        code: 'DATA_DIR_IN_USE',
        message: expect.stringContaining(`process ${process.pid}`),
      });
      expect((await readdir(dir)).sort()).toEqual(before);
    });
  });

  describe('when it holds a first-release dynalite store', () => {
    /** Writes a data dir as the first release did: dynalite under `store/`, the key, the credentials. */
    async function firstReleaseDataDir(): Promise<{ records: string[]; agent: AwsCredentials }> {
      await mkdir(dir, { mode: 0o700 });
      const { signer } = await loadOrCreateRootKey(join(dir, DATA_DIR_FILES.rootKey));
      const credentials = await LocalCredentialStore.open(join(dir, 'aws-credentials'));
      const embedded = await startEmbeddedStore({ path: join(dir, 'store') });
      try {
        const { gateway, writer } = wireGateway({
          // dynalite has no transactions: this fixture applies them one write at a time (no concurrency here)
          store: withSequentialTransact(embedded.store),
          lane: 'main',
          rootSigner: signer,
          clock: { now: () => new Date() },
          gatewayPrincipal: 'arn:aws:iam::000000000000:role/zt-emulator',
          issuer: credentials,
        });
        const adminCaller = { principalArn: credentials.admin.principalArn, isAdmin: true };
        const { credentials: minted } = await gateway.registerAgent(adminCaller, { agentId: 'worker' });
        await gateway.allowPolicy(adminCaller, { action: 'hello-world.say_hello', agentId: 'worker' });
        const agentIdentity = credentials.identityFor(minted!.accessKeyId)!;
        const agentCaller = { principalArn: agentIdentity.principalArn, isAdmin: false };
        await gateway.decide(agentCaller, { actor: 'worker', action: 'hello-world.say_hello' });
        await gateway.decide(agentCaller, { actor: 'worker', action: 'aws.ec2.terminate_instances' });
        await embedded.store.increment('meta', 'migration-probe');
        return {
          records: await writer.page(0, 1000),
          agent: { accessKeyId: minted!.accessKeyId, secretAccessKey: minted!.secretAccessKey },
        };
      } finally {
        await embedded.close();
      }
    }

    it('copies it into SQLite byte for byte once, keeps it renamed, and the chain verifies and grows', async () => {
      const old = await firstReleaseDataDir();

      const emulator = await start();
      expect(await decide(emulator, old.agent)).toBe(200);
      const records = await chain(emulator);
      await stop();
      const reopened = await start();
      const again = await chain(reopened);

      expect(old.records.length).toBeGreaterThanOrEqual(4);
      expect(records.slice(0, old.records.length)).toEqual(old.records);
      // this process certified its own session key, then decided
      expect(records.slice(old.records.length).map((r) => JSON.parse(r).kind)).toEqual(['key', 'decision']);
      expect(again).toEqual(records);
      expect(verifyChain(records, { trustedRootKeys: [await rootPem()] }).findings).toEqual([]);
      const entries = await readdir(dir);
      expect(entries).toContain('store.dynalite-migrated');
      expect(entries).not.toContain('store');
      expect(await reopened.parts.writer.page(0, 1)).toEqual([old.records[0]]);
    });

    it('only renames the old store when a copy committed before a stop', async () => {
      const old = await firstReleaseDataDir();
      await (await openDataDir({ dir })).close();
      // as if the process stopped between the commit and the rename
      await rename(join(dir, 'store.dynalite-migrated'), join(dir, 'store'));

      const emulator = await start();
      const records = await chain(emulator);

      expect(records).toEqual(old.records);
      expect((await readdir(dir)).filter((name) => name.startsWith('store')).sort()).toEqual([
        'store.dynalite-migrated',
        'store.sqlite',
        'store.sqlite-wal',
      ]);
    });

    it('copies counter items as counters', async () => {
      await firstReleaseDataDir();

      const data = await openDataDir({ dir });
      const read = await data.store.get('meta', 'migration-probe');
      const next = await data.store.increment('meta', 'migration-probe');
      await data.close();

      expect([read, next]).toEqual(['1', 2]);
    });

    it('refuses a data dir holding both a store with items and a first-release store never copied into it', async () => {
      await firstReleaseDataDir();
      await mkdir(dir, { recursive: true });
      const sqlite = SqliteKeyValueStore.open({ path: join(dir, DATA_DIR_FILES.store) });
      await sqlite.put('p', 'k', 'v');
      await sqlite.close();

      await expect(openDataDir({ dir })).rejects.toMatchObject({ code: 'DATA_DIR_AMBIGUOUS' });
      expect(await readdir(dir)).toContain('store');
    });
  });
});

/** `transact` for a store without it (dynalite): conditions checked, then writes made one by one. */
function withSequentialTransact(store: KeyValueStore): KeyValueStore {
  return {
    get: (pk, sk) => store.get(pk, sk),
    putIfAbsent: (pk, sk, data) => store.putIfAbsent(pk, sk, data),
    put: (pk, sk, data) => store.put(pk, sk, data),
    replaceIf: (pk, sk, expected, data) => store.replaceIf(pk, sk, expected, data),
    delete: (pk, sk) => store.delete(pk, sk),
    query: (pk, options) => store.query(pk, options),
    increment: (pk, sk) => store.increment(pk, sk),
    async transact(ops: readonly TransactOp[]) {
      for (const [index, op] of ops.entries()) {
        if (op.op === 'put' || (op.op === 'delete' && op.expected === undefined)) continue;
        const current = await store.get(op.pk, op.sk);
        const expected = op.op === 'putIfAbsent' ? null : op.expected;
        if (current !== expected) return { ok: false as const, failed: index };
      }
      for (const op of ops) {
        if (op.op === 'delete') await store.delete(op.pk, op.sk);
        else if (op.op !== 'check') await store.put(op.pk, op.sk, op.data);
      }
      return { ok: true as const };
    },
  };
}
