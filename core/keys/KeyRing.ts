import type { KeyRecord } from '../model/records.js';
import type { LaneCertificate, LaneSigner } from '../ports/ports.js';
import { type KeyValueStore, type Signer, scanPartition } from '../ports/ports.js';
import { P_KEYS } from '../ports/storageLayout.js';
import { type ValidityWindow, windowCovers } from './keyTrust.js';
import { InMemoryP256Signer } from './signing.js';

/** A public key the gateway signs with, as `GET /keys` lists it. */
export interface PublicKeyInfo {
  keyId: string;
  role: 'root' | 'session';
  publicKeyPem: string;
  notBefore?: string;
  notAfter?: string;
  arn?: string;
  /**
   * For a session key: the `kind: key` record that certified it, as stored in the chain. A client
   * trusts the session key only after checking this record's hash and its root signature.
   */
  certificate?: KeyRecord;
}

const KEY_PARTITION = P_KEYS;

export interface KeyRingOptions {
  /** How long a session key is certified for. DESIGN: at most an hour. */
  sessionTtlMs?: number;
  /** A new session key is certified when less than this remains. */
  renewBeforeMs?: number;
  /** The gateway's own principal, written as `principal_arn` of key records. */
  gatewayPrincipal: string;
  /** KMS key ARN of the root, listed by `GET /keys` in the cloud. */
  rootArn?: string;
}

interface Session {
  signer: Signer;
  notBefore: Date;
  notAfter: Date;
  /** The certified window, as every verifier reads it (core/keys/keyTrust.ts). */
  window: ValidityWindow;
  /** The lane whose `kind: key` record certifies it: a session key signs only in that lane. */
  lane: string;
}

/**
 * The root key and the current session key. The root key (KMS in the cloud, the key file locally)
 * only certifies session keys and signs checkpoints; a session key, made in memory and never
 * exported, signs the records. Certifying is itself a chained `kind: key` record signed by the root,
 * appended by the lane writer in the same transaction as the first records the new key signs.
 */
export class KeyRing implements LaneSigner {
  /** The session key whose certificate is in the chain. */
  #session: Session | null = null;
  /** A session key whose certificate is being written (a retried batch certifies the same key again). */
  #candidate: Session | null = null;
  readonly #ttl: number;
  readonly #renewBefore: number;

  constructor(
    readonly root: Signer,
    private readonly store: KeyValueStore,
    private readonly options: KeyRingOptions,
  ) {
    this.#ttl = options.sessionTtlMs ?? 60 * 60 * 1000;
    this.#renewBefore = options.renewBeforeMs ?? 5 * 60 * 1000;
  }

  /**
   * The certificate to append first in `lane`, or null when the session key certified there covers
   * `now` with margin. A new session key is made for a new lane or near the end of the window, so each
   * key has one certificate, in the one lane it signs in.
   */
  async certificateFor(lane: string, now: Date): Promise<LaneCertificate | null> {
    const t = now.getTime();
    const fresh = (s: Session | null): s is Session =>
      s !== null &&
      s.lane === lane &&
      t >= s.notBefore.getTime() &&
      t < s.notAfter.getTime() - this.#renewBefore;
    if (fresh(this.#session)) return null;
    if (!fresh(this.#candidate)) {
      const signer = InMemoryP256Signer.generate();
      // Window starts a little in the past so a record timestamped in the same millisecond fits.
      const notBefore = new Date(t - 1000);
      const notAfter = new Date(t + this.#ttl);
      this.#candidate = {
        signer,
        notBefore,
        notAfter,
        window: { notBefore: notBefore.getTime(), notAfter: notAfter.getTime() },
        lane,
      };
    }
    const candidate = this.#candidate;
    return {
      fields: {
        kind: 'key',
        certified_key_id: candidate.signer.keyId,
        certified_public_key_pem: candidate.signer.publicKeyPem,
        not_before: candidate.notBefore.toISOString(),
        not_after: candidate.notAfter.toISOString(),
      },
      signer: this.root,
      principal: this.options.gatewayPrincipal,
      // The chain record is the certificate; this item only makes `GET /keys` cheap.
      extra: (record) => {
        const info: PublicKeyInfo = {
          keyId: candidate.signer.keyId,
          role: 'session',
          publicKeyPem: candidate.signer.publicKeyPem,
          notBefore: candidate.notBefore.toISOString(),
          notAfter: candidate.notAfter.toISOString(),
          certificate: record as KeyRecord,
        };
        return [{ op: 'put', pk: KEY_PARTITION, sk: candidate.signer.keyId, data: JSON.stringify(info) }];
      },
      landed: () => {
        this.#session = candidate;
        if (this.#candidate === candidate) this.#candidate = null;
      },
    };
  }

  /**
   * The session signer certified in `lane` for `timestamp` (or the one being certified in the same
   * transaction); rejects when none covers it. The window test is the verifiers' own (`windowCovers`,
   * half-open), so the signer never signs a record that a verifier would refuse for its time.
   */
  signerFor = async (lane: string, timestamp: Date): Promise<Signer> => {
    for (const s of [this.#session, this.#candidate]) {
      if (s && s.lane === lane && windowCovers(s.window, timestamp.getTime())) return s.signer;
    }
    throw new Error('no session key is certified for this lane and time');
  };

  /** The root key and every certified session key, newest last. */
  async publicKeys(): Promise<PublicKeyInfo[]> {
    const root: PublicKeyInfo = {
      keyId: this.root.keyId,
      role: 'root',
      publicKeyPem: this.root.publicKeyPem,
    };
    if (this.options.rootArn) root.arn = this.options.rootArn;
    const sessions: PublicKeyInfo[] = [];
    for await (const data of scanPartition(this.store, KEY_PARTITION))
      sessions.push(JSON.parse(data) as PublicKeyInfo);
    sessions.sort((a, b) => (a.notBefore ?? '').localeCompare(b.notBefore ?? ''));
    return [root, ...sessions];
  }
}
