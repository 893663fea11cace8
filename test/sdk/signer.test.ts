import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type SignOptions, signRequest, type UnsignedRequest } from '../../sdk/signer.js';

// The example keys of the AWS documentation and of the SigV4 test suite.
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const NOW = new Date('2026-01-02T03:04:05.000Z');

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** SigV4 written out from the AWS documentation with node:crypto, independent of @smithy/signature-v4. */
function signatureByHand(input: {
  method: string;
  canonicalUri: string;
  canonicalQuery: string;
  headers: Record<string, string>;
  body: string;
  amzDate: string;
  region: string;
  service: string;
  secretAccessKey: string;
}): { signature: string; signedHeaders: string } {
  const names = Object.keys(input.headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${input.headers[n]!.trim()}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method,
    input.canonicalUri,
    input.canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    sha256Hex(input.body),
  ].join('\n');
  const day = input.amzDate.slice(0, 8);
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', input.amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${input.secretAccessKey}`, day);
  const kRegion = hmac(kDate, input.region);
  const kService = hmac(kRegion, input.service);
  const kSigning = hmac(kService, 'aws4_request');
  return { signature: hmac(kSigning, stringToSign).toString('hex'), signedHeaders };
}

function parseAuthorization(value: string | undefined) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
    value ?? '',
  );
  expect(m, `authorization header \`${value}\``).not.toBeNull();
  return { credential: m![1]!, signedHeaders: m![2]!, signature: m![3]! };
}

describe('signRequest', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  describe('when signing the AWS test-suite request `get-vanilla`', () => {
    it('produces the documented signature', async () => {
      // Prepare: aws-sig-v4-test-suite/get-vanilla (service `service`, which our type narrows to execute-api).
      const opts = {
        credentials: CREDENTIALS,
        region: 'us-east-1',
        service: 'service' as 'execute-api',
        now: new Date('2015-08-30T12:36:00Z'),
      };
      // Act
      const signed = await signRequest({ method: 'GET', url: 'https://example.amazonaws.com/' }, opts);
      // Assess
      expect(signed.headers['authorization']).toBe(
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
          'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
      );
      expect(signed.headers['x-amz-date']).toBe('20150830T123600Z');
    });
  });

  describe('when signing a POST with a JSON body for execute-api', () => {
    it('matches a signature derived by hand', async () => {
      // Prepare
      const body = '{"agentId":"agent-1","attributes":{"team":"ops"}}';
      // Act
      const signed = await signRequest(
        { method: 'post', url: 'http://127.0.0.1:8787/agents', body },
        { credentials: CREDENTIALS, region: 'us-east-1', now: NOW },
      );
      // Assess
      const expected = signatureByHand({
        method: 'POST',
        canonicalUri: '/agents',
        canonicalQuery: '',
        headers: {
          'content-type': 'application/json',
          host: '127.0.0.1:8787',
          'x-amz-date': '20260102T030405Z',
        },
        body,
        amzDate: '20260102T030405Z',
        region: 'us-east-1',
        service: 'execute-api',
        secretAccessKey: CREDENTIALS.secretAccessKey,
      });
      const auth = parseAuthorization(signed.headers['authorization']);
      expect(auth.credential).toBe('AKIDEXAMPLE/20260102/us-east-1/execute-api/aws4_request');
      expect(auth.signedHeaders).toBe(expected.signedHeaders);
      expect(auth.signature).toBe(expected.signature);
      expect(signed).toMatchObject({ method: 'POST', url: 'http://127.0.0.1:8787/agents', body });
      expect(signed.headers['host']).toBe('127.0.0.1:8787');
      expect(signed.headers['content-type']).toBe('application/json');
      expect(signed.headers['x-amz-content-sha256']).toBeUndefined();
    });
  });

  describe('when the path has escaped characters, the query is unsorted and there is a session token', () => {
    it('double-encodes the path, sorts the query and signs the token, like API Gateway expects', async () => {
      // Prepare
      const creds = { ...CREDENTIALS, sessionToken: 'token/with+chars=' };
      // Act
      const signed = await signRequest(
        {
          method: 'GET',
          url: 'https://abc.execute-api.eu-west-1.amazonaws.com/prod/agents/a%20b?limit=10&after=5',
        },
        { credentials: creds, region: 'eu-west-1', now: NOW },
      );
      // Assess
      const expected = signatureByHand({
        method: 'GET',
        canonicalUri: '/prod/agents/a%2520b',
        canonicalQuery: 'after=5&limit=10',
        headers: {
          host: 'abc.execute-api.eu-west-1.amazonaws.com',
          'x-amz-date': '20260102T030405Z',
          'x-amz-security-token': 'token/with+chars=',
        },
        body: '',
        amzDate: '20260102T030405Z',
        region: 'eu-west-1',
        service: 'execute-api',
        secretAccessKey: CREDENTIALS.secretAccessKey,
      });
      const auth = parseAuthorization(signed.headers['authorization']);
      expect(auth.signedHeaders).toBe('host;x-amz-date;x-amz-security-token');
      expect(auth.signature).toBe(expected.signature);
      expect(signed.headers['x-amz-security-token']).toBe('token/with+chars=');
      expect(signed.headers['content-type']).toBeUndefined();
    });
  });

  describe('when the caller passes a payload hash header', () => {
    it('ignores it and hashes the body itself', async () => {
      // Prepare
      const body = '{"a":1}';
      const base: UnsignedRequest = { method: 'PUT', url: 'http://127.0.0.1:8787/policies/p1', body };
      const opts: SignOptions = { credentials: CREDENTIALS, region: 'us-east-1', now: NOW };
      // Act
      const honest = await signRequest(base, opts);
      const lying = await signRequest({ ...base, headers: { 'X-Amz-Content-Sha256': '0'.repeat(64) } }, opts);
      // Assess
      expect(lying.headers['authorization']).toBe(honest.headers['authorization']);
      expect(lying.headers['x-amz-content-sha256']).toBeUndefined();
    });
  });

  describe('when called twice with the same input', () => {
    it('returns the same output, does no I/O and leaves the input alone', async () => {
      // Prepare
      const fetchSpy = vi.fn();
      vi.stubGlobal('fetch', fetchSpy);
      const req: UnsignedRequest = {
        method: 'POST',
        url: 'http://127.0.0.1:8787/actions',
        headers: { Accept: 'application/json' },
        body: '{"actor":"a1","action":"aws.ec2.terminate_instances"}',
      };
      const snapshot = structuredClone(req);
      const opts: SignOptions = { credentials: CREDENTIALS, region: 'us-east-1', now: NOW };
      // Act
      const first = await signRequest(req, opts);
      const second = await signRequest(req, opts);
      // Assess
      expect(second).toEqual(first);
      expect(req).toEqual(snapshot);
      expect(fetchSpy).not.toHaveBeenCalled();
      expect(first.headers['accept']).toBe('application/json');
    });
  });
});
