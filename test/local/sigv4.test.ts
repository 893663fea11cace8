import { createHash } from 'node:crypto';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { NodeSha256 } from '../../core/keys/NodeSha256.js';
import {
  type CredentialLookup,
  type IncomingSignedRequest,
  type SigV4Result,
  verifySigV4,
} from '../../local/SigV4Verifier.js';
import { amzTime, manualAuthorization } from './manualSigV4.js';

const REGION = 'us-east-1';
const SERVICE = 'execute-api';
const NOW = new Date('2025-03-04T05:06:07Z');
const AGENT = {
  accessKeyId: 'AKIAZTAGENT0000001',
  secretAccessKey: 'agent-secret-0001/abcdefghijklmnopqrstuv',
};
const TEMP = {
  accessKeyId: 'ASIAZTTEMP00000001',
  secretAccessKey: 'temp-secret-0001/abcdefghijklmnopqrstuvwx',
  sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN//+=',
};

const lookup: CredentialLookup = async (accessKeyId) => {
  if (accessKeyId === AGENT.accessKeyId) return { secretAccessKey: AGENT.secretAccessKey };
  if (accessKeyId === TEMP.accessKeyId) {
    return { secretAccessKey: TEMP.secretAccessKey, sessionToken: TEMP.sessionToken };
  }
  return null;
};

interface ClientRequest {
  method: string;
  /** The path as sent on the wire (percent-encoded once). */
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

interface SignWith {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  at?: Date;
  region?: string;
  service?: string;
}

/** RFC 3986 encoding as SigV4 clients put a query on the wire. */
function encode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Signs as an AWS SDK client would, and returns what the server then receives. */
async function signAsClient(req: ClientRequest, using: SignWith = {}): Promise<IncomingSignedRequest> {
  const signer = new SignatureV4({
    credentials: using.credentials ?? AGENT,
    region: using.region ?? REGION,
    service: using.service ?? SERVICE,
    sha256: NodeSha256,
    applyChecksum: false,
    uriEscapePath: true,
  });
  const headers: Record<string, string> = { host: 'gateway.example.com', ...req.headers };
  const signed = await signer.sign(
    new HttpRequest({
      method: req.method,
      hostname: 'gateway.example.com',
      path: req.path,
      query: req.query ?? {},
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    }),
    { signingDate: using.at ?? NOW },
  );
  const query = Object.entries(req.query ?? {})
    .flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((v) => `${encode(key)}=${encode(v)}`),
    )
    .join('&');
  // Null prototype, as node's req.headers: a header named `__proto__` is then an ordinary entry.
  const received = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(signed.headers)) received[name.toLowerCase()] = value;
  return {
    method: req.method,
    path: req.path,
    query,
    headers: received,
    body: new TextEncoder().encode(req.body ?? ''),
  };
}

function verify(
  req: IncomingSignedRequest,
  extra: { now?: Date; maxSkewMs?: number; allowedHosts?: ReadonlySet<string> } = {},
): Promise<SigV4Result> {
  return verifySigV4(req, { region: REGION, service: SERVICE, now: extra.now ?? NOW, lookup, ...extra });
}

function withHeaders(
  req: IncomingSignedRequest,
  headers: IncomingSignedRequest['headers'],
): IncomingSignedRequest {
  return { ...req, headers: { ...req.headers, ...headers } };
}

function withoutHeader(req: IncomingSignedRequest, name: string): IncomingSignedRequest {
  const headers = { ...req.headers };
  delete headers[name];
  return { ...req, headers };
}

/** One character of `text` at `index` replaced by another one (a hex digit stays a hex digit). */
function flip(text: string, index: number): string {
  return text.slice(0, index) + (text[index] === '0' ? '1' : '0') + text.slice(index + 1);
}

function authorizationOf(req: IncomingSignedRequest): string {
  return String(req.headers['authorization']);
}

