import { constants } from 'node:fs';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { ZtError } from '../core/errors/index.js';
import { InMemoryP256Signer } from '../core/keys/index.js';

/** A data dir or root key that the emulator refuses to start with; `code` says which rule. */
export class DataDirError extends ZtError {}

/**
 * Loads the local root signing key (PKCS#8 PEM, P-256), or returns null when the file does not exist.
 * A key file other users can read or write is refused (`ROOT_KEY_PERMISSIONS`): whoever reads it can
 * forge the whole log. The mode bits are checked as they are, so running as root changes nothing.
 */
export async function loadRootKey(path: string): Promise<InMemoryP256Signer | null> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  if ((mode & 0o077) !== 0) {
    throw new DataDirError(
      'ROOT_KEY_PERMISSIONS',
      `signing key \`${path}\` is readable or writable by other users (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``,
    );
  }
  return InMemoryP256Signer.fromPem(await readFile(path, 'utf8'));
}

/** Writes `signer`'s private key to a new file, mode 0600, synced; fails if the file exists. */
export async function writeRootKey(path: string, signer: InMemoryP256Signer): Promise<void> {
  // O_EXCL: two processes starting at once must not overwrite each other's key.
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(signer.exportPrivateKeyPem());
    await handle.sync();
  } finally {
    await handle.close();
  }
  // the umask may have narrowed 0600 further, never widened it; make it exactly 0600
  await chmod(path, 0o600);
}

/**
 * Loads the local root signing key or creates it with mode 0600. Callers that may face a data dir whose
 * chain was signed by a key that is now missing check that first (`openDataDir`): creating a new key
 * there would leave the old chain unverifiable.
 */
export async function loadOrCreateRootKey(
  path: string,
): Promise<{ signer: InMemoryP256Signer; created: boolean }> {
  const existing = await loadRootKey(path);
  if (existing) return { signer: existing, created: false };
  const signer = InMemoryP256Signer.generate();
  await writeRootKey(path, signer);
  return { signer, created: true };
}
