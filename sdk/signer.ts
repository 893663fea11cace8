import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../core/keys/index.js';

/** AWS credentials, as every AWS SDK shapes them. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When temporary credentials stop working; absent for long-lived keys. */
  expiration?: Date;
}

/** A request to sign: an absolute URL, header names in any case, a string body or none. */
export interface UnsignedRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A signed request, ready to send as is: header names are lower-case. */
export interface SignedRequest {
  method: string;
  /** The URL as parsed and re-serialized, i.e. exactly what was signed. */
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** How to sign. */
export interface SignOptions {
  credentials: AwsCredentials;
  region: string;
  /** The SigV4 service name; the gateway (API Gateway IAM auth and the emulator) uses `execute-api`. */
  service?: 'execute-api';
  /** The signing time; defaults to the current time. Fix it for reproducible signatures. */
  now?: Date;
}

/**
 * Headers the signer owns: a caller's value would be replaced, or (for `x-amz-content-sha256`) would be
 * trusted instead of hashing the body, which the gateway never does.
 */
const SIGNER_OWNED_HEADERS = new Set([
  'authorization',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
]);

/**
 * Signs a request with AWS Signature Version 4 (header form) for the gateway.
 *
 * Pure: no I/O; the same input (with `now` fixed) gives the same output. It sets `host` from the URL and
 * `content-type: application/json` when there is a body and no content type was given, then adds
 * `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization`.
 * The path is escaped once more for the canonical request (`uriEscapePath`), as every AWS service but S3
 * expects; no checksum header is added (`applyChecksum: false`), the payload hash is computed from the body.
 */
export async function signRequest(req: UnsignedRequest, opts: SignOptions): Promise<SignedRequest> {
  const url = new URL(req.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`cannot sign a request to \`${req.url}\`: expected an http or https URL`);
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    const lower = name.toLowerCase();
    if (!SIGNER_OWNED_HEADERS.has(lower)) headers[lower] = value;
  }
  headers['host'] = url.host;
  if (req.body !== undefined && headers['content-type'] === undefined) {
    headers['content-type'] = 'application/json';
  }

  const query: Record<string, string | string[]> = {};
  for (const [key, value] of url.searchParams) {
    const existing = query[key];
    if (existing === undefined) query[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else query[key] = [existing, value];
  }

  const { accessKeyId, secretAccessKey, sessionToken } = opts.credentials;
  const signer = new SignatureV4({
    credentials: sessionToken
      ? { accessKeyId, secretAccessKey, sessionToken }
      : { accessKeyId, secretAccessKey },
    region: opts.region,
    service: opts.service ?? 'execute-api',
    // OpenSSL's SHA-256 and HMAC: half the signing time of a JavaScript SHA-256.
    sha256: NodeSha256,
    uriEscapePath: true,
    applyChecksum: false,
  });
  const request = new HttpRequest({
    method: req.method.toUpperCase(),
    protocol: url.protocol,
    hostname: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    // The path as it goes on the wire (already percent-encoded once by URL); the signer encodes it again.
    path: url.pathname,
    query,
    headers,
    ...(req.body !== undefined ? { body: req.body } : {}),
  });
  const signed = await signer.sign(request, { signingDate: opts.now ?? new Date() });

  const out: SignedRequest = { method: request.method, url: url.toString(), headers: { ...signed.headers } };
  if (req.body !== undefined) out.body = req.body;
  return out;
}
