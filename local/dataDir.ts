import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ZtError } from '../core/errors/index.js';
import { InMemoryP256Signer } from '../core/keys/index.js';
import { LaneWriter } from '../core/log/index.js';
import type { KeyRecord } from '../core/model/index.js';
import { type Clock, scanPartition, systemClock } from '../core/ports/index.js';
import { LOCAL_ACCOUNT_ID } from './LocalCredentialStore.js';
import { migrateFirstReleaseStore } from './migrateDynalite.js';
import { DataDirError, loadRootKey, writeRootKey } from './rootKey.js';
import { SqliteKeyValueStore } from './SqliteKeyValueStore.js';

/** The files of a data dir (`.zt/` by default). */
export const DATA_DIR_FILES = {
  store: 'store.sqlite',
  rootKey: 'signing-key.pem',
  /** A new root key written by `rotate-key` before it is put in place; its presence means "finish the rotation". */
  rotatingKey: 'signing-key.pem.rotating',
  /** Every root public key this data dir's chain was signed under, oldest first: a verifier's `--public-key`. */
  rootPublicKeys: 'root-public-keys.pem',
  /** The pid of the process holding the data dir, to name it when another one is refused. */
  pid: 'emulator.pid',
} as const;

/** Meta key: the root keys of this data dir's chain, oldest first (`[{keyId, publicKeyPem, since}]`). */
const ROOT_KEYS_META = 'root_keys';

/** The principal written on records the data dir tooling chains (a rotation), as the emulator's own. */
export const EMULATOR_PRINCIPAL = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/zt-emulator`;

interface RootKeyEntry {
  keyId: string;
  publicKeyPem: string;
  since: string;
}

/** An open data dir: its store (locked to this process when on disk) and its root key. */
export interface DataDir {
  dir: string;
  store: SqliteKeyValueStore;
  rootSigner: InMemoryP256Signer;
  /** Commits pending writes, closes the store (releasing the lock) and removes the pid file. */
  close(): Promise<void>;
}

export interface OpenDataDirOptions {
  dir: string;
  /** Start from an empty data dir (everything in it is removed once the lock is held). */
  reset?: boolean;
  /** Keep the store in memory (tests): nothing is locked or migrated, the key and credentials stay on disk. */
  inMemory?: boolean;
  /** Notable events of the start (a first-release store copied), one object each. */
  log?: (line: Record<string, unknown>) => void;
  clock?: Clock;
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8);
}

/**
 * Creates the data dir (0700) when missing, and refuses one that other users can read, write or enter,
 * or that another user owns (`DATA_DIR_PERMISSIONS`), like the key file: the store, the key and the
 * credentials file are inside. The mode bits are checked as they are, whoever runs the emulator (root
 * included).
 */
async function checkDirectory(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await stat(dir);
  if (!info.isDirectory()) {
    throw new DataDirError('DATA_DIR_NOT_A_DIRECTORY', `data dir \`${dir}\` is not a directory`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new DataDirError(
      'DATA_DIR_PERMISSIONS',
      `data dir \`${dir}\` is open to other users (mode ${modeText(info.mode)}); run \`chmod 700 ${dir}\``,
    );
  }
  // Its owner can replace the key or the store whatever the mode says: it must be this user.
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new DataDirError(
      'DATA_DIR_PERMISSIONS',
      `data dir \`${dir}\` belongs to uid ${info.uid}, not to this user (uid ${uid}); use a data dir of your own`,
    );
  }
}

/** `pid (command line)` of the process that holds the data dir, as far as its pid file and /proc say. */
async function holderOf(dir: string): Promise<string> {
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(join(dir, DATA_DIR_FILES.pid), 'utf8'), 10);
  } catch {
    return 'another process (no pid file)';
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return 'another process (unreadable pid file)';
  try {
    const command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
    if (command) return `process ${pid} (\`${command.slice(0, 200)}\`)`;
  } catch {
    // not Linux, or the process is gone: the pid alone still says who it was
  }
  return `process ${pid}`;
}

/** Opens (and locks) the store file of `dir`; a store in use becomes `DATA_DIR_IN_USE` naming the holder. */
async function openStore(dir: string): Promise<SqliteKeyValueStore> {
  try {
    return SqliteKeyValueStore.open({ path: join(dir, DATA_DIR_FILES.store) });
  } catch (error) {
    if (error instanceof ZtError && error.code === 'STORE_IN_USE') {
      throw new DataDirError(
        'DATA_DIR_IN_USE',
        `data dir \`${dir}\` is in use by ${await holderOf(dir)}; stop it, or give another data dir`,
      );
    }
    throw error;
  }
}

