import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { keyIdOf } from '../../core/keys/index.js';
import type { Signer } from '../../core/ports/index.js';

/**
 * The root key in KMS (`ECC_NIST_P256`, `SIGN_VERIFY`): it certifies session keys and signs
 * checkpoints. The message's SHA-256 is computed here and sent as a `DIGEST`, so any message size
 * works and the signature is the same `ECDSA_SHA_256` one a local key makes over the message.
 */
export class KmsSigner implements Signer {
  private constructor(
    private readonly client: KMSClient,
    readonly keyArn: string,
    readonly keyId: string,
    readonly publicKeyPem: string,
  ) {}

  /** Fetches and checks the public key once (cold start). */
  static async create(client: KMSClient, keyArn: string): Promise<KmsSigner> {
    const out = await client.send(new GetPublicKeyCommand({ KeyId: keyArn }));
    if (out.KeySpec !== 'ECC_NIST_P256' || out.KeyUsage !== 'SIGN_VERIFY' || !out.PublicKey) {
      throw new Error(`KMS key \`${keyArn}\` must be an ECC_NIST_P256 SIGN_VERIFY key`);
    }
    const key = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
    const pem = key.export({ type: 'spki', format: 'pem' }).toString();
    return new KmsSigner(client, out.KeyId ?? keyArn, keyIdOf(key), pem);
  }

  async sign(message: Uint8Array): Promise<string> {
    const digest = createHash('sha256').update(message).digest();
    const out = await this.client.send(
      new SignCommand({
        KeyId: this.keyArn,
        Message: digest,
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    if (!out.Signature) throw new Error('KMS returned no signature');
    return Buffer.from(out.Signature).toString('base64');
  }
}
