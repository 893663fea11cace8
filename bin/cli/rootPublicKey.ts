import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, parseP256PublicKey } from '../../core/keys/index.js';
import type { GatewayKey } from '../../sdk/GatewayClient.js';

/** The local root key file in a data dir (DESIGN.md "Running it"). */
export const ROOT_KEY_FILE = 'signing-key.pem';

/** A root public key and where it came from. */
export interface RootPublicKey {
  keyId: string;
  /** SPKI PEM: what `trustedKeys` of the SDK and `zt-audit --public-key` take. */
  publicKeyPem: string;
}

/**
 * The public half of the local root signing key, `<dataDir>/signing-key.pem` (a P-256 PKCS#8 PEM the
 * emulator wrote). Read from the file itself, not from the gateway: this is the trustworthy source of the
 * key to pin. Rejects with the file system's error (`ENOENT` when the emulator never ran there) or when
 * the file does not hold a P-256 key.
 */
export async function localRootPublicKey(dataDir: string): Promise<RootPublicKey & { path: string }> {
  const path = join(dataDir, ROOT_KEY_FILE);
  const text = await readFile(path, 'utf8');
  const publicKeyPem = createPublicKey(text).export({ type: 'spki', format: 'pem' }).toString();
  const key = parseP256PublicKey(publicKeyPem);
  return { keyId: keyIdOf(key), publicKeyPem, path };
}

/**
 * The root keys a `GET /keys` listing names, each checked to be a P-256 key whose id is the one listed.
 * Throws an `Error` naming the entry otherwise. Trusting them is up to the caller: the listing comes from
 * the gateway being trusted, so compare the key id out of band.
 */
export function listedRootPublicKeys(keys: GatewayKey[]): RootPublicKey[] {
  const roots = keys.filter((k) => k.role === 'root');
  if (roots.length === 0) throw new Error('`GET /keys` lists no root key');
  return roots.map((k) => {
    let keyId: string;
    try {
      keyId = keyIdOf(parseP256PublicKey(k.publicKeyPem));
    } catch (e) {
      throw new Error(
        `\`GET /keys\` lists root key \`${k.keyId}\` with an unusable public key: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (keyId !== k.keyId) {
      throw new Error(
        `\`GET /keys\` lists root key \`${k.keyId}\` but its public key has the id \`${keyId}\``,
      );
    }
    return { keyId, publicKeyPem: k.publicKeyPem.endsWith('\n') ? k.publicKeyPem : `${k.publicKeyPem}\n` };
  });
}