const POST_ACTION: ClientRequest = {
  method: 'POST',
  path: '/actions',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ actor: 'agent-1', action: 'aws.ec2.terminate_instances', resource: 'i-0abc' }),
};

describe('when a client signs a request correctly', () => {
  it.each<[string, ClientRequest]>([
    ['a GET with a query', { method: 'GET', path: '/audit', query: { after: '3', limit: '2' } }],
    ['a POST with a JSON body', POST_ACTION],
    ['a path with an escaped space', { method: 'GET', path: '/agents/a%20b' }],
    ['a path with an escaped non-ASCII name', { method: 'DELETE', path: '/agents/caf%C3%A9' }],
    [
      'an outcome path',
      {
        method: 'POST',
        path: '/actions/main-3/outcome',
        body: '{"status":"started"}',
        headers: { 'content-type': 'application/json' },
      },
    ],
    [
      'a query value with reserved characters',
      { method: 'GET', path: '/agents', query: { q: 'a b&c=d/é*' } },
    ],
    ['a repeated query key', { method: 'GET', path: '/audit', query: { tag: ['b', 'a'] } }],
    ['an empty query value', { method: 'GET', path: '/audit', query: { after: '' } }],
  ])('accepts %s', async (_name, clientRequest) => {
    // Prepare
    const req = await signAsClient(clientRequest);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toEqual({ ok: true, accessKeyId: AGENT.accessKeyId });
  });

  it('accepts a signed header whose value has runs of spaces, however they are spaced on arrival', async () => {
    // Prepare
    const req = await signAsClient({
      method: 'GET',
      path: '/agents',
      headers: { 'x-zt-note': 'two   spaces\tand a tab' },
    });
    const spacedDifferently = withHeaders(req, { 'x-zt-note': '  two spaces and  a tab ' });

    // Act
    const result = await verify(spacedDifferently);

    // Assess
    expect(result.ok).toBe(true);
  });

  it('accepts unsigned headers added after signing, as API Gateway does', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION);
    const proxied = withHeaders(req, {
      'user-agent': 'curl/8.0',
      'x-forwarded-for': '10.0.0.1',
      'x-amz-content-sha256': 'f'.repeat(64),
    });

    // Act
    const result = await verify(proxied);

    // Assess
    expect(result.ok).toBe(true);
  });

  it('accepts a header that is normally unsignable when the client did sign it', async () => {
    // Prepare
    const signer = new SignatureV4({
      credentials: AGENT,
      region: REGION,
      service: SERVICE,
      sha256: NodeSha256,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      new HttpRequest({ method: 'GET', path: '/keys', headers: { host: 'gw', 'user-agent': 'zt-sdk/1.0' } }),
      { signingDate: NOW, signableHeaders: new Set(['user-agent']) },
    );
    const req: IncomingSignedRequest = {
      method: 'GET',
      path: '/keys',
      query: '',
      headers: signed.headers,
      body: new Uint8Array(),
    };

    // Act
    const result = await verify(req);

    // Assess
    expect(authorizationOf(req)).toContain('user-agent');
    expect(result.ok).toBe(true);
  });

  it('accepts signed headers named like members of Object.prototype', async () => {
    // Prepare
    const odd = JSON.parse('{"__proto__": "p", "constructor": "c", "tostring": "t"}') as Record<
      string,
      string
    >;
    const req = await signAsClient({ method: 'GET', path: '/agents', headers: odd });

    // Act
    const result = await verify(req);

    // Assess
    expect(authorizationOf(req)).toContain('SignedHeaders=__proto__;constructor;host;tostring;x-amz-date');
    expect(result.ok).toBe(true);
  });

  it('accepts repeated headers given as arrays, joined with commas as SigV4 does', async () => {
    // Prepare
    const req = await signAsClient({ method: 'GET', path: '/agents', headers: { 'x-zt-tag': 'a,b' } });
    const repeated = withHeaders(req, { 'x-zt-tag': ['a', 'b'] });

    // Act
    const result = await verify(repeated);

    // Assess
    expect(result.ok).toBe(true);
  });
});