/** Removes everything in `dir` but the (locked, open) store files, then empties the store. */
async function resetDirectory(dir: string, store: SqliteKeyValueStore): Promise<void> {
  const keep = new Set([
    DATA_DIR_FILES.store,
    `${DATA_DIR_FILES.store}-wal`,
    `${DATA_DIR_FILES.store}-journal`,
  ]);
  for (const name of await readdir(dir)) {
    if (!keep.has(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
  await store.clear();
}

/** The root keys recorded for this data dir, oldest first. */
function recordedRootKeys(store: SqliteKeyValueStore): RootKeyEntry[] {
  const text = store.getMeta(ROOT_KEYS_META);
  return text === null ? [] : (JSON.parse(text) as RootKeyEntry[]);
}

/**
 * The root key id a first-release chain (which recorded none) was signed under: the signer of its newest
 * session-key certificate, read from the `key` partition (one item per certified session key).
 */
async function rootOfFirstReleaseChain(store: SqliteKeyValueStore): Promise<string | null> {
  let newest: KeyRecord | null = null;
  for await (const data of scanPartition(store, 'key')) {
    const certificate = (JSON.parse(data) as { certificate?: KeyRecord }).certificate;
    if (certificate && (newest === null || certificate.seq > newest.seq)) newest = certificate;
  }
  return newest?.signing_key_id ?? null;
}

/** Writes `root-public-keys.pem`: every root public key of the chain, oldest first (replaced atomically). */
async function writeRootPublicKeys(dir: string, keys: RootKeyEntry[]): Promise<void> {
  const path = join(dir, DATA_DIR_FILES.rootPublicKeys);
  const text = keys
    .map((k) => `# ${k.keyId} (root since ${k.since})\n${k.publicKeyPem.trimEnd()}\n`)
    .join('');
  await writeFile(`${path}.tmp`, text, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/**
 * Checks that `signer` is the root key this data dir's chain was signed under and records it when the
 * chain recorded none yet. A different key is `ROOT_KEY_MISMATCH`: with it the chain would no longer
 * verify against one root, so only an explicit rotation may change it.
 */
async function checkRootIdentity(
  dir: string,
  store: SqliteKeyValueStore,
  signer: InMemoryP256Signer,
  chainExists: boolean,
  clock: Clock,
): Promise<void> {
  // Without a chain no record was signed under any root yet: whatever key is there becomes the root.
  const keys = chainExists ? recordedRootKeys(store) : [];
  const expected = keys.at(-1)?.keyId ?? (chainExists ? await rootOfFirstReleaseChain(store) : null);
  if (expected !== null && expected !== signer.keyId) {
    throw new DataDirError(
      'ROOT_KEY_MISMATCH',
      `signing key \`${join(dir, DATA_DIR_FILES.rootKey)}\` is \`${signer.keyId}\` but this data dir's chain is signed by root \`${expected}\`; put that key back, or run \`zt-local rotate-key --old-key-lost\` to chain a new root`,
    );
  }
  if (keys.length === 0) {
    keys.push({ keyId: signer.keyId, publicKeyPem: signer.publicKeyPem, since: clock.now().toISOString() });
    if (store.getMeta(ROOT_KEYS_META) !== JSON.stringify(keys)) {
      await store.setMeta(ROOT_KEYS_META, JSON.stringify(keys));
    }
  }
  await writeRootPublicKeys(dir, keys);
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * The data dir steps every command shares: check the directory, lock the store (on disk), reset it when
 * asked, migrate a first-release store. The caller closes the returned store on failure of what follows.
 */
async function openLocked(
  options: OpenDataDirOptions,
): Promise<{ dir: string; store: SqliteKeyValueStore; release: () => Promise<void> }> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  await checkDirectory(dir);
  const store = options.inMemory ? SqliteKeyValueStore.open() : await openStore(dir);
  const pidFile = join(dir, DATA_DIR_FILES.pid);
  const release = async (): Promise<void> => {
    await store.close();
    if (options.inMemory) return;
    // only our own pid file: after a lost lock race it names the other process
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    if (text.trim() === String(process.pid)) await unlink(pidFile).catch(() => undefined);
  };
  try {
    if (options.reset) await resetDirectory(dir, store);
    if (!options.inMemory) {
      await writeFile(pidFile, `${process.pid}\n`, { mode: 0o600 });
      const migrated = await migrateFirstReleaseStore(dir, store, () => (options.clock ?? systemClock).now());
      if (migrated) {
        log({ level: 'info', msg: 'first-release store copied into store.sqlite', ...migrated });
      }
    }
    return { dir, store, release };
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/**
 * Opens the emulator's data dir: refuses a directory open to other users, takes the store's exclusive
 * lock (a second emulator fails at once with `DATA_DIR_IN_USE`, naming the holder's pid), copies a
 * first-release dynalite store into SQLite once, and loads the root key, creating one only for a data
 * dir without a chain (`ROOT_KEY_MISSING` otherwise: a new key would leave the old chain unverifiable)
 * and refusing a key that is not the chain's root (`ROOT_KEY_MISMATCH`). Rotation is `rotateRootKey`.
 */
export async function openDataDir(options: OpenDataDirOptions): Promise<DataDir> {
  const clock = options.clock ?? systemClock;
  const { dir, store, release } = await openLocked(options);
  try {
    const keyPath = join(dir, DATA_DIR_FILES.rootKey);
    if (await fileExists(join(dir, DATA_DIR_FILES.rotatingKey))) {
      throw new DataDirError(
        'ROTATION_INTERRUPTED',
        `a key rotation of data dir \`${dir}\` did not finish (\`${DATA_DIR_FILES.rotatingKey}\` is there); run \`zt-local rotate-key\` again to finish it`,
      );
    }
    const chainExists = store.hasPartitionWithPrefix('chain#');
    let signer = await loadRootKey(keyPath);
    if (signer === null) {
      if (chainExists) {
        throw new DataDirError(
          'ROOT_KEY_MISSING',
          `data dir \`${dir}\` holds a chain but its root key \`${keyPath}\` is missing; restore the key file, or run \`zt-local rotate-key --old-key-lost\` to chain a new root (verifiers then need both root public keys)`,
        );
      }
      signer = InMemoryP256Signer.generate();
      await writeRootKey(keyPath, signer);
    }
    await checkRootIdentity(dir, store, signer, chainExists, clock);
    return { dir, store, rootSigner: signer, close: release };
  } catch (error) {
    await release().catch(() => undefined);
    throw error;
  }
}

/** What a rotation did. */
export interface RootKeyRotation {
  /** The root the chain was signed under before, when known. */
  previousKeyId: string | null;
  newKeyId: string;
  /** Who signed the `kind: key` record certifying the new root: the previous root, or the new one itself. */
  certifiedBy: 'previous-root' | 'new-root';
  /** seq of that record in chain `main`. */
  seq: number;
  /** Where the previous private key was moved (null when it was missing). */
  retiredKeyFile: string | null;
  rootPublicKeysFile: string;
  /** False when the previous root's public key is not known here (lost key, no record of it). */
  previousPublicKeyListed: boolean;
}

/**
 * Replaces the data dir's root key with a new one and chains a `kind: key` record certifying it, so the
 * handover is on the record. With the previous key at hand (the normal case) that record is signed by
 * the previous root: a verifier that trusts the previous root sees who handed over to whom. With the
 * previous key lost or replaced (`oldKeyLost`, required then) the record is signed by the new root
 * itself. Either way a verifier of the whole chain trusts both root public keys, which
 * `root-public-keys.pem` lists (oldest first) whenever the previous one is known.
 *
 * Needs the data dir to itself (the emulator stopped): it takes the same lock. Steps, each safe to
 * repeat: the new key is written as `signing-key.pem.rotating`; the record is chained; the root is
 * recorded in the store; the previous key file is renamed `signing-key.retired-<id>.pem` and the new
 * one put in place. A rotation that stopped midway is finished by running it again: it reuses the
 * waiting key, and its record when that landed (nothing else appends while the lock is held).
 */
export async function rotateRootKey(options: {
  dir: string;
  oldKeyLost?: boolean;
  clock?: Clock;
  log?: (line: Record<string, unknown>) => void;
}): Promise<RootKeyRotation> {
  const clock = options.clock ?? systemClock;
  const { dir, store, release } = await openLocked({
    dir: options.dir,
    ...(options.log ? { log: options.log } : {}),
  });
  try {
    const keyPath = join(dir, DATA_DIR_FILES.rootKey);
    const rotatingPath = join(dir, DATA_DIR_FILES.rotatingKey);
    const chainExists = store.hasPartitionWithPrefix('chain#');
    const waiting = await loadRootKey(rotatingPath);
    const next = waiting ?? InMemoryP256Signer.generate();
    const history = recordedRootKeys(store);
    const previousRootId =
      [...history].reverse().find((k) => k.keyId !== next.keyId)?.keyId ??
      (chainExists ? await rootOfFirstReleaseChain(store) : null);
    const previous = await loadRootKey(keyPath);
    const previousIsRoot =
      previous !== null &&
      previous.keyId !== next.keyId &&
      (previousRootId === null || previous.keyId === previousRootId);

    const [newest] = await store.query('chain#main', { limit: 1, descending: true });
    const newestRecord = newest ? (JSON.parse(newest.data) as Partial<KeyRecord>) : null;
    let seq: number;
    let certifiedBy: RootKeyRotation['certifiedBy'];
    if (newestRecord?.kind === 'key' && newestRecord.certified_key_id === next.keyId && newestRecord.seq) {
      // an earlier run chained it and stopped before the files moved
      seq = newestRecord.seq;
      certifiedBy = newestRecord.signing_key_id === next.keyId ? 'new-root' : 'previous-root';
    } else {
      if (chainExists && !previousIsRoot && !options.oldKeyLost) {
        throw new DataDirError(
          previous === null ? 'ROOT_KEY_MISSING' : 'ROOT_KEY_MISMATCH',
          previous === null
            ? `root key \`${keyPath}\` is missing, so it cannot certify the new key; run \`zt-local rotate-key --old-key-lost\` to chain a new root that certifies itself`
            : `root key \`${keyPath}\` is not the root of this data dir's chain (\`${previousRootId}\`), so it cannot certify the new key; restore the root key, or run \`zt-local rotate-key --old-key-lost\``,
        );
      }
      // INVARIANT: the new private key is on disk before any record names it.
      if (waiting === null) await writeRootKey(rotatingPath, next);
      const certifier = previousIsRoot ? previous : next;
      const notBefore = clock.now();
      // The emulator's lane, taken over (the data dir lock is held); signed by the certifying root itself.
      const writer = new LaneWriter(
        store,
        clock,
        { certificateFor: async () => null, signerFor: async () => certifier },
        { lane: 'main' },
      );
      const appended = await writer.append({
        principalArn: EMULATOR_PRINCIPAL,
        build: () => ({
          kind: 'key',
          certified_key_id: next.keyId,
          certified_public_key_pem: next.publicKeyPem,
          not_before: notBefore.toISOString(),
          // a trusted root has no window; for a verifier trusting only the previous root it is a
          // short-lived key that may certify nothing, so the chain after the handover fails there
          not_after: new Date(notBefore.getTime() + 60 * 60 * 1000).toISOString(),
        }),
      });
      seq = appended.record.seq;
      certifiedBy = certifier === next ? 'new-root' : 'previous-root';
    }

    if (history.at(-1)?.keyId !== next.keyId) {
      const since = clock.now().toISOString();
      if (history.length === 0 && previousIsRoot) {
        history.push({ keyId: previous.keyId, publicKeyPem: previous.publicKeyPem, since });
      }
      history.push({ keyId: next.keyId, publicKeyPem: next.publicKeyPem, since });
      await store.setMeta(ROOT_KEYS_META, JSON.stringify(history));
    }

    let retiredKeyFile: string | null = null;
    if (previous !== null && previous.keyId !== next.keyId) {
      const id = previous.keyId.slice('sha256:'.length, 'sha256:'.length + 16);
      retiredKeyFile = join(dir, `signing-key.retired-${id}.pem`);
      await rename(keyPath, retiredKeyFile);
    }
    if (await fileExists(rotatingPath)) await rename(rotatingPath, keyPath);
    await writeRootPublicKeys(dir, history);
    return {
      previousKeyId: previousRootId ?? previous?.keyId ?? null,
      newKeyId: next.keyId,
      certifiedBy,
      seq,
      retiredKeyFile,
      rootPublicKeysFile: join(dir, DATA_DIR_FILES.rootPublicKeys),
      previousPublicKeyListed: previousRootId === null || history.some((k) => k.keyId === previousRootId),
    };
  } finally {
    await release();
  }
}
