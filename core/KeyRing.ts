import type { ChainWriter } from './ChainWriter.js';
import { type ValidityWindow, windowCovers } from './keyTrust.js';
import { type Clock, type KeyValueStore, type Signer, scanPartition } from './ports.js';
import type { KeyRecord } from './records.js';
import { InMemoryP256Signer } from './signing.js';
import { P_KEYS } from './storageLayout.js';

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
  /** The certified window, as every verifier reads it (core/keyTrust.ts). */
  window: ValidityWindow;
}

/**
 * The root key and the current session key. The root key (KMS in the cloud, the key file locally)
 * only certifies session keys and signs checkpoints; a session key, made in memory and never
 * exported, signs the records. Certifying is itself a chained `kind: key` record signed by the root.
 */
export class KeyRing {
  #session: Session | null = null;
  #renewing: Promise<Session> | null = null;
  readonly #ttl: number;
  readonly #renewBefore: number;

  constructor(
    readonly root: Signer,
    private readonly writer: ChainWriter,
    private readonly store: KeyValueStore,
    private readonly clock: Clock,
    private readonly options: KeyRingOptions,
  ) {
    this.#ttl = options.sessionTtlMs ?? 60 * 60 * 1000;
    this.#renewBefore = options.renewBeforeMs ?? 5 * 60 * 1000;
  }

  /**
   * Makes sure a session key is certified for the next few minutes, certifying a new one when there
   * is none or the current one is inside its renewal margin. Call it *before* `ChainWriter.append`
   * (certifying appends a record itself, so it must not run inside an append). A failure to certify
   * (root signer or store down) rejects, and the caller answers deny without a record.
   */
  async ready(): Promise<void> {
    const now = this.clock.now().getTime();
    const s = this.#session;
    if (s && now >= s.notBefore.getTime() && now < s.notAfter.getTime() - this.#renewBefore) return;
    await this.#renew();
  }

  /**
   * The session signer certified for `timestamp`; rejects when no certified key covers it. The window
   * test is the verifiers' own (`windowCovers`, half-open), so the signer never signs a record that a
   * verifier would refuse for its time.
   */
  signerFor = async (timestamp: Date): Promise<Signer> => {
    const s = this.#session;
    if (!s || !windowCovers(s.window, timestamp.getTime())) {
      throw new Error('no session key is certified for this time');
    }
    return s.signer;
  };

  #renew(): Promise<Session> {
    this.#renewing ??= this.#certify().finally(() => {
      this.#renewing = null;
    });
    return this.#renewing;
  }

  async #certify(): Promise<Session> {
    const signer = InMemoryP256Signer.generate();
    // Window starts a little in the past so a record timestamped in the same millisecond fits.
    const start = this.clock.now();
    const notBefore = new Date(start.getTime() - 1000);
    const notAfter = new Date(start.getTime() + this.#ttl);
    const rootSigner = async () => this.root;
    const appended = await this.writer.append(
      {
        kind: 'key',
        certified_key_id: signer.keyId,
        certified_public_key_pem: signer.publicKeyPem,
        not_before: notBefore.toISOString(),
        not_after: notAfter.toISOString(),
      },
      this.options.gatewayPrincipal,
      rootSigner,
    );
    const info: PublicKeyInfo = {
      keyId: signer.keyId,
      role: 'session',
      publicKeyPem: signer.publicKeyPem,
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
      certificate: JSON.parse(appended.text) as KeyRecord,
    };
    // The chain record is the certificate; this item only makes `GET /keys` cheap.
    await this.store.put(KEY_PARTITION, signer.keyId, JSON.stringify(info));
    const session = {
      signer,
      notBefore,
      notAfter,
      window: { notBefore: notBefore.getTime(), notAfter: notAfter.getTime() },
    };
    this.#session = session;
    return session;
  }

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