describe('when the request changed after signing', () => {
  it('rejects one byte changed in the body', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION);
    const body = Uint8Array.from(req.body);
    body[10] = (body[10] ?? 0) ^ 0x01;

    // Act
    const result = await verify({ ...req, body });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a body added to a signed GET', async () => {
    // Prepare
    const req = await signAsClient({ method: 'GET', path: '/agents' });

    // Act
    const result = await verify({ ...req, body: new TextEncoder().encode('{}') });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it.each<[string, (req: IncomingSignedRequest) => IncomingSignedRequest]>([
    ['one byte of the path', (req) => ({ ...req, path: '/actions/main-4/outcome' })],
    ['the escaping of the path', (req) => ({ ...req, path: '/actions/main%2D3/outcome' })],
    ['the method', (req) => ({ ...req, method: 'PUT' })],
    ['one byte of the query', (req) => ({ ...req, query: req.query.replace('limit=2', 'limit=3') })],
    ['a query parameter added', (req) => ({ ...req, query: `${req.query}&admin=true` })],
    ['a query parameter removed', (req) => ({ ...req, query: 'limit=2' })],
    ['a signed header value', (req) => withHeaders(req, { 'content-type': 'application/jsom' })],
    ['the host', (req) => withHeaders(req, { host: 'gateway.example.org' })],
    [
      'the signature',
      (req) =>
        withHeaders(req, { authorization: flip(authorizationOf(req), authorizationOf(req).length - 1) }),
    ],
    ['a signed header removed', (req) => withoutHeader(req, 'content-type')],
    [
      'a signed header dropped from the list',
      (req) => withHeaders(req, { authorization: authorizationOf(req).replace('content-type;', '') }),
    ],
  ])('rejects %s', async (_name, tamper) => {
    // Prepare
    const req = await signAsClient({
      method: 'POST',
      path: '/actions/main-3/outcome',
      query: { after: '1', limit: '2' },
      headers: { 'content-type': 'application/json' },
      body: '{"status":"started"}',
    });

    // Act
    const result = await verify(tamper(req));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a signature moved to another request of the same key', async () => {
    // Prepare
    const allowed = await signAsClient({ method: 'GET', path: '/keys' });
    const other = await signAsClient({ method: 'GET', path: '/audit' });

    // Act
    const result = await verify(withHeaders(other, { authorization: authorizationOf(allowed) }));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a request signed with another secret for the same key id', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, {
      credentials: { accessKeyId: AGENT.accessKeyId, secretAccessKey: 'guessed' },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });
});

