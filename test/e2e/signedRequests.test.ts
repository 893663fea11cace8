import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsCredentials, signRequest } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';
import { amzTime, manualAuthorization } from '../local/manualSigV4.js';

// Attacks on the signed edge of the emulator over real HTTP: a captured request replayed, a signature
// made for another host, a query key given twice, the signing time taken from the `date` header, and
// bodies that parse but cannot be recorded exactly.

interface Answer {
  status: number;
  body: {
    decision?: string;
    audit?: { id: string; seq: number; request_id: string; decision: string };
    error?: { code: string; details?: { field?: string } };
  };
}

/** Sends exactly these headers (`host` included, as given) and body, with node's HTTP client. */
function sendRaw(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Answer> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method,
        headers,
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Signs a request for `signedUrl` (its host is what gets signed) and sends it to `sendTo` unchanged. */
async function signAndSend(
  signedUrl: string,
  sendTo: string,
  credentials: AwsCredentials,
  init: { method?: string; body?: string; now?: Date } = {},
): Promise<Answer> {
  const method = init.method ?? 'GET';
  const signed = await signRequest(
    { method, url: signedUrl, ...(init.body !== undefined ? { body: init.body } : {}) },
    { credentials, region: 'us-east-1', ...(init.now ? { now: init.now } : {}) },
  );
  const path = signed.url.slice(new URL(signed.url).origin.length);
  return sendRaw(`${sendTo}${path}`, method, signed.headers, init.body);
}

describe('when the emulator is sent signed requests that were captured, redirected or bent', () => {
  let emulator: TestEmulator;
  let admin: AwsCredentials;
  let agent: AwsCredentials;
  let port: string;
  const records = async () => (await emulator.parts.writer.page(0, 100_000)).length;

  beforeAll(async () => {
    emulator = await startTestEmulator();
    admin = emulator.adminCredentials;
    port = new URL(emulator.url).port;
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    expect(reg.status).toBe(201);
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    const allow = await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    expect(allow.status).toBe(201);
  });
  afterAll(async () => {
    await emulator?.close();
  });

  describe('when a captured POST /actions is replayed within the 5-minute window', () => {
    it('answers a replay without request_id with the same record and writes no second one', async () => {
      // Prepare: one signed request, captured as it went on the wire.
      const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello' });
      const signed = await signRequest(
        { method: 'POST', url: `${emulator.url}/actions`, body },
        { credentials: agent, region: 'us-east-1' },
      );
      const before = await records();

      // Act
      const first = await sendRaw(signed.url, 'POST', signed.headers, body);
      const replay = await sendRaw(signed.url, 'POST', signed.headers, body);

      // Assess
      expect(first.status).toBe(200);
      expect(replay).toEqual(first);
      expect(first.body.audit?.request_id).toMatch(/^sig-[0-9a-f]{64}$/);
      expect(await records()).toBe(before + 1);
    });

    it('writes one record for replays sent all at once, and every allow names it', async () => {
      // Prepare
      const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello', resource: 'burst' });
      const signed = await signRequest(
        { method: 'POST', url: `${emulator.url}/actions`, body },
        { credentials: agent, region: 'us-east-1' },
      );
      const before = await records();

      // Act
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => sendRaw(signed.url, 'POST', signed.headers, body)),
      );

      // Assess: each is the one record, or a 409 while it is being decided; never a second decision.
      const allowed = answers.filter((a) => a.status === 200);
      expect(allowed.length).toBeGreaterThan(0);
      expect(new Set(allowed.map((a) => a.body.audit?.id)).size).toBe(1);
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status).toBe(409);
        expect(a.body.error?.code).toBe('REQUEST_IN_PROGRESS');
      }
      expect(await records()).toBe(before + 1);
    });

    it('still decides two requests with the same body signed at different times', async () => {
      // Prepare
      const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello', resource: 'twice' });
      const before = await records();

      // Act
      const earlier = await signAndSend(`${emulator.url}/actions`, emulator.url, agent, {
        method: 'POST',
        body,
        now: new Date(Date.now() - 2000),
      });
      const now = await signAndSend(`${emulator.url}/actions`, emulator.url, agent, { method: 'POST', body });

      // Assess
      expect([earlier.status, now.status]).toEqual([200, 200]);
      expect(now.body.audit?.id).not.toBe(earlier.body.audit?.id);
      expect(await records()).toBe(before + 2);
    });

    it('answers a replay with a request_id with the same record too', async () => {
      // Prepare
      const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello', request_id: 'rid-7' });
      const signed = await signRequest(
        { method: 'POST', url: `${emulator.url}/actions`, body },
        { credentials: agent, region: 'us-east-1' },
      );
      const before = await records();

      // Act
      const first = await sendRaw(signed.url, 'POST', signed.headers, body);
      const replay = await sendRaw(signed.url, 'POST', signed.headers, body);

      // Assess
      expect(replay).toEqual(first);
      expect(first.body.audit?.request_id).toBe('rid-7');
      expect(await records()).toBe(before + 1);
    });
  });

  describe('when the signed host is not this server', () => {
    it.each([
      ['127.0.0.1 and its port', (p: string) => `http://127.0.0.1:${p}`],
      ['localhost and its port', (p: string) => `http://localhost:${p}`],
    ])('accepts a request signed for %s', async (_name, origin) => {
      // Act
      const answer = await signAndSend(`${origin(port)}/keys`, emulator.url, admin);

      // Assess
      expect(answer.status).toBe(200);
    });

    it.each([
      ['another host', () => 'https://abc123.execute-api.us-east-1.amazonaws.com'],
      ['another port', (p: string) => `http://127.0.0.1:${Number(p) === 65535 ? 1 : Number(p) + 1}`],
      ['no port', () => 'http://127.0.0.1'],
    ])('refuses a valid signature made for %s, and decides nothing', async (_name, origin) => {
      // Prepare
      const before = await records();
      const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello', resource: 'moved' });

      // Act
      const answer = await signAndSend(`${origin(port)}/actions`, emulator.url, agent, {
        method: 'POST',
        body,
      });

      // Assess
      expect(answer.status).toBe(403);
      expect(answer.body.error?.code).toBe('HOST_MISMATCH');
      expect(await records()).toBe(before);
    });

    it('accepts a configured public name, and only it', async () => {
      // Prepare
      const proxied = await startTestEmulator({ publicHosts: ['zt.example.test', 'gw.example.test:8443'] });
      try {
        const creds = proxied.adminCredentials;

        // Act
        const answers = await Promise.all([
          signAndSend('https://zt.example.test/keys', proxied.url, creds),
          signAndSend('https://gw.example.test:8443/keys', proxied.url, creds),
          signAndSend('https://other.example.test/keys', proxied.url, creds),
          signAndSend('https://zt.example.test:8443/keys', proxied.url, creds),
        ]);

        // Assess
        expect(answers.map((a) => a.status)).toEqual([200, 200, 403, 403]);
        expect(answers[2]?.body.error?.code).toBe('HOST_MISMATCH');
      } finally {
        await proxied.close();
      }
    });
  });

  describe('when a query key is given twice', () => {
    it.each([
      ['as written', '/audit?after=1&after=5'],
      ['once percent-encoded', '/audit?after=1&%61fter=5'],
      ['with another key between', '/audit?after=1&limit=2&after=5'],
    ])('refuses a correctly signed request %s', async (_name, path) => {
      // Act
      const answer = await signAndSend(`${emulator.url}${path}`, emulator.url, admin);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('DUPLICATE_QUERY_PARAMETER');
    });

    it('answers the same keys given once', async () => {
      // Act
      const answer = await signAndSend(`${emulator.url}/audit?after=1&limit=5`, emulator.url, admin);

      // Assess
      expect(answer.status).toBe(200);
    });
  });

  describe('when the signing time is in the date header instead of x-amz-date', () => {
    const manual = (at: Date, date: string, scopeDate = amzTime(at).slice(0, 8)) => {
      const headers = { host: `127.0.0.1:${port}`, date };
      const authorization = manualAuthorization(
        { method: 'GET', path: '/keys', headers },
        { ...admin, scopeDate, region: 'us-east-1', service: 'execute-api', time: amzTime(at) },
      );
      return sendRaw(`${emulator.url}/keys`, 'GET', { ...headers, authorization });
    };
    const minutesAgo = (n: number) => new Date(Date.now() - n * 60_000);

    it('accepts a signed date header, as an http date or as yyyymmddThhmmssZ', async () => {
      // Prepare
      const at = new Date();

      // Act
      const answers = await Promise.all([manual(at, at.toUTCString()), manual(at, amzTime(at))]);

      // Assess
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
    });

    it('refuses a date header older than 5 minutes', async () => {
      // Prepare
      const at = minutesAgo(6);

      // Act
      const answer = await manual(at, at.toUTCString());

      // Assess
      expect(answer.status).toBe(403);
      expect(answer.body.error?.code).toBe('SIGNATURE_EXPIRED');
    });

    it('refuses a credential scope dated another day than the date header', async () => {
      // Prepare
      const at = new Date();
      const yesterday = amzTime(new Date(at.getTime() - 86_400_000)).slice(0, 8);

      // Act
      const answer = await manual(at, at.toUTCString(), yesterday);

      // Assess
      expect(answer.status).toBe(403);
      expect(answer.body.error?.code).toBe('CREDENTIAL_SCOPE_MISMATCH');
    });

    it('uses x-amz-date when both are sent: an old signed date beside it is fine, not the reverse', async () => {
      // Prepare
      const now = new Date();
      const old = minutesAgo(10);
      const both = (time: Date, date: Date) => {
        const headers = { host: `127.0.0.1:${port}`, date: date.toUTCString(), 'x-amz-date': amzTime(time) };
        const authorization = manualAuthorization(
          { method: 'GET', path: '/keys', headers },
          {
            ...admin,
            scopeDate: amzTime(time).slice(0, 8),
            region: 'us-east-1',
            service: 'execute-api',
            time: amzTime(time),
          },
        );
        return sendRaw(`${emulator.url}/keys`, 'GET', { ...headers, authorization });
      };

      // Act
      const answers = await Promise.all([both(now, old), both(old, now)]);

      // Assess
      expect(answers.map((a) => a.status)).toEqual([200, 403]);
      expect(answers[1]?.body.error?.code).toBe('SIGNATURE_EXPIRED');
    });
  });

  describe('when a body parses as JSON but cannot be recorded exactly', () => {
    /** POST /actions with exactly these body bytes, signed over them. */
    const decide = (body: string | Buffer) => {
      const at = new Date();
      const headers = {
        host: `127.0.0.1:${port}`,
        'content-type': 'application/json',
        'x-amz-date': amzTime(at),
      };
      const authorization = manualAuthorization(
        { method: 'POST', path: '/actions', headers, body },
        {
          ...agent,
          scopeDate: amzTime(at).slice(0, 8),
          region: 'us-east-1',
          service: 'execute-api',
          time: amzTime(at),
        },
      );
      return sendRaw(`${emulator.url}/actions`, 'POST', { ...headers, authorization }, body);
    };

    it.each([
      [
        '1e400',
        '{"actor":"worker","action":"hello-world.say_hello","context":{"n":1e400}}',
        'NUMBER_OUT_OF_RANGE',
        'context.n',
      ],
      [
        'an integer beyond 2^53',
        '{"actor":"worker","action":"hello-world.say_hello","params":[9007199254740993]}',
        'NUMBER_OUT_OF_RANGE',
        'params[0]',
      ],
      [
        'a lone surrogate',
        '{"actor":"worker","action":"hello-world.say_hello","context":{"s":"\\udc01"}}',
        'LONE_SURROGATE',
        'context.s',
      ],
      [
        'a repeated key',
        '{"actor":"worker","action":"hello-world.say_hello","resource":"a","resource":"b"}',
        'DUPLICATE_KEY',
        'resource',
      ],
      [
        '33 levels',
        `{"actor":"worker","action":"hello-world.say_hello","params":${'['.repeat(32)}${']'.repeat(32)}}`,
        'NESTING_TOO_DEEP',
        `params${'[0]'.repeat(31)}`,
      ],
    ])('refuses %s with a 400 naming where, and writes nothing', async (_name, body, code, field) => {
      // Prepare
      const before = await records();

      // Act
      const answer = await decide(body);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe(code);
      expect(answer.body.error?.details?.field).toBe(field);
      expect(await records()).toBe(before);
    });

    it('decides a body nested exactly 32 levels deep', async () => {
      // Act: body (1) > params (2) > 30 arrays
      const answer = await decide(
        `{"actor":"worker","action":"hello-world.say_hello","params":{"a":${'['.repeat(30)}${']'.repeat(30)}}}`,
      );

      // Assess
      expect(answer.status).toBe(200);
    });

    it('refuses a body that is not valid utf-8 instead of hashing a replacement character', async () => {
      // Prepare: the signature covers the raw bytes, 0xff included.
      const bytes = Buffer.concat([
        Buffer.from('{"actor":"worker","action":"hello-world.say_hello","resource":"'),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ]);
      const before = await records();

      // Act
      const answer = await decide(bytes);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('MALFORMED_JSON');
      expect(await records()).toBe(before);
    });
  });
});
