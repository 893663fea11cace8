import { createHash } from 'node:crypto';
import canonicalizeJson from 'canonicalize';

/**
 * RFC 8785 (JCS) canonical JSON. Rejects what JCS cannot represent (NaN, Infinity, lone surrogates)
 * and, for audit data, any non-integer number: records never carry floats.
 */
export function canonicalize(value: unknown): string {
  assertNoFloats(value, '$');
  const text = canonicalizeJson(value);
  if (text === undefined) throw new TypeError('value cannot be canonicalized');
  return text;
}

function assertNoFloats(value: unknown, path: string): void {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`non-integer number at \`${path}\``);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      assertNoFloats(v, `${path}[${i}]`);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) assertNoFloats(v, `${path}.${k}`);
  }
}

/** Lower-case hex SHA-256 of a string (UTF-8) or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * RFC 8785 canonical JSON of caller-supplied data (context, params), where floats are legitimate.
 * Still rejects NaN, Infinity and lone surrogates.
 */
export function canonicalizeData(value: unknown): string {
  const text = canonicalizeJson(value);
  if (text === undefined) throw new TypeError('value cannot be canonicalized');
  return text;
}

/** SHA-256 hex of the canonical JSON of caller data; `undefined` hashes as canonical `null`. */
export function canonicalSha256(value: unknown): string {
  return sha256Hex(canonicalizeData(value ?? null));
}