describe('when x-amz-content-sha256 is sent', () => {
  const other = '{"actor":"agent-1","action":"aws.iam.delete_role"}';
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

  it('accepts it signed and equal to the body hash', async () => {
    // Prepare
    const req = await signAsClient({
      ...POST_ACTION,
      headers: { 'x-amz-content-sha256': sha256(POST_ACTION.body!) },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(authorizationOf(req)).toContain('x-amz-content-sha256');
    expect(result.ok).toBe(true);
  });

  it('rejects another body sent under a signed hash of the original one', async () => {
    // Prepare
    const req = await signAsClient({
      ...POST_ACTION,
      headers: { 'x-amz-content-sha256': sha256(POST_ACTION.body!) },
    });

    // Act
    const result = await verify({ ...req, body: new TextEncoder().encode(other) });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it('rejects a forged hash claiming another body (a signer that trusts the header signs it happily)', async () => {
    // Prepare: the smithy signer takes the header as the payload hash, so this signature is "valid" over
    // the hash of `other` while the body is POST_ACTION's.
    const req = await signAsClient({ ...POST_ACTION, headers: { 'x-amz-content-sha256': sha256(other) } });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it('rejects UNSIGNED-PAYLOAD', async () => {
    // Prepare
    const req = await signAsClient({
      ...POST_ACTION,
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });
});

describe('when the authorization header is missing or malformed', () => {
  it('says authentication is missing when there is no authorization header', async () => {
    // Prepare
    const req = withoutHeader(await signAsClient(POST_ACTION), 'authorization');

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MISSING_AUTHENTICATION' });
  });

  it.each<[string, (auth: string) => string]>([
    ['garbage', () => 'garbage'],
    ['an empty value', () => ''],
    ['a bearer token', () => 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.x'],
    ['the algorithm alone', () => 'AWS4-HMAC-SHA256'],
    ['another algorithm', (auth) => auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512')],
    ['SigV2', () => 'AWS AKIAZTAGENT0000001:c2lnbmF0dXJl'],
    ['no signature', (auth) => auth.replace(/, Signature=.*$/, '')],
    ['a short signature', (auth) => auth.slice(0, -1)],
    [
      'an upper-case signature',
      (auth) => auth.replace(/Signature=(.*)$/, (_m, sig: string) => `Signature=${sig.toUpperCase()}`),
    ],
    ['a part twice', (auth) => `${auth}, Signature=${'0'.repeat(64)}`],
    ['an unknown part', (auth) => `${auth}, Foo=bar`],
    ['a scope of four parts', (auth) => auth.replace('/aws4_request', '')],
    ['a wrong scope terminator', (auth) => auth.replace('aws4_request', 'aws5_request')],
    ['a non-numeric scope date', (auth) => auth.replace('/20250304/', '/2025034x/')],
    ['signed headers without host', (auth) => auth.replace('host;', '')],
    ['signed headers without x-amz-date', (auth) => auth.replace(';x-amz-date', '')],
    ['upper-case signed headers', (auth) => auth.replace('host', 'Host')],
    ['a signed header twice', (auth) => auth.replace('host;', 'host;host;')],
    ['an empty signed header name', (auth) => auth.replace('host;', 'host;;')],
    ['authorization among the signed headers', (auth) => auth.replace('host;', 'authorization;host;')],
  ])('rejects %s as malformed', async (_name, rewrite) => {
    // Prepare
    const req = await signAsClient(POST_ACTION);

    // Act
    const result = await verify(withHeaders(req, { authorization: rewrite(authorizationOf(req)) }));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });

  it.each<[string, string | undefined]>([
    ['missing', undefined],
    ['an ISO date', '2025-03-04T05:06:07Z'],
    ['an impossible date', '20250230T050607Z'],
    ['an impossible hour', '20250304T250607Z'],
    ['with milliseconds', '20250304T050607.000Z'],
  ])('rejects an x-amz-date that is %s', async (_name, value) => {
    // Prepare
    const req = await signAsClient(POST_ACTION);
    const changed =
      value === undefined ? withoutHeader(req, 'x-amz-date') : withHeaders(req, { 'x-amz-date': value });

    // Act
    const result = await verify(changed);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });

  it('rejects an X-Amz-Signature query parameter, which the smithy signer would leave unsigned', async () => {
    // Prepare
    const req = await signAsClient({ method: 'GET', path: '/audit', query: { after: '3' } });

    // Act
    const result = await verify({ ...req, query: `${req.query}&X-Amz-Signature=anything` });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });
});

describe('when the key is not known', () => {
  it('rejects the request as an unknown access key', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, {
      credentials: { accessKeyId: 'AKIAZTSTRANGER00001', secretAccessKey: 'whatever' },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'UNKNOWN_ACCESS_KEY' });
  });

  it('lets a failing lookup reject, since broken infrastructure is not a bad request', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION);
    const broken: CredentialLookup = async () => {
      throw new Error('store unavailable');
    };

    // Act
    const outcome = verifySigV4(req, { region: REGION, service: SERVICE, now: NOW, lookup: broken });

    // Assess
    await expect(outcome).rejects.toThrow('store unavailable');
  });
});

describe('when the request time is far from the server time', () => {
  const minutes = (n: number) => n * 60 * 1000;

  it.each([
    ['6 minutes old', -6],
    ['6 minutes in the future', 6],
  ])('rejects a request signed %s', async (_name, offset) => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { at: new Date(NOW.getTime() + minutes(offset)) });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_EXPIRED' });
  });

  it.each([
    ['4 minutes old', -4],
    ['4 minutes in the future', 4],
    ['exactly 5 minutes old', -5],
  ])('accepts a request signed %s', async (_name, offset) => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { at: new Date(NOW.getTime() + minutes(offset)) });

    // Act
    const result = await verify(req);

    // Assess
    expect(result.ok).toBe(true);
  });

  it('honours a narrower maximum skew', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { at: new Date(NOW.getTime() - minutes(2)) });

    // Act
    const result = await verify(req, { maxSkewMs: minutes(1) });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_EXPIRED' });
  });
});

