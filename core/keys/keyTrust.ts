import { createPublicKey, type KeyObject } from 'node:crypto';
import { ZtError } from '../errors/errors.js';
import { sha256Hex } from '../model/canonical.js';
import { canonicalRecordParts } from '../model/canonicalRecord.js';
import { RecordFormatError } from '../model/recordFormat.js';
import { validateAuditRecord } from '../model/recordParser.js';
import type { AuditRecord, KeyRecord } from '../model/records.js';
import { keyIdOf, verifySignature } from './signing.js';

/**
 * The key-trust rule, written once and used by every party that signs or checks a record: the chain
 * verifier, receipts, the SDK and the signer itself (`KeyRing`). DESIGN.md "Signing keys", invariant 5.
 *
 *   1. Roots are the P-256 public keys the caller pins, and nothing else: no record, listing or
 *      certificate can add a root.
 *   2. A session key is trusted only through a `kind: key` record that certifies it: the record hashes to
 *      its `current_hash`, names one signing key (`signing_key_id` = `kms_signature.key_id`), that key is
 *      a root, the root's signature verifies, `certified_public_key_pem` is an SPKI P-256 key whose id is
 *      `certified_key_id`, and the window is not empty. A session key cannot certify a key.
 *   3. A certified key is valid for a record whose `timestamp` t lies in the half-open window
 *      `not_before <= t < not_after`: exactly at `not_after` it is no longer valid. The signer refuses
 *      to sign at that instant, and every verifier refuses a record dated then.
 */

/** A certified validity window, in ms since the epoch: `[notBefore, notAfter)`. */
export interface ValidityWindow {
  notBefore: number;
  notAfter: number;
}

/**
 * True when `at` (ms since the epoch) lies in `window`.
 *
 * INVARIANT: the window is half-open, `[notBefore, notAfter)`, for the signer and every verifier alike.
 */
export function windowCovers(window: ValidityWindow, at: number): boolean {
  return at >= window.notBefore && at < window.notAfter;
}

/** The window a key record certifies (`not_before`, `not_after` parsed). */
export function windowOf(record: Pick<KeyRecord, 'not_before' | 'not_after'>): ValidityWindow {
  return { notBefore: Date.parse(record.not_before), notAfter: Date.parse(record.not_after) };
}

/** An SPKI `PUBLIC KEY` PEM block, and nothing around it. */
const PUBLIC_KEY_PEM = /^-----BEGIN PUBLIC KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END PUBLIC KEY-----\r?\n?$/;

/** Parses a P-256 public key (SPKI PEM); throws an `Error` saying what it is instead. */
export function parseP256PublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.type !== 'public') throw new Error(`expected a public key, got a ${key.type} key`);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`expected an EC P-256 public key, got ${key.asymmetricKeyType ?? 'an unknown key type'}`);
  }
  return key;
}

/** The key a key record certifies, when its PEM is an SPKI P-256 key whose id is `certified_key_id`. */
export function certifiedKeyOf(
  record: Pick<KeyRecord, 'certified_public_key_pem' | 'certified_key_id'>,
): { keyId: string; pem: string; publicKey: KeyObject } | { error: string } {
  const pem = record.certified_public_key_pem;
  let publicKey: KeyObject;
  try {
    if (!PUBLIC_KEY_PEM.test(pem)) throw new Error('not an SPKI `PUBLIC KEY` PEM');
    publicKey = parseP256PublicKey(pem);
  } catch (e) {
    return { error: `certified_public_key_pem is unusable: ${e instanceof Error ? e.message : String(e)}` };
  }
  const actual = keyIdOf(publicKey);
  if (actual !== record.certified_key_id) {
    return {
      error: `certified_key_id ${short(record.certified_key_id)} is not the id of the certified key, ${short(actual)}`,
    };
  }
  return { keyId: actual, pem, publicKey };
}

/** A key id shortened for messages: `sha256:0123456789ab…`. */
export function short(keyId: string): string {
  return `\`${keyId.slice(0, 19)}…\``;
}

/** A key the trust set knows: a pinned root, or a session key with its certified windows. */
export interface TrustedKey {
  keyId: string;
  role: 'root' | 'session';
  /** Parsed once: re-parsing a key costs about three verifications. */
  publicKey: KeyObject;
  publicKeyPem: string;
  /** Certified windows; empty for a root, which needs none. */
  windows: ValidityWindow[];
}

