import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../sdk/errors.js';
import { GatewayClient } from '../../sdk/GatewayClient.js';
import type { SignedRequest } from '../../sdk/signer.js';
import { sendRequest } from '../../sdk/transport.js';

let server: Server | undefined;

/** A throwaway server on an ephemeral loopback port. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  if (server === undefined) return;
  server.closeAllConnections();
  await new Promise((resolve) => server!.close(resolve));
  server = undefined;
});

const get = (url: string): SignedRequest => ({ method: 'GET', url, headers: { host: new URL(url).host } });

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

describe('sendRequest', () => {
  describe('when the server answers 200 with JSON', () => {
    it('returns status, headers, text and parsed body, sending method, headers and body', async () => {
      // Prepare
      let seen: { method?: string; header?: string; body: string } = { body: '' };
      const base = await serve((req, res) => {
        let body = '';
        req.on('data', (c) => {
          body += c;
        });
        req.on('end', () => {
          seen = { method: req.method, header: req.headers['x-test'] as string, body };
          res.writeHead(200, { 'content-type': 'application/json', 'x-answer': 'yes' }).end('{"ok":true}');
        });
      });
      // Act
      const res = await sendRequest({
        method: 'POST',
        url: `${base}/agents`,
        headers: { host: new URL(base).host, 'x-test': '1', 'content-type': 'application/json' },
        body: '{"agentId":"a1"}',
      });
      // Assess
      expect(res).toMatchObject({ status: 200, bodyText: '{"ok":true}', json: { ok: true } });
      expect(res.headers['x-answer']).toBe('yes');
      expect(seen).toEqual({ method: 'POST', header: '1', body: '{"agentId":"a1"}' });
    });
  });

  describe('when the server never answers', () => {
    it('fails with TIMEOUT', async () => {
      // Prepare: accept the request, never respond
      const base = await serve(() => undefined);
      // Act
      const err = await failure(sendRequest(get(`${base}/health`), { timeoutMs: 200 }));
      // Assess
      expect(err.code).toBe('TIMEOUT');
    });
  });

  describe('when nothing listens on the port', () => {
    it('fails with CONNECTION_FAILED', async () => {
      // Prepare: take a free port, then close it
      const base = await serve(() => undefined);
      await new Promise((resolve) => server!.close(resolve));
      server = undefined;
      // Act
      const err = await failure(sendRequest(get(`${base}/health`)));
      // Assess
      expect(err.code).toBe('CONNECTION_FAILED');
    });
  });

  describe('when the host name does not resolve', () => {
    it('fails with DNS_FAILURE', async () => {
      // Prepare: what undici throws for ENOTFOUND (no real DNS lookups in tests)
      const fetch = async () => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND gateway.invalid'), { code: 'ENOTFOUND' }),
        });
      };
      // Act
      const err = await failure(sendRequest(get('http://gateway.invalid/health'), { fetch }));
      // Assess
      expect(err.code).toBe('DNS_FAILURE');
    });
  });

  describe('when a 200 answer is not JSON', () => {
    it('fails with NON_JSON_RESPONSE', async () => {
      // Prepare
      const base = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
      });
      // Act
      const err = await failure(sendRequest(get(`${base}/health`)));
      // Assess
      expect(err.code).toBe('NON_JSON_RESPONSE');
      expect(err.status).toBe(200);
    });
  });

  describe('when the server answers 500 with an error body', () => {
    it('fails with HTTP_ERROR carrying the server code, message and trace id', async () => {
      // Prepare
      const base = await serve((_req, res) => {
        res
          .writeHead(500, { 'content-type': 'application/json' })
          .end('{"ok":false,"error":{"code":"INTERNAL","message":"internal error","trace_id":"t-1"}}');
      });
      // Act
      const err = await failure(sendRequest(get(`${base}/agents`)));
      // Assess
      expect(err.code).toBe('HTTP_ERROR');
      expect(err.status).toBe(500);
      expect(err.serverCode).toBe('INTERNAL');
      expect(err.serverMessage).toBe('internal error');
      expect(err.traceId).toBe('t-1');
      expect(err.body).toEqual({
        ok: false,
        error: { code: 'INTERNAL', message: 'internal error', trace_id: 't-1' },
      });
    });
  });

  describe('when a non-2xx answer is accepted (decisions)', () => {
    it('returns the 403 and its body', async () => {
      // Prepare
      const base = await serve((_req, res) => {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"ok":false,"decision":"deny"}');
      });
      // Act
      const res = await sendRequest(get(`${base}/actions`), { acceptAnyStatus: true });
      // Assess
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ ok: false, decision: 'deny' });
    });
  });
});

describe('GatewayClient over the transport', () => {
  const credentials = { accessKeyId: 'AKIDCLIENT', secretAccessKey: 'client-secret' };

  describe('when a decision is a 403 deny', () => {
    it('returns status and body instead of throwing', async () => {
      // Prepare
      const base = await serve((_req, res) => {
        res
          .writeHead(403, { 'content-type': 'application/json' })
          .end('{"ok":false,"decision":"deny","audit":{}}');
      });
      const client = new GatewayClient({ endpoint: base, credentials });
      // Act
      const answer = await client.decide({ actor: 'a1', action: 'aws.ec2.terminate_instances' });
      // Assess
      expect(answer).toEqual({ status: 403, body: { ok: false, decision: 'deny', audit: {} } });
    });
  });

  describe('when paging the audit log under a stage path', () => {
    it('signs every page, follows `next` until null and yields records in order', async () => {
      // Prepare
      const urls: string[] = [];
      const base = await serve((req, res) => {
        urls.push(req.url ?? '');
        expect(req.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDCLIENT\//);
        const after = new URL(req.url ?? '', 'http://x').searchParams.get('after');
        const body =
          after === null
            ? '{"records":[{"seq":1,"chain":"main"},{"seq":2,"chain":"main"}],"next":2}'
            : '{"records":[{"seq":3,"chain":"main"}],"next":null}';
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      const client = new GatewayClient({ endpoint: `${base}/prod/`, credentials });
      const progress: number[] = [];
      // Act
      const seqs: number[] = [];
      for await (const record of client.auditAll((n) => progress.push(n))) seqs.push(record.seq);
      // Assess
      expect(seqs).toEqual([1, 2, 3]);
      expect(progress).toEqual([2, 3]);
      expect(urls).toEqual(['/prod/audit', '/prod/audit?after=2']);
    });

    it('pages one lane by name, and refuses a page holding a record of another lane', async () => {
      // Prepare
      const urls: string[] = [];
      const base = await serve((req, res) => {
        urls.push(req.url ?? '');
        const after = new URL(req.url ?? '', 'http://x').searchParams.get('after');
        const body =
          after === null
            ? '{"records":[{"seq":1,"chain":"w-1"}],"next":1}'
            : '{"records":[{"seq":2,"chain":"main"}],"next":null}';
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      const client = new GatewayClient({ endpoint: base, credentials });
      // Act
      const seen: number[] = [];
      const paging = (async () => {
        for await (const page of client.auditPages({ lane: 'w-1', limit: 1 })) seen.push(page.records.length);
      })();
      // Assess
      await expect(paging).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
      expect(seen).toEqual([1]);
      expect(urls).toEqual(['/audit?lane=w-1&limit=1', '/audit?lane=w-1&after=1&limit=1']);
    });
  });

  describe('when an id has characters that are special in a path', () => {
    it('escapes it as one path segment', async () => {
      // Prepare
      let url = '';
      const base = await serve((req, res) => {
        url = req.url ?? '';
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end('{"agentId":"a/b c","principalArn":"x"}');
      });
      const client = new GatewayClient({ endpoint: base, credentials });
      // Act
      await client.getAgent('a/b c');
      // Assess
      expect(url).toBe('/agents/a%2Fb%20c');
    });
  });
});