describe('when the credential scope names another date, region or service', () => {
  it('rejects a scope date that is not the x-amz-date date', async () => {
    // Prepare: signed just before midnight, then the x-amz-date moved past it (and the clock with it).
    const at = new Date('2025-03-04T23:59:00Z');
    const req = await signAsClient(POST_ACTION, { at });
    const moved = withHeaders(req, { 'x-amz-date': '20250305T000100Z' });

    // Act
    const result = await verify(moved, { now: new Date('2025-03-05T00:01:00Z') });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'CREDENTIAL_SCOPE_MISMATCH' });
  });

  it.each([
    ['region', { region: 'eu-west-1' }],
    ['service', { service: 's3' }],
  ])('rejects another %s', async (_name, using) => {
    // Prepare
    const req = await signAsClient(POST_ACTION, using);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'CREDENTIAL_SCOPE_MISMATCH' });
  });
});

describe('when session tokens are involved', () => {
  it('accepts temporary credentials with their signed token', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { credentials: TEMP });

    // Act
    const result = await verify(req);

    // Assess
    expect(authorizationOf(req)).toContain('x-amz-security-token');
    expect(result).toEqual({ ok: true, accessKeyId: TEMP.accessKeyId });
  });

  it('accepts the right token sent unsigned, as some clients do', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, {
      credentials: { accessKeyId: TEMP.accessKeyId, secretAccessKey: TEMP.secretAccessKey },
    });

    // Act
    const result = await verify(withHeaders(req, { 'x-amz-security-token': TEMP.sessionToken }));

    // Assess
    expect(result.ok).toBe(true);
  });

  it('rejects temporary credentials without their token', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, {
      credentials: { accessKeyId: TEMP.accessKeyId, secretAccessKey: TEMP.secretAccessKey },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SECURITY_TOKEN_MISMATCH' });
  });

  it('rejects temporary credentials with another token, even one the client signed', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, {
      credentials: { ...TEMP, sessionToken: 'another-session' },
    });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SECURITY_TOKEN_MISMATCH' });
  });

  it('rejects a signed token removed in transit', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { credentials: TEMP });

    // Act
    const result = await verify(withoutHeader(req, 'x-amz-security-token'));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SECURITY_TOKEN_MISMATCH' });
  });

  it('rejects a token sent with a long-lived key that has none', async () => {
    // Prepare
    const req = await signAsClient(POST_ACTION, { credentials: { ...AGENT, sessionToken: 'made-up' } });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SECURITY_TOKEN_MISMATCH' });
  });
});

