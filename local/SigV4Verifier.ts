import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { getCanonicalHeaders, SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../core/keys/index.js';

/**
 * A request as the HTTP server received it, before any routing or body parsing.
 */
export interface IncomingSignedRequest {
  method: string;
  /** The raw path as received, without the query, still percent-encoded (never decoded). */
  path: string;
  /** The raw query string without `?`, still percent-encoded; `''` when there is none. */
  query: string;
  /**
   * Header names in lower case, as node gives them. Pass repeated headers as arrays (node's
   * `req.headersDistinct`) to have them joined with `,` as SigV4 does; node's `req.headers` joins some
   * of them with `, ` instead, which only matters if such a header is signed.
   */
  headers: Record<string, string | string[] | undefined>;
  /** The exact body bytes received (empty when there is none). */
  body: Uint8Array;
}

/** Finds the secret for an access key id; `null` when the key is unknown or disabled. */
export type CredentialLookup = (
  accessKeyId: string,
) => Promise<{ secretAccessKey: string; sessionToken?: string } | null>;

/** Why a request was not authenticated; stable, asserted on by tests and mapped (all to 403) at the edge. */
export type SigV4FailureCode =
  | 'MISSING_AUTHENTICATION'
  | 'MALFORMED_AUTHORIZATION'
  | 'UNKNOWN_ACCESS_KEY'
  | 'SIGNATURE_EXPIRED'
  | 'CREDENTIAL_SCOPE_MISMATCH'
  | 'HOST_MISMATCH'
  | 'SECURITY_TOKEN_MISMATCH'
  | 'SIGNATURE_MISMATCH';

/** The outcome of {@link verifySigV4}: a failure is a value, never an exception. */
export type SigV4Result =
  | { ok: true; accessKeyId: string }
  | { ok: false; code: SigV4FailureCode; message: string };

/** Options of {@link verifySigV4}. */
export interface VerifySigV4Options {
  /** The region the gateway answers for, e.g. `us-east-1`; the credential scope must name it. */
  region: string;
  /** The SigV4 service name, `execute-api` for the gateway; the credential scope must name it. */
  service: string;
  /** The server's clock (inject a fixed date in tests). */
  now: Date;
  lookup: CredentialLookup;
  /** How far the signing time may be from `now`, either way; 5 minutes by default. */
  maxSkewMs?: number;
  /**
   * The `host` values this server answers to, lower case, with the port as clients send it
   * (`127.0.0.1:8787`). When given, a request signed for any other host fails with `HOST_MISMATCH`, so a
   * signature made for another server (or another port) cannot be replayed here.
   */
  allowedHosts?: ReadonlySet<string>;
}

const DEFAULT_MAX_SKEW_MS = 5 * 60 * 1000;
const ALGORITHM = 'AWS4-HMAC-SHA256';
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;
const AMZ_DATE_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** RFC 9110 IMF-fixdate, the form of an HTTP `Date` header: `Tue, 04 Mar 2025 05:06:07 GMT`. */
const HTTP_DATE_PATTERN =
  /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** RFC 9110 token characters, lower case only: SigV4 signed header names are lower-cased. */
const SIGNED_HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** An absolute path of printable ASCII: what a client puts on the wire after percent-encoding. */
const WIRE_PATH_PATTERN = /^\/[\x21-\x7e]*$/;
const MAX_SHOWN = 120;

interface ParsedAuthorization {
  accessKeyId: string;
  scopeDate: string;
  scopeRegion: string;
  scopeService: string;
  signedHeaders: string[];
  signature: string;
}

type Failure = { ok: false; code: SigV4FailureCode; message: string };

/**
 * Verifies an AWS Signature Version 4 `Authorization` header the way API Gateway REST `AWS_IAM`
 * authorization does, and says which access key signed the request.
 *
 * Pure apart from `lookup`: no clock (`now` is given), no network. Runs in fixed, ordered steps and
 * stops at the first failure: header present, header grammar, host, signing time, credential scope,
 * clock skew, key lookup, session token, payload hash, signed headers present, signature.
 *
 * The signing time is AWS's documented one: the `x-amz-date` header, or when there is none the `date`
 * header (`yyyymmddThhmmssZ`, or an HTTP date as AWS's own SigV4 test suite sends it); whichever is
 * used must be signed, lie within `maxSkewMs` of `now`, and have the credential scope's date as its date.
 *
 * The canonical request is `@smithy/signature-v4`'s, over exactly the signed headers, the raw path
 * (escaped once more, as every AWS service but S3 expects) and the decoded-then-re-encoded query; the
 * string to sign is built here, since smithy's `sign` replaces any `date` header with its own
 * `x-amz-date`. The body is always hashed here: a signed `x-amz-content-sha256` must equal the real
 * hash (the smithy signer would trust it instead). Headers that were not signed are ignored, as API
 * Gateway does.
 *
 * Every malformed input gives a failure result; only a failing `lookup` (broken infrastructure) rejects.
 */
export async function verifySigV4(
  req: IncomingSignedRequest,
  opts: VerifySigV4Options,
): Promise<SigV4Result> {
  const nowMs = opts.now.getTime();
  if (!Number.isFinite(nowMs)) throw new TypeError('cannot verify a signature: `now` is an invalid date');
  const maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;

  let headers: Map<string, string>;
  try {
    headers = normalizeHeaders(req.headers);
  } catch {
    return fail('MALFORMED_AUTHORIZATION', 'request headers are not readable: expected string header values');
  }

  // 1. The header, and its grammar.
  const authorization = headers.get('authorization');
  if (authorization === undefined) {
    return fail(
      'MISSING_AUTHENTICATION',
      'missing authorization header: expected `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`',
    );
  }
  const parsed = parseAuthorization(authorization);
  if (!('accessKeyId' in parsed)) return parsed;

  // 2. The host the client signed for is this server, not another one the signature was made for.
  const host = headers.get('host');
  if (opts.allowedHosts !== undefined && !opts.allowedHosts.has(String(host).toLowerCase())) {
    return fail(
      'HOST_MISMATCH',
      `signed host ${show(String(host))} is not this server: expected one of ${[...opts.allowedHosts].map(show).join(', ')}`,
    );
  }

  // 3. The request time: x-amz-date, or the date header when there is no x-amz-date (AWS's order).
  const timeHeader = headers.has('x-amz-date') ? 'x-amz-date' : headers.has('date') ? 'date' : null;
  if (timeHeader === null) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      'missing x-amz-date header (or date header): expected the signing time as yyyymmddThhmmssZ',
    );
  }
  const timeText = headers.get(timeHeader) as string;
  if (!parsed.signedHeaders.includes(timeHeader)) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      `signed headers ${show(parsed.signedHeaders.join(';'))} lack ${show(timeHeader)}: expected the header that carries the signing time to be signed`,
    );
  }
  const signingDate = timeHeader === 'x-amz-date' ? parseAmzDate(timeText) : parseDateHeader(timeText);
  if (signingDate === null) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      timeHeader === 'x-amz-date'
        ? `x-amz-date ${show(timeText)} is not a valid time: expected yyyymmddThhmmssZ`
        : `date ${show(timeText)} is not a valid time: expected yyyymmddThhmmssZ or an http date like \`Tue, 04 Mar 2025 05:06:07 GMT\``,
    );
  }
  const signingTime = formatAmzDate(signingDate);

  // 4. The credential scope: the date the key was derived for (the signing date), this region, this service.
  if (parsed.scopeDate !== signingTime.slice(0, 8)) {
    return fail(
      'CREDENTIAL_SCOPE_MISMATCH',
      `credential scope date ${show(parsed.scopeDate)} does not match ${timeHeader} ${show(timeText)}: expected ${show(signingTime.slice(0, 8))}`,
    );
  }
  if (parsed.scopeRegion !== opts.region) {
    return fail(
      'CREDENTIAL_SCOPE_MISMATCH',
      `credential scope region ${show(parsed.scopeRegion)} is not this gateway's: expected ${show(opts.region)}`,
    );
  }
  if (parsed.scopeService !== opts.service) {
    return fail(
      'CREDENTIAL_SCOPE_MISMATCH',
      `credential scope service ${show(parsed.scopeService)} is not this gateway's: expected ${show(opts.service)}`,
    );
  }

  // 5. The clock skew, either way (a future date would let a stolen request be replayed later).
  const skewMs = signingDate.getTime() - nowMs;
  if (Math.abs(skewMs) > maxSkewMs) {
    return fail(
      'SIGNATURE_EXPIRED',
      `${timeHeader} ${show(timeText)} is ${Math.round(Math.abs(skewMs) / 1000)} s in the ${skewMs < 0 ? 'past' : 'future'}: ` +
        `expected within ${Math.round(maxSkewMs / 1000)} s of the server time ${show(formatAmzDate(opts.now))}`,
    );
  }

  // 6. The key. A lookup that throws is broken infrastructure, not bad input: let it propagate.
  const credential = await opts.lookup(parsed.accessKeyId);
  if (credential === null) {
    return fail('UNKNOWN_ACCESS_KEY', `access key ${show(parsed.accessKeyId)} is unknown or disabled`);
  }

  // 7. The session token binds temporary credentials: it must come with the key, and only with it.
  const token = headers.get('x-amz-security-token');
  const expectedToken = credential.sessionToken ? credential.sessionToken : undefined;
  if (expectedToken !== undefined && token === undefined) {
    return fail(
      'SECURITY_TOKEN_MISMATCH',
      `access key ${show(parsed.accessKeyId)} is temporary: expected an x-amz-security-token header, none came`,
    );
  }
  if (expectedToken !== undefined && token !== undefined && !constantTimeEqual(token, expectedToken)) {
    return fail(
      'SECURITY_TOKEN_MISMATCH',
      `x-amz-security-token is not the session token of access key ${show(parsed.accessKeyId)}`,
    );
  }
  if (expectedToken === undefined && token !== undefined) {
    return fail(
      'SECURITY_TOKEN_MISMATCH',
      `access key ${show(parsed.accessKeyId)} has no session token: expected no x-amz-security-token header`,
    );
  }

  try {
    return await checkSignature(req, headers, parsed, signingDate, credential.secretAccessKey, opts);
  } catch {
    // INVARIANT: no input makes this function throw; an input the signer chokes on cannot be verified.
    return fail('SIGNATURE_MISMATCH', 'the canonical request cannot be computed from this request');
  }
}

