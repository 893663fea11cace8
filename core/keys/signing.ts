import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { canonicalize, sha256Hex } from '../model/canonical.js';
import { type AuditRecord, SIGNATURE_ALGORITHM, type UnsignedRecord } from '../model/records.js';
import type { Signer } from '../ports/ports.js';

/** `sha256:` + hex SHA-256 of the key's SPKI DER: an id that proves itself. */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  return `sha256:${sha256Hex(key.export({ type: 'spki', format: 'der' }))}`;
}

/** The canonical bytes a record's hash and signature cover: the record without `current_hash`, `kms_signature`. */
export function recordSigningPayload(record: UnsignedRecord | AuditRecord): string {
  const { current_hash: _h, kms_signature: _s, ...rest } = record as AuditRecord;
  return canonicalize(rest);
}

/** SHA-256 hex of the canonical JSON of a record without `current_hash` and `kms_signature`. */
export function computeRecordHash(record: UnsignedRecord | AuditRecord): string {
  return sha256Hex(recordSigningPayload(record));
}

/** Hashes and signs a record with `signer`; `signing_key_id` must already name the signer. */
export async function signRecord(unsigned: UnsignedRecord, signer: Signer): Promise<AuditRecord> {
  if (unsigned.signing_key_id !== signer.keyId) {
    throw new Error(
      `record names signing key \`${unsigned.signing_key_id}\` but the signer is \`${signer.keyId}\``,
    );
  }
  const payload = recordSigningPayload(unsigned);
  const signature = await signer.sign(Buffer.from(payload, 'utf8'));
  return {
    ...unsigned,
    current_hash: sha256Hex(payload),
    kms_signature: { algorithm: SIGNATURE_ALGORITHM, key_id: signer.keyId, signature },
  } as AuditRecord;
}

/** Verifies a base64 DER ECDSA P-256 signature over SHA-256(message). Never throws. */
export function verifySignature(
  publicKey: KeyObject,
  message: Uint8Array | string,
  signatureB64: string,
): boolean {
  try {
    const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
    return cryptoVerify('sha256', bytes, publicKey, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}

/**
 * A P-256 key held in this process: the local root key (loaded from its file by `local/`)
 * and every session key. The private key never leaves the object.
 */
export class InMemoryP256Signer implements Signer {
  readonly keyId: string;
  readonly publicKeyPem: string;
  readonly #privateKey: KeyObject;

  constructor(privateKey: KeyObject) {
    if (
      privateKey.asymmetricKeyType !== 'ec' ||
      privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
    ) {
      throw new Error('signing key must be an EC P-256 private key');
    }
    this.#privateKey = privateKey;
    const pub = createPublicKey(privateKey);
    this.publicKeyPem = pub.export({ type: 'spki', format: 'pem' }).toString();
    this.keyId = keyIdOf(pub);
  }

  static generate(): InMemoryP256Signer {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return new InMemoryP256Signer(privateKey);
  }

  static fromPem(pem: string): InMemoryP256Signer {
    return new InMemoryP256Signer(createPrivateKey(pem));
  }

  /** PKCS#8 PEM of the private key, for writing the local root key file. */
  exportPrivateKeyPem(): string {
    return this.#privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(message: Uint8Array): Promise<string> {
    return cryptoSign('sha256', message, this.#privateKey).toString('base64');
  }
}