/** Why a certificate was not accepted. */
export type CertificateCode = 'CERTIFICATE_INVALID' | 'CERTIFICATE_NOT_ROOT_SIGNED';

export type CertificateVerdict =
  | { ok: true; keyId: string }
  | { ok: false; code: CertificateCode; message: string };

/** Why no trusted key could check a record. */
export type KeyResolutionCode = 'UNKNOWN_SIGNING_KEY' | 'SESSION_KEY_OUTSIDE_WINDOW';

export type KeyResolution =
  | { ok: true; key: TrustedKey }
  | { ok: false; code: KeyResolutionCode; message: string };

/** A root key given to {@link KeyTrust} is not a P-256 public key: a usage error, not a finding. */
export class KeyTrustError extends ZtError {
  constructor(
    message: string,
    /** 0-based position of the bad key among those given. */
    readonly index: number,
  ) {
    super('INVALID_ROOT_KEY', message, { index });
  }
}

/**
 * The keys a verifier trusts, following the rule of this module: pinned roots, then session keys through
 * their certificates, each for its windows.
 *
 * INVARIANT: a key becomes trusted only as a root given to the constructor, or through a `kind: key`
 * record signed by one of those roots ({@link certify} after the caller checked hash and signature,
 * {@link addCertificate} checking them itself).
 */
export class KeyTrust {
  readonly #keys = new Map<string, TrustedKey>();
  readonly #rootIds: string[] = [];