/** Steps 8 to 10: payload hash, signed headers, signature. */
async function checkSignature(
  req: IncomingSignedRequest,
  headers: Map<string, string>,
  parsed: ParsedAuthorization,
  signingDate: Date,
  secretAccessKey: string,
  opts: VerifySigV4Options,
): Promise<SigV4Result> {
  // 8. The body is hashed here, always. The smithy signer would take a client-sent x-amz-content-sha256
  // as the payload hash, so a signed one must be the real hash and an unsigned one is never looked at.
  const body = req.body instanceof Uint8Array ? req.body : new Uint8Array(0);
  const bodyHash = createHash('sha256').update(body).digest('hex');
  if (parsed.signedHeaders.includes('x-amz-content-sha256')) {
    const claimed = trimHeaderValue(headers.get('x-amz-content-sha256') ?? '');
    if (claimed !== bodyHash) {
      return fail(
        'SIGNATURE_MISMATCH',
        `signed x-amz-content-sha256 ${show(claimed)} is not the body's sha-256: expected ${show(bodyHash)}`,
      );
    }
  }

  // 9. Exactly the signed headers, nothing else: the signer signs whatever it is given.
  const signedHeaderValues: Record<string, string> = {};
  for (const name of parsed.signedHeaders) {
    const value = headers.get(name);
    if (value === undefined) {
      return fail('SIGNATURE_MISMATCH', `signed header ${show(name)} is missing from the request`);
    }
    setOwn(signedHeaderValues, name, value);
  }
  if (Object.hasOwn(signedHeaderValues, 'x-amz-content-sha256')) {
    // Equal to the claim after trimming (step 8).
    signedHeaderValues['x-amz-content-sha256'] = bodyHash;
  }

  if (typeof req.path !== 'string' || !WIRE_PATH_PATTERN.test(req.path)) {
    return fail(
      'SIGNATURE_MISMATCH',
      `path ${show(String(req.path))} cannot be canonicalized: expected an absolute, percent-encoded ASCII path`,
    );
  }
  const query = parseQuery(typeof req.query === 'string' ? req.query : '');
  if (query === null) {
    return fail(
      'SIGNATURE_MISMATCH',
      `query ${show(String(req.query))} cannot be canonicalized: expected valid percent-encoded utf-8`,
    );
  }
  if (Object.keys(query).some((key) => key.toLowerCase() === 'x-amz-signature')) {
    // The smithy signer leaves X-Amz-Signature out of the canonical query (presigned URLs), so anyone
    // could append one to a signed request unnoticed; this gateway takes header signatures only.
    return fail(
      'MALFORMED_AUTHORIZATION',
      'query parameter `X-Amz-Signature` is not accepted: expected the signature in the authorization header',
    );
  }

  // 10. Recompute: smithy's canonical request over exactly the signed headers, then SigV4's string to
  // sign for the signing time (from x-amz-date or date) and its key derivation for the scope.
  const signer = new CanonicalRequestSigner({
    credentials: { accessKeyId: parsed.accessKeyId, secretAccessKey },
    region: opts.region,
    service: opts.service,
    sha256: NodeSha256,
    applyChecksum: false,
    uriEscapePath: true,
  });
  const request = new HttpRequest({
    method: String(req.method).toUpperCase(),
    path: req.path,
    query,
    headers: signedHeaderValues,
  });
  const canonicalHeaders = getCanonicalHeaders(request, undefined, new Set(parsed.signedHeaders));
  // INVARIANT: the recomputation covers exactly the headers the client listed.
  const clientList = [...parsed.signedHeaders].sort().join(';');
  const reproduced = Object.keys(canonicalHeaders).sort().join(';');
  if (reproduced !== clientList) {
    return fail(
      'SIGNATURE_MISMATCH',
      `signed headers ${show(parsed.signedHeaders.join(';'))} cannot be reproduced: got ${show(reproduced)}`,
    );
  }
  const signingTime = formatAmzDate(signingDate);
  const scope = `${signingTime.slice(0, 8)}/${opts.region}/${opts.service}/aws4_request`;
  const canonicalRequest = signer.canonicalRequest(request, canonicalHeaders, bodyHash);
  const stringToSign = `${ALGORITHM}\n${signingTime}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  let key = hmac(`AWS4${secretAccessKey}`, signingTime.slice(0, 8));
  for (const part of [opts.region, opts.service, 'aws4_request']) key = hmac(key, part);
  const expected = hmac(key, stringToSign).toString('hex');
  if (!constantTimeEqual(expected, parsed.signature)) {
    return fail(
      'SIGNATURE_MISMATCH',
      `signature does not match the request ${show(`${request.method} ${req.path}`)}: ` +
        'expected one computed over its path, query, signed headers and body with the secret of ' +
        show(parsed.accessKeyId),
    );
  }
  return { ok: true, accessKeyId: parsed.accessKeyId };
}

/**
 * smithy's signer with its canonical request exposed: `sign` cannot be used to verify, since it drops a
 * `date` header and adds its own `x-amz-date`, so a request timed by its `date` header could not match.
 */
class CanonicalRequestSigner extends SignatureV4 {
  canonicalRequest(request: HttpRequest, headers: Record<string, string>, payloadHash: string): string {
    return this.createCanonicalRequest(request, headers, payloadHash);
  }
}

/**
 * `AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`;
 * the three parts in any order, separated by commas with optional spaces, each exactly once.
 */
function parseAuthorization(header: string): ParsedAuthorization | Failure {
  const expected = `expected \`${ALGORITHM} Credential=..., SignedHeaders=..., Signature=...\``;
  const prefix = `${ALGORITHM} `;
  if (!header.startsWith(prefix)) {
    return fail('MALFORMED_AUTHORIZATION', `authorization header ${show(header)} is not sigv4: ${expected}`);
  }
  const parts = new Map<string, string>();
  for (const part of header.slice(prefix.length).split(',')) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf('=');
    const name = eq > 0 ? trimmed.slice(0, eq) : '';
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(name) || parts.has(name)) {
      return fail(
        'MALFORMED_AUTHORIZATION',
        `authorization header ${show(header)} is malformed: ${expected}`,
      );
    }
    parts.set(name, trimmed.slice(eq + 1));
  }
  const credential = parts.get('Credential');
  const signedHeaderList = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (credential === undefined || signedHeaderList === undefined || signature === undefined) {
    return fail('MALFORMED_AUTHORIZATION', `authorization header ${show(header)} is incomplete: ${expected}`);
  }

  const scope = credential.split('/');
  const [accessKeyId = '', scopeDate = '', scopeRegion = '', scopeService = '', terminator = ''] = scope;
  if (
    scope.length !== 5 ||
    !/^[\x21-\x7e]+$/.test(accessKeyId) ||
    !/^\d{8}$/.test(scopeDate) ||
    scopeRegion === '' ||
    scopeService === '' ||
    terminator !== 'aws4_request'
  ) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      `credential ${show(credential)} is malformed: expected \`ACCESS_KEY_ID/yyyymmdd/region/service/aws4_request\``,
    );
  }

  const signedHeaders = signedHeaderList.split(';');
  if (
    !signedHeaders.every((name) => SIGNED_HEADER_NAME_PATTERN.test(name)) ||
    new Set(signedHeaders).size !== signedHeaders.length
  ) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      `signed headers ${show(signedHeaderList)} are malformed: expected distinct lower-case names separated by \`;\``,
    );
  }
  if (!signedHeaders.includes('host')) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      `signed headers ${show(signedHeaderList)} lack \`host\`: expected host to be signed`,
    );
  }
  if (signedHeaders.includes('authorization')) {
    // The authorization header carries the signature, so it cannot be part of what is signed.
    return fail(
      'MALFORMED_AUTHORIZATION',
      `signed headers ${show(signedHeaderList)} include \`authorization\`: expected the headers the signature covers`,
    );
  }
  if (!SIGNATURE_PATTERN.test(signature)) {
    return fail(
      'MALFORMED_AUTHORIZATION',
      `signature ${show(signature)} is malformed: expected 64 lower-case hex digits`,
    );
  }
  return { accessKeyId, scopeDate, scopeRegion, scopeService, signedHeaders, signature };
}

