import { constants } from 'node:fs';
import { chmod, open, readFile, stat } from 'node:fs/promises';
import { InMemoryP256Signer } from '../core/signing.js';

/**
 * Loads the local root signing key (PKCS#8 PEM, P-256) or creates it with mode 0600.
 * A key file other users can read is refused: whoever reads it can forge the whole log.
 */
export async function loadOrCreateRootKey(
  path: string,
): Promise<{ signer: InMemoryP256Signer; created: boolean }> {
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw new Error(
        `signing key \`${path}\` is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``,
      );
    }
    return { signer: InMemoryP256Signer.fromPem(await readFile(path, 'utf8')), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const signer = InMemoryP256Signer.generate();
  // O_EXCL: two emulators starting at once must not overwrite each other's key.
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(signer.exportPrivateKeyPem());
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(path, 0o600);
  return { signer, created: true };
}
