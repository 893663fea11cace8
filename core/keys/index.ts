/**
 * core/keys: Signing and key trust: record hashing and ECDSA P-256 signatures, the root-certified session keys
 * (`KeyRing`), the one rule deciding which key may sign what and when, and SHA-256 for SigV4.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export type { PublicKeyInfo } from './KeyRing.js';
export { KeyRing } from './KeyRing.js';
export type { TrustedKey } from './keyTrust.js';
export { certifiedKeyOf, KeyTrust, KeyTrustError, parseP256PublicKey, short } from './keyTrust.js';
export { NodeSha256 } from './NodeSha256.js';
export {
  computeRecordHash,
  InMemoryP256Signer,
  keyIdOf,
  recordSigningPayload,
  signRecord,
  verifySignature,
} from './signing.js';