/**
 * A `date` header: `yyyymmddThhmmssZ` as AWS documents the time stamp, or an RFC 9110 IMF-fixdate as
 * HTTP defines the header (AWS's SigV4 test suite signs `Date: Mon, 09 Sep 2011 23:36:00 GMT`).
 * `null` unless it is a real UTC time in exactly one of those forms.
 */
function parseDateHeader(value: string): Date | null {
  const iso = parseAmzDate(value);
  if (iso !== null) return iso;
  const m = HTTP_DATE_PATTERN.exec(value);
  if (m === null) return null;
  const [, d, mon, y, h, mi, sec] = m as unknown as [string, string, string, string, string, string, string];
  const date = new Date(
    Date.UTC(Number(y), MONTHS.indexOf(mon), Number(d), Number(h), Number(mi), Number(sec)),
  );
  // The same text back rejects 30 Feb, 25:00 and the like. The weekday is not checked: AWS's own test
  // suite signs `Mon, 09 Sep 2011`, a Friday.
  return Number.isFinite(date.getTime()) && date.toUTCString().slice(5) === value.slice(5) ? date : null;
}

/** `yyyymmddThhmmssZ` to a date, or `null` if it is not a real UTC time in that exact form. */
function parseAmzDate(value: string): Date | null {
  const m = AMZ_DATE_PATTERN.exec(value);
  if (m === null) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // INVARIANT: the signer re-derives x-amz-date from this date, so it must format back to the same text
  // (this also rejects 20240230, 25:00 and the like).
  return formatAmzDate(date) === value ? date : null;
}

function formatAmzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}/, '')
    .replace(/[-:]/g, '');
}

/** Lower-cased names; repeated headers (arrays, or names differing only in case) joined with `,`. */
function normalizeHeaders(raw: IncomingSignedRequest['headers']): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(raw ?? {})) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === 'string')) throw new TypeError('header value is not a string');
    if (values.length === 0) continue;
    const lower = name.toLowerCase();
    const joined = values.join(',');
    const existing = out.get(lower);
    out.set(lower, existing === undefined ? joined : `${existing},${joined}`);
  }
  return out;
}

/**
 * The raw query to the decoded key/values the smithy signer re-encodes. `+` means a space (as in
 * forms, URLSearchParams and the SDK's own signer); repeated keys become arrays (SigV4 sorts them by
 * value). `null` when a part is not valid percent-encoded UTF-8.
 */
function parseQuery(raw: string): Record<string, string | string[]> | null {
  const query: Record<string, string | string[]> = {};
  if (raw === '') return query;
  for (const part of raw.split('&')) {
    const eq = part.indexOf('=');
    const key = decodeQueryComponent(eq === -1 ? part : part.slice(0, eq));
    const value = decodeQueryComponent(eq === -1 ? '' : part.slice(eq + 1));
    if (key === null || value === null) return null;
    const existing = Object.hasOwn(query, key) ? query[key] : undefined;
    if (existing === undefined) setOwn(query, key, value);
    else if (Array.isArray(existing)) existing.push(value);
    else setOwn(query, key, [existing, value]);
  }
  return query;
}

function decodeQueryComponent(component: string): string | null {
  try {
    return decodeURIComponent(component.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** Defines an own property even for names like `__proto__`, which plain assignment would not. */
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** SigV4's Trimall: no leading or trailing spaces, runs of spaces as one. */
function trimHeaderValue(value: string): string {
  return value.replace(/[ \t]+/g, ' ').trim();
}

function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  // Lengths are not secret here (signatures are always 64 hex digits; tokens are the caller's own).
  return left.length === right.length && timingSafeEqual(left, right);
}

/** User input in backticks, clipped so a huge header cannot make a huge message. */
function show(value: string): string {
  const clipped = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}...` : value;
  return `\`${clipped.replace(/`/g, "'")}\``;
}

function fail(code: SigV4FailureCode, message: string): Failure {
  return { ok: false, code, message };
}
