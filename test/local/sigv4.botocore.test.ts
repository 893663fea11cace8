import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CredentialLookup, type IncomingSignedRequest, verifySigV4 } from '../../local/SigV4Verifier.js';

// Cross-checks the verifier against botocore, an implementation of SigV4 independent of the smithy
// signer it recomputes with: both sides agreeing with each other proves nothing about interoperability.

const SIGNER = fileURLToPath(new URL('../fixtures/botocore_sign.py', import.meta.url));
const BOTOCORE_MISSING = spawnSync('python3', ['-c', 'import botocore']).status !== 0;
if (BOTOCORE_MISSING) {
  console.warn(
    'skipping the botocore SigV4 cross-check: python3 cannot import botocore; fix: pip install botocore',
  );
}

const REGION = 'us-east-1';
const SERVICE = 'execute-api';
const ENDPOINT = 'http://127.0.0.1:8787';
const AGENT = { access_key: 'AKIAZTBOTO00000001', secret_key: 'boto-secret/0001+abcdefghijklmnopqrstu' };
const TEMP = {
  access_key: 'ASIAZTBOTO00000002',
  secret_key: 'boto-temp-secret/0002',
  token: 'IQoJb3JpZ2luX2VjEXAMPLE//+=',
};

const lookup: CredentialLookup = async (accessKeyId) => {
  if (accessKeyId === AGENT.access_key) return { secretAccessKey: AGENT.secret_key };
  if (accessKeyId === TEMP.access_key) return { secretAccessKey: TEMP.secret_key, sessionToken: TEMP.token };
  return null;
};

interface BotocoreSpec {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  access_key: string;
  secret_key: string;
  token?: string;
}

interface BotocoreSigned {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | null;
}

/** Runs test/fixtures/botocore_sign.py on one spec. */
function signWithBotocore(spec: BotocoreSpec): Promise<BotocoreSigned> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [SIGNER], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status === 0) resolve(JSON.parse(stdout) as BotocoreSigned);
      else reject(new Error(`botocore_sign.py exited with ${status}: ${stderr}`));
    });
    child.stdin.end(JSON.stringify({ region: REGION, service: SERVICE, ...spec }));
  });
}