describe('when the input is hostile or broken', () => {
  it('rejects a query that is not valid percent-encoding', async () => {
    // Prepare
    const req = await signAsClient({ method: 'GET', path: '/audit', query: { after: '3' } });

    // Act
    const results = await Promise.all([
      verify({ ...req, query: 'after=%zz' }),
      verify({ ...req, query: 'after=%E9' }),
    ]);

    // Assess
    expect(results).toMatchObject([
      { ok: false, code: 'SIGNATURE_MISMATCH' },
      { ok: false, code: 'SIGNATURE_MISMATCH' },
    ]);
  });

  it('never throws, whatever the request carries', async () => {
    // Prepare
    const valid = await signAsClient(POST_ACTION);
    const auth = authorizationOf(valid);
    const hostile: IncomingSignedRequest[] = [
      { ...valid, path: '/actions/\ud800' },
      { ...valid, path: 'actions' },
      { ...valid, path: '' },
      { ...valid, path: '/a b' },
      { ...valid, path: '/%' },
      { ...valid, query: '&&&==&=' },
      { ...valid, query: '__proto__=1&constructor=2&hasOwnProperty=3&__proto__=4' },
      { ...valid, method: '' },
      { ...valid, body: undefined as unknown as Uint8Array },
      { ...valid, headers: undefined as unknown as IncomingSignedRequest['headers'] },
      withHeaders(valid, { authorization: ['a', 'b'] }),
      withHeaders(valid, { authorization: [] }),
      withHeaders(valid, { authorization: 42 as unknown as string }),
      withHeaders(valid, { authorization: auth.replace('host;', '__proto__;constructor;host;') }),
      withHeaders(valid, { constructor: 'y', authorization: auth.replace('host;', 'constructor;host;') }),
      withHeaders(valid, { 'content-type': '\ud800' }),
      withHeaders(valid, { authorization: `${auth.slice(0, 30)}\u0000${auth.slice(30)}` }),
      withHeaders(valid, { authorization: `${auth},`.repeat(1000) }),
    ];
    // Every single-character change of the authorization header, too.
    for (let i = 0; i < auth.length; i += 1)
      hostile.push(withHeaders(valid, { authorization: flip(auth, i) }));

    // Act
    const results = await Promise.all(hostile.map((req) => verify(req)));

    // Assess
    for (const result of results) expect(result.ok).toBe(false);
  });

  it('words failures in one lower-case sentence, without the secret or the expected signature', async () => {
    // Prepare
    const good = await signAsClient(POST_ACTION);
    const expectedSignature = authorizationOf(good).slice(-64);
    const failures = await Promise.all([
      verify(withoutHeader(good, 'authorization')),
      verify(withHeaders(good, { authorization: 'garbage' })),
      verify(
        withHeaders(good, { authorization: flip(authorizationOf(good), authorizationOf(good).length - 1) }),
      ),
      verify({ ...good, body: new TextEncoder().encode('{}') }),
      verify(good, { now: new Date(NOW.getTime() + 3_600_000) }),
      verify(await signAsClient(POST_ACTION, { region: 'eu-west-1' })),
      verify(
        await signAsClient(POST_ACTION, {
          credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' },
        }),
      ),
      verify(await signAsClient(POST_ACTION, { credentials: { ...TEMP, sessionToken: 'other' } })),
    ]);

    // Act
    const messages = failures.map((result) => (result.ok ? '' : result.message));

    // Assess
    expect(messages).toHaveLength(8);
    for (const message of messages) {
      expect(message).toMatch(/^[a-z`]/);
      expect(message).not.toMatch(/\.$/);
      expect(message).not.toContain(AGENT.secretAccessKey);
      expect(message).not.toContain(TEMP.secretAccessKey);
      expect(message).not.toContain(TEMP.sessionToken);
      expect(message).not.toContain(expectedSignature);
    }
  });
});

describe("when AWS's published SigV4 test vectors are verified", () => {
  // The example credentials of AWS's SigV4 test suite.
  const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const exampleLookup: CredentialLookup = async (id) =>
    id === EXAMPLE.accessKeyId ? { secretAccessKey: EXAMPLE.secretAccessKey } : null;
  const received = (method: string, headers: Record<string, string>): IncomingSignedRequest => ({
    method,
    path: '/',
    query: '',
    headers,
    body: new Uint8Array(),
  });

  it.each([
    ['get-vanilla', 'GET', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'],
    ['post-vanilla', 'POST', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'],
  ])('accepts the 2015 suite’s %s (timed by x-amz-date)', async (_name, method, signature) => {
    // Prepare
    const req = received(method, {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    });

    // Act
    const result = await verifySigV4(req, {
      region: 'us-east-1',
      service: 'service',
      now: new Date('2015-08-30T12:36:00Z'),
      lookup: exampleLookup,
    });

    // Assess
    expect(result).toEqual({ ok: true, accessKeyId: 'AKIDEXAMPLE' });
  });

  it('accepts the 2011 suite’s get-vanilla, timed by an http date header, which the manual signer reproduces', async () => {
    // Prepare
    const signature = 'b27ccfbfa7df52a200ff74193ca6e32d4b48b8856fab7ebf1c595d0670a7e470';
    const headers = { date: 'Mon, 09 Sep 2011 23:36:00 GMT', host: 'host.foo.com' };
    const authorization = `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/host/aws4_request, SignedHeaders=date;host, Signature=${signature}`;

    // Act
    const manual = manualAuthorization(
      { method: 'GET', path: '/', headers },
      { ...EXAMPLE, scopeDate: '20110909', region: 'us-east-1', service: 'host', time: '20110909T233600Z' },
    );
    const result = await verifySigV4(received('GET', { ...headers, authorization }), {
      region: 'us-east-1',
      service: 'host',
      now: new Date('2011-09-09T23:36:00Z'),
      lookup: exampleLookup,
    });

    // Assess
    expect(manual).toBe(authorization);
    expect(result).toEqual({ ok: true, accessKeyId: 'AKIDEXAMPLE' });
  });
});

describe('when the signing time comes from the date header (no x-amz-date), as AWS falls back to it', () => {
  const minutes = (n: number) => n * 60 * 1000;

  /** A POST /actions signed by the manual signer with exactly `headers` (plus host) signed. */
  function signedWith(
    headers: Record<string, string>,
    time: Date,
    options: { scopeDate?: string; unsigned?: Record<string, string> } = {},
  ): IncomingSignedRequest {
    const body = POST_ACTION.body as string;
    const all = { host: 'gateway.example.com', 'content-type': 'application/json', ...headers };
    const authorization = manualAuthorization(
      { method: 'POST', path: '/actions', headers: all, body },
      {
        ...AGENT,
        scopeDate: options.scopeDate ?? amzTime(time).slice(0, 8),
        region: REGION,
        service: SERVICE,
        time: amzTime(time),
      },
    );
    return {
      method: 'POST',
      path: '/actions',
      query: '',
      headers: { ...all, ...options.unsigned, authorization },
      body: new TextEncoder().encode(body),
    };
  }

  it.each([
    ['yyyymmddThhmmssZ, as AWS documents the time stamp', amzTime(NOW)],
    ['an http date (RFC 9110 IMF-fixdate)', NOW.toUTCString()],
  ])('accepts a signed date header in the form %s', async (_name, value) => {
    // Prepare
    const req = signedWith({ date: value }, NOW);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toEqual({ ok: true, accessKeyId: AGENT.accessKeyId });
  });

  it.each([
    ['6 minutes old', -6],
    ['6 minutes in the future', 6],
  ])('rejects a date header %s', async (_name, offset) => {
    // Prepare
    const at = new Date(NOW.getTime() + minutes(offset));
    const req = signedWith({ date: at.toUTCString() }, at);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_EXPIRED' });
  });

  it('accepts a date header exactly 5 minutes old', async () => {
    // Prepare
    const at = new Date(NOW.getTime() - minutes(5));

    // Act
    const result = await verify(signedWith({ date: at.toUTCString() }, at));

    // Assess
    expect(result.ok).toBe(true);
  });

  it('rejects a credential scope whose date is not the date header’s date', async () => {
    // Prepare: signed at 23:59:30 with the next day's scope.
    const at = new Date('2025-03-04T23:59:30Z');
    const req = signedWith({ date: at.toUTCString() }, at, { scopeDate: '20250305' });

    // Act
    const result = await verify(req, { now: at });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'CREDENTIAL_SCOPE_MISMATCH' });
  });

  it('rejects a date header that is not signed', async () => {
    // Prepare: the signature covers the time (string to sign) but the header itself is not listed.
    const req = signedWith({}, NOW, { unsigned: { date: NOW.toUTCString() } });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });

  it('rejects a signed date header changed after signing to another spelling of the same time', async () => {
    // Prepare
    const req = signedWith({ date: NOW.toUTCString() }, NOW);

    // Act
    const result = await verify(withHeaders(req, { date: amzTime(NOW) }));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });

  it.each([
    ['ISO 8601 extended', '2025-03-04T05:06:07Z'],
    ['a one-digit day', 'Tue, 4 Mar 2025 05:06:07 GMT'],
    ['another zone name', 'Tue, 04 Mar 2025 05:06:07 UTC'],
    ['an impossible day', 'Fri, 31 Feb 2025 05:06:07 GMT'],
    ['the obsolete RFC 850 form', 'Tuesday, 04-Mar-25 05:06:07 GMT'],
  ])('rejects a date header in %s', async (_name, value) => {
    // Prepare
    const req = signedWith({ date: value }, NOW);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });

  it('takes x-amz-date over the date header when both are sent, signed or not', async () => {
    // Prepare
    const hourAgo = new Date(NOW.getTime() - minutes(60));
    const fresh = signedWith({ 'x-amz-date': amzTime(NOW), date: hourAgo.toUTCString() }, NOW);
    const stale = signedWith({ 'x-amz-date': amzTime(hourAgo), date: NOW.toUTCString() }, hourAgo);
    const unsignedDate = withHeaders(await signAsClient(POST_ACTION), { date: hourAgo.toUTCString() });

    // Act
    const results = await Promise.all([verify(fresh), verify(stale), verify(unsignedDate)]);

    // Assess
    expect(results).toMatchObject([{ ok: true }, { ok: false, code: 'SIGNATURE_EXPIRED' }, { ok: true }]);
  });

  it('rejects an unsigned x-amz-date even when a signed date header would do', async () => {
    // Prepare
    const req = signedWith({ date: NOW.toUTCString() }, NOW, { unsigned: { 'x-amz-date': amzTime(NOW) } });

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });

  it('says the time is missing when neither x-amz-date nor date is sent', async () => {
    // Prepare
    const req = withoutHeader(await signAsClient(POST_ACTION), 'x-amz-date');

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'MALFORMED_AUTHORIZATION' });
  });
});

describe('when the signed host is not one this server answers to', () => {
  it('accepts a request signed for an allowed host, compared without case', async () => {
    // Prepare
    const req = await signAsClient({ ...POST_ACTION, headers: { host: 'Gateway.Example.COM' } });

    // Act
    const result = await verify(req, { allowedHosts: new Set(['gateway.example.com', '127.0.0.1:8787']) });

    // Assess
    expect(result.ok).toBe(true);
  });

  it.each([
    ['another name', 'api.example.com'],
    ['the same name with a port', 'gateway.example.com:8787'],
  ])('rejects a valid signature made for %s', async (_name, host) => {
    // Prepare
    const req = await signAsClient({ ...POST_ACTION, headers: { host } });

    // Act
    const result = await verify(req, { allowedHosts: new Set(['gateway.example.com', '127.0.0.1:8787']) });

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'HOST_MISMATCH' });
  });
});