  /** @throws KeyTrustError when a PEM is not a P-256 public key. */
  constructor(rootPublicKeyPems: readonly string[]) {
    rootPublicKeyPems.forEach((pem, i) => {
      let publicKey: KeyObject;
      try {
        publicKey = parseP256PublicKey(pem);
      } catch (e) {
        throw new KeyTrustError(
          `trusted root key ${i + 1} is not a P-256 public key PEM: ${e instanceof Error ? e.message : String(e)}`,
          i,
        );
      }
      const keyId = keyIdOf(publicKey);
      if (this.#keys.has(keyId)) return;
      this.#keys.set(keyId, { keyId, role: 'root', publicKey, publicKeyPem: pem, windows: [] });
      this.#rootIds.push(keyId);
    });
  }

  /** Ids of the root keys, in the order given. */
  get rootKeyIds(): string[] {
    return [...this.#rootIds];
  }

  /** True when `keyId` is a pinned root. */
  isRoot(keyId: string): boolean {
    return this.#keys.get(keyId)?.role === 'root';
  }

  /** A root or certified session key (whatever its windows), or undefined. */
  get(keyId: string): TrustedKey | undefined {
    return this.#keys.get(keyId);
  }

  /** True when `keyId` is a root or a certified session key (whatever its windows). */
  knows(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  /**
   * Adds the window a key record certifies, for a record whose hash and signature by `signerKeyId` the
   * caller has already checked (the chain verifier does so in its own steps). The signer must be a root;
   * the certified PEM must be a P-256 key with the id the record names; the window must not be empty.
   * Certifying a root changes nothing.
   */
  certify(
    record: Pick<KeyRecord, 'certified_key_id' | 'certified_public_key_pem' | 'not_before' | 'not_after'>,
    signerKeyId: string,
  ): CertificateVerdict {
    const signer = this.#keys.get(signerKeyId);
    if (signer?.role !== 'root') {
      return {
        ok: false,
        code: 'CERTIFICATE_NOT_ROOT_SIGNED',
        message: signer
          ? `the key record is signed by session key ${short(signerKeyId)}; only a root key can certify a key`
          : `the key record is signed by ${short(signerKeyId)}, which is not a trusted root key`,
      };
    }
    const known = this.#keys.get(record.certified_key_id);
    let publicKey: KeyObject;
    if (known && known.publicKeyPem === record.certified_public_key_pem) {
      publicKey = known.publicKey;
    } else {
      const certified = certifiedKeyOf(record);
      if ('error' in certified) return { ok: false, code: 'CERTIFICATE_INVALID', message: certified.error };
      publicKey = certified.publicKey;
    }
    const window = windowOf(record);
    if (!(window.notBefore < window.notAfter)) {
      return {
        ok: false,
        code: 'CERTIFICATE_INVALID',
        message: `validity window is inverted or empty: not_before ${record.not_before}, not_after ${record.not_after}`,
      };
    }
    if (known?.role === 'root') return { ok: true, keyId: known.keyId };
    const entry = known ?? {
      keyId: record.certified_key_id,
      role: 'session' as const,
      publicKey,
      publicKeyPem: record.certified_public_key_pem,
      windows: [],
    };
    if (!entry.windows.some((w) => w.notBefore === window.notBefore && w.notAfter === window.notAfter)) {
      entry.windows.push(window);
    }
    this.#keys.set(entry.keyId, entry);
    return { ok: true, keyId: entry.keyId };
  }

  /**
   * Checks a key record from outside a verified chain (a `GET /keys` certificate, a receipt's) in full:
   * schema, kind, hash, one signing key named, a root's valid signature, then {@link certify}.
   * `expectedKeyId`, when given, must be the certified key's id. Never throws on record input.
   */
  addCertificate(value: unknown, expectedKeyId?: string): CertificateVerdict {
    const invalid = (message: string): CertificateVerdict => ({
      ok: false,
      code: 'CERTIFICATE_INVALID',
      message,
    });
    let record: AuditRecord;
    let payload: string;
    try {
      record = validateAuditRecord(value);
      payload = canonicalRecordParts(record).payload;
    } catch (e) {
      if (e instanceof RecordFormatError)
        return invalid(`the certificate is not a valid record: ${e.message}`);
      throw e;
    }
    if (record.kind !== 'key')
      return invalid(`the certificate must be a \`key\` record, got \`${record.kind}\``);
    if (expectedKeyId !== undefined && record.certified_key_id !== expectedKeyId) {
      return invalid(
        `the certificate certifies ${short(record.certified_key_id)}, not ${short(expectedKeyId)}`,
      );
    }
    if (sha256Hex(payload) !== record.current_hash) {
      return invalid(`the certificate \`${record.id}\` does not hash to its \`current_hash\``);
    }
    const sig = record.kms_signature;
    const root = this.#keys.get(sig.key_id);
    if (root?.role !== 'root' || record.signing_key_id !== sig.key_id) {
      return {
        ok: false,
        code: 'CERTIFICATE_NOT_ROOT_SIGNED',
        message: `the certificate \`${record.id}\` is not signed by a trusted root key (signed by ${short(sig.key_id)})`,
      };
    }
    if (!verifySignature(root.publicKey, payload, sig.signature)) {
      return {
        ok: false,
        code: 'CERTIFICATE_NOT_ROOT_SIGNED',
        message: `the root signature of the certificate \`${record.id}\` does not verify`,
      };
    }
    return this.certify(record, root.keyId);
  }

  /**
   * The key that may check a record signed by `keyId` at `timestamp` (an ISO string or ms): a root, or a
   * session key with a certified window covering it ({@link windowCovers}).
   */
  resolve(keyId: string, timestamp: string | number): KeyResolution {
    const key = this.#keys.get(keyId);
    if (key === undefined) {
      return {
        ok: false,
        code: 'UNKNOWN_SIGNING_KEY',
        message: `signed by ${short(keyId)}, which is neither a trusted root key nor certified by a valid key record`,
      };
    }
    if (key.role === 'root') return { ok: true, key };
    const at = typeof timestamp === 'number' ? timestamp : Date.parse(timestamp);
    // A timestamp that does not parse (NaN) is covered by no window.
    if (key.windows.some((w) => windowCovers(w, at))) return { ok: true, key };
    const w = key.windows[key.windows.length - 1];
    const window = w
      ? ` [${new Date(w.notBefore).toISOString()}, ${new Date(w.notAfter).toISOString()})`
      : '';
    return {
      ok: false,
      code: 'SESSION_KEY_OUTSIDE_WINDOW',
      message: `timestamp ${Number.isNaN(at) ? String(timestamp) : new Date(at).toISOString()} is outside the certified window${window} of session key ${short(keyId)}`,
    };
  }
}