/** What an HTTP server receives for the request botocore sends: the raw path and query, lower-case names. */
function asReceived(signed: BotocoreSigned): IncomingSignedRequest {
  const target = /^https?:\/\/[^/?#]*([^?#]*)(?:\?([^#]*))?/.exec(signed.url);
  if (target === null) throw new Error(`unexpected url ${signed.url}`);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = value;
  return {
    method: signed.method,
    path: target[1] || '/',
    query: target[2] ?? '',
    headers,
    body: new TextEncoder().encode(signed.body ?? ''),
  };
}

/** The server clock set to the time botocore signed at, so the test does not depend on the real clock. */
function signingTime(req: IncomingSignedRequest): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers['x-amz-date']));
  if (m === null) throw new Error('botocore sent no x-amz-date');
  return new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`);
}

function verify(req: IncomingSignedRequest) {
  return verifySigV4(req, { region: REGION, service: SERVICE, now: signingTime(req), lookup });
}

const JSON_HEADERS = { 'Content-Type': 'application/json' };

const ACCEPTED: Array<[string, BotocoreSpec]> = [
  ['GET /agents', { method: 'GET', url: `${ENDPOINT}/agents`, ...AGENT }],
  ['GET /audit with a query', { method: 'GET', url: `${ENDPOINT}/audit?after=3&limit=2`, ...AGENT }],
  [
    'GET /audit with a repeated key out of order',
    { method: 'GET', url: `${ENDPOINT}/audit?tag=b&tag=a&after=1`, ...AGENT },
  ],
  [
    'GET with an escaped query value',
    { method: 'GET', url: `${ENDPOINT}/agents?q=a%20b%2Fc%C3%A9&empty=`, ...AGENT },
  ],
  [
    'POST /actions with a JSON body',
    {
      method: 'POST',
      url: `${ENDPOINT}/actions`,
      headers: JSON_HEADERS,
      body: JSON.stringify({ actor: 'agent-1', action: 'aws.ec2.terminate_instances', resource: 'i-0abc' }),
      ...AGENT,
    },
  ],
  [
    'POST an outcome',
    {
      method: 'POST',
      url: `${ENDPOINT}/actions/main-3/outcome`,
      headers: JSON_HEADERS,
      body: '{"status":"started"}',
      ...AGENT,
    },
  ],
  ['DELETE /agents/x', { method: 'DELETE', url: `${ENDPOINT}/agents/x`, ...AGENT }],
  ['a path with a space', { method: 'GET', url: `${ENDPOINT}/agents/a b`, ...AGENT }],
  ['a path with unicode', { method: 'GET', url: `${ENDPOINT}/agents/café-ü`, ...AGENT }],
  ['a path escaped already', { method: 'GET', url: `${ENDPOINT}/agents/a%2Fb%20c`, ...AGENT }],
  [
    'a PUT with a unicode body',
    {
      method: 'PUT',
      url: `${ENDPOINT}/policies/p-1`,
      headers: JSON_HEADERS,
      body: '{"cedar":"permit(principal, action, resource); // é ✓"}',
      ...AGENT,
    },
  ],
  [
    'a header with runs of spaces',
    { method: 'GET', url: `${ENDPOINT}/keys`, headers: { 'X-Zt-Note': 'a   b \t c' }, ...AGENT },
  ],
  [
    'an unsigned user-agent (botocore never signs it)',
    { method: 'GET', url: `${ENDPOINT}/keys`, headers: { 'User-Agent': 'zt-test/1' }, ...AGENT },
  ],
  [
    'temporary credentials',
    { method: 'POST', url: `${ENDPOINT}/actions`, headers: JSON_HEADERS, body: '{}', ...TEMP },
  ],
];

describe.skipIf(BOTOCORE_MISSING)('when botocore signs a request', () => {
  // Each run of the helper pays for botocore's import (~0.5 s): sign them all at once.
  const signedByName = new Map<string, BotocoreSigned>();
  beforeAll(async () => {
    const signed = await Promise.all(ACCEPTED.map(([, spec]) => signWithBotocore(spec)));
    for (const [i, [name]] of ACCEPTED.entries()) signedByName.set(name, signed[i]!);
  });

  it.each(ACCEPTED)('accepts %s', async (name, spec) => {
    // Prepare
    const req = asReceived(signedByName.get(name)!);

    // Act
    const result = await verify(req);

    // Assess
    expect(result).toEqual({ ok: true, accessKeyId: spec.access_key });
  });

  it('prints the url as sent, percent-encoded once', async () => {
    // Act
    const signed = signedByName.get('a path with unicode')!;

    // Assess
    expect(signed.url).toBe(`${ENDPOINT}/agents/caf%C3%A9-%C3%BC`);
    expect(signed.headers['Host']).toBe('127.0.0.1:8787');
  });
});

describe.skipIf(BOTOCORE_MISSING)('when a botocore-signed request changes in transit', () => {
  let signed: IncomingSignedRequest;

  beforeAll(async () => {
    signed = asReceived(
      await signWithBotocore({
        method: 'POST',
        url: `${ENDPOINT}/actions/main-3/outcome?after=3&limit=2`,
        headers: { ...JSON_HEADERS, 'X-Zt-Request': 'r-1' },
        body: '{"status":"succeeded","exit_code":0}',
        ...AGENT,
      }),
    );
  });

  it('accepts it unchanged', async () => {
    // Act
    const result = await verify(signed);

    // Assess
    expect(result.ok).toBe(true);
  });

  it.each<[string, (req: IncomingSignedRequest) => IncomingSignedRequest]>([
    [
      'one byte of the body',
      (req) => ({ ...req, body: new TextEncoder().encode('{"status":"succeeded","exit_code":1}') }),
    ],
    ['one byte of the path', (req) => ({ ...req, path: '/actions/main-4/outcome' })],
    ['one byte of the query', (req) => ({ ...req, query: 'after=3&limit=3' })],
    ['a signed header', (req) => ({ ...req, headers: { ...req.headers, 'x-zt-request': 'r-2' } })],
    ['the content type', (req) => ({ ...req, headers: { ...req.headers, 'content-type': 'text/plain' } })],
  ])('rejects %s changed', async (_name, tamper) => {
    // Act
    const result = await verify(tamper(signed));

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'SIGNATURE_MISMATCH' });
  });
});
