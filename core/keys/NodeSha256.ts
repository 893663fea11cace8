import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

/** What smithy's hashes take: text (UTF-8) or bytes. */
export type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytesOf(data: SourceData): Uint8Array | string {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * SHA-256, or HMAC-SHA-256 when built with a secret, over `node:crypto`, in the shape smithy's
 * `SignatureV4` takes for its `sha256` option (`@smithy/types` `Checksum`, `new (secret?) => ...`).
 *
 * Why not `@aws-crypto/sha256-js`: that is SHA-256 in JavaScript, and a SigV4 signature computes four
 * or five hashes and HMACs; OpenSSL's halves the cost of signing a request (on both sides: the SDK signs,
 * the emulator checks). Text is hashed as UTF-8, as every AWS signer does. The secret is copied (the
 * HMAC must restart on `reset`): the caller's buffer is never held. A `KeyObject` would hide it better
 * but costs as much as the HMAC itself, and SigV4 makes four of them per request.
 */
export class NodeSha256 {
  readonly digestLength = 32;
  readonly #key: Buffer | null;
  #hash: Hash | Hmac;
  #digest: Promise<Uint8Array> | null = null;

  constructor(secret?: SourceData) {
    const key = secret === undefined ? undefined : bytesOf(secret);
    this.#key =
      key === undefined ? null : typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    this.#hash = this.#start();
  }

  #start(): Hash | Hmac {
    return this.#key === null ? createHash('sha256') : createHmac('sha256', this.#key);
  }

  /** Adds bytes, or text as UTF-8. Throws once {@link digest} was called (until {@link reset}). */
  update(data: SourceData): void {
    if (this.#digest !== null) throw new Error('sha-256 already digested: call reset() before updating');
    const bytes = bytesOf(data);
    if (typeof bytes === 'string') this.#hash.update(bytes, 'utf8');
    else this.#hash.update(bytes);
  }

  /** The 32-byte digest of everything added since construction or {@link reset}; the same on every call. */
  digest(): Promise<Uint8Array> {
    if (this.#digest === null) {
      const out = this.#hash.digest();
      this.#digest = Promise.resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    }
    return this.#digest;
  }

  /** Starts over, with the same secret for an HMAC. */
  reset(): void {
    this.#hash = this.#start();
    this.#digest = null;
  }
}
