import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValueStore } from '../../core/ports/ports.js';
import { chainPartition } from '../../core/ports/storageLayout.js';
import { checkOrigin, tokenMatches } from '../../local/console/consoleAuth.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One request exactly as given (path unnormalised, any Host), the way a hostile page or tool sends it. */
function raw(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  host = '127.0.0.1',
  body?: string,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Whether a TCP connection to host:port is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const TOKEN = 'console-test-token-0123456789abcdefghijklmnop';
const CONSOLE_PATHS = [
  '/',
  '/console.js',
  '/console.css',
  '/api/timeline',
  '/api/tallies',
  '/api/policies',
  '/api/log',
];

describe('when the console is reached over HTTP', () => {
  let emulator: TestEmulator;
  let admin: AwsCredentials;
  let agent: AwsCredentials;
  let port: number;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const api = async <T>(path: string): Promise<T> => {
    const answer = await raw(port, path, auth);
    expect(answer.status, answer.text).toBe(200);
    return JSON.parse(answer.text) as T;
  };

  beforeAll(async () => {
    // Bound like zt-local's API on another loopback address: the console must stay on 127.0.0.1 alone.
    emulator = await startTestEmulator({
      host: '127.0.0.2',
      console: { port: 0, token: TOKEN, verifyMinIntervalMs: 1 },
      checkpoints: { everyRecords: 1, everyMs: 60_000 },
    });
    port = emulator.console?.port as number;
    admin = emulator.adminCredentials;
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'files.read', agentId: 'worker' },
    });
    await send(emulator.url, 'PUT', '/policies/stricter', {
      credentials: admin,
      body: { cedar: 'forbid (principal, action, resource);', mode: 'shadow' },
    });
    for (const action of ['files.read', 'files.delete']) {
      const d = await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'worker', action, resource: 'report.txt' },
      });
      expect([200, 403]).toContain(d.status);
    }
  });
  afterAll(async () => {
    await emulator?.close();
  });

  describe('when the token is missing or wrong', () => {
    it('refuses every console path without a token (401, no data)', async () => {
      for (const path of CONSOLE_PATHS) {
        const answer = await raw(port, path);
        expect(answer.status, path).toBe(401);
        expect(JSON.parse(answer.text).error.code, path).toBe('TOKEN_REQUIRED');
        expect(answer.text).not.toMatch(/worker|files\.read|stricter|<html|function/);
      }
    });

    it('refuses a wrong token in the query, the cookie or the header (401, no data, no cookie set)', async () => {
      const wrong = `${TOKEN.slice(0, -1)}X`;
      const attempts: Array<[string, Record<string, string>]> = [
        [`/api/timeline?token=${wrong}`, {}],
        ['/api/timeline', { cookie: `zt_console_${port}=${wrong}` }],
        ['/api/timeline', { authorization: `Bearer ${wrong}` }],
        ['/api/timeline', { authorization: `Bearer ${TOKEN.slice(0, 16)}` }],
        ['/', { cookie: `zt_console_${port}=` }],
      ];
      for (const [path, headers] of attempts) {
        const answer = await raw(port, path, headers);
        expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(JSON.parse(answer.text).error.code).toBe('TOKEN_INVALID');
        expect(answer.headers['set-cookie']).toBeUndefined();
        expect(answer.text).not.toMatch(/worker|files\.read/);
      }
    });

    it('compares tokens whole: a prefix, a longer token or another one never matches', () => {
      expect(tokenMatches(TOKEN, TOKEN)).toBe(true);
      expect(tokenMatches(TOKEN, TOKEN.slice(0, 10))).toBe(false);
      expect(tokenMatches(TOKEN, `${TOKEN}x`)).toBe(false);
      expect(tokenMatches(TOKEN, '')).toBe(false);
    });
  });

  describe('when the right token is given', () => {
    it('trades ?token= for an HttpOnly SameSite=Strict cookie and a redirect without the token', async () => {
      const answer = await raw(port, `/?token=${TOKEN}`);
      expect(answer.status).toBe(303);
      expect(answer.headers.location).toBe('/');
      const cookie = String(answer.headers['set-cookie']);
      expect(cookie).toContain(`zt_console_${port}=${TOKEN}`);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      const page = await raw(port, '/', { cookie: `zt_console_${port}=${TOKEN}` });
      expect(page.status).toBe(200);
      expect(page.text).toContain('<title>zt-infra console</title>');
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.headers['x-frame-options']).toBe('DENY');
    });

    it('lists the decisions, denies included, newest first', async () => {
      const body = await api<{ entries: Array<{ action: string; decision: string; shadow: unknown }> }>(
        '/api/timeline',
      );
      expect(body.entries.map((e) => [e.action, e.decision])).toEqual([
        ['files.delete', 'deny'],
        ['files.read', 'allow'],
      ]);
      // The shadow forbid would have denied the allow: that is recorded, and shown.
      expect(body.entries[1]?.shadow).toMatchObject({ decision: 'deny' });
    });

    it('lists enforced and shadow policies apart', async () => {
      const body = await api<{ enforced: Array<{ policyId: string }>; shadow: Array<{ policyId: string }> }>(
        '/api/policies',
      );
      expect(body.shadow.map((p) => p.policyId)).toEqual(['stricter']);
      expect(body.enforced).toHaveLength(1);
      expect(body.enforced.map((p) => p.policyId)).not.toContain('stricter');
    });

    it('counts decisions per agent and per action', async () => {
      const body = await api<{ agents: unknown[]; actions: unknown[] }>('/api/tallies');
      expect(body.agents).toEqual([expect.objectContaining({ name: 'worker', allow: 1, deny: 1 })]);
      expect(body.actions).toEqual([
        expect.objectContaining({ name: 'files.delete', allow: 0, deny: 1 }),
        expect.objectContaining({ name: 'files.read', allow: 1, deny: 0 }),
      ]);
    });

    it('shows the newest checkpoint per lane and verifies the log in the background', async () => {
      let log: {
        lanes: Array<{ lane: string; head: number; checkpoint: { size: number } | null }>;
        verification: { state: string; result: { status: string; records: number } | null };
      };
      // The first ask starts a run; bounded wait for it to finish.
      for (let i = 0; ; i++) {
        log = await api('/api/log');
        if (log.verification.state === 'done' || i === 100) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(log.lanes[0]?.lane).toBe('main');
      expect(log.lanes[0]?.checkpoint?.size).toBeGreaterThan(0);
      expect(log.verification.state).toBe('done');
      expect(['valid', 'incomplete']).toContain(log.verification.result?.status);
      expect(log.verification.result?.records).toBe(log.lanes[0]?.head);
    });
  });

  describe('when a request comes from elsewhere', () => {
    it('refuses a foreign Host even with the token (DNS rebinding)', async () => {
      for (const host of [
        'attacker.example',
        `attacker.example:${port}`,
        `127.0.0.1:${port + 1}`,
        '127.0.0.1',
      ]) {
        const answer = await raw(port, '/api/policies', { ...auth, host });
        expect(answer.status, host).toBe(403);
        expect(JSON.parse(answer.text).error.code).toBe('HOST_NOT_ALLOWED');
        expect(answer.text).not.toContain('stricter');
      }
    });

    it('refuses a foreign Origin or a cross-site fetch even with the token', async () => {
      const attempts: Array<Record<string, string>> = [
        { origin: 'http://attacker.example' },
        { origin: `http://127.0.0.1:${port + 1}` },
        { origin: 'null' },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
      ];
      for (const headers of attempts) {
        const answer = await raw(port, '/api/policies', { ...auth, ...headers });
        expect(answer.status, JSON.stringify(headers)).toBe(403);
        expect(JSON.parse(answer.text).error.code).toBe('ORIGIN_NOT_ALLOWED');
        expect(answer.text).not.toContain('stricter');
      }
      // Its own origin is fine.
      const own = await raw(port, '/api/policies', { ...auth, origin: `http://127.0.0.1:${port}` });
      expect(own.status).toBe(200);
    });

    it('accepts no method that could write (405), and the log does not change', async () => {
      const before = await api<{ head: number }>('/api/timeline');
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const answer = await raw(port, '/api/policies', auth, method);
        expect(answer.status, method).toBe(405);
        expect(JSON.parse(answer.text).error.code).toBe('METHOD_NOT_ALLOWED');
      }
      expect((await api<{ head: number }>('/api/timeline')).head).toBe(before.head);
    });

    it('serves no file but its own, whatever path is asked (no traversal)', async () => {
      const paths = [
        '/../package.json',
        '/../../../../etc/passwd',
        '/%2e%2e/%2e%2e/package.json',
        '/..%2f..%2fpackage.json',
        '/static/../../../package.json',
        '/console.js/../../package.json',
        '//etc/passwd',
        '/.%2e/.%2e/etc/passwd',
        '/index.html',
        '/ConsoleServer.ts',
        '/static/index.html',
      ];
      for (const path of paths) {
        const answer = await raw(port, path, auth);
        expect(answer.status, path).toBe(404);
        expect(answer.text, path).not.toMatch(/root:|"dependencies"|startConsole/);
      }
    });

    it('listens on 127.0.0.1 only, not on the API host or any other address', async () => {
      expect(emulator.console?.address).toBe('127.0.0.1');
      expect(await accepts('127.0.0.1', port)).toBe(true);
      expect(await accepts('127.0.0.2', port)).toBe(false);
      const others = Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && i.family === 'IPv4' && !i.internal)
        .map((i) => i?.address as string);
      for (const address of others) expect(await accepts(address, port), address).toBe(false);
    });

    it('checks Host before anything else: a rebound name with the right port is refused', () => {
      expect(checkOrigin({ host: `127.0.0.1:${port}` }, port)).toBeNull();
      expect(checkOrigin({ host: `LOCALHOST:${port}` }, port)).toBeNull();
      expect(checkOrigin({ host: `rebind.example:${port}` }, port)?.code).toBe('HOST_NOT_ALLOWED');
      expect(checkOrigin({}, port)?.code).toBe('HOST_NOT_ALLOWED');
    });
  });
});

describe('when every console view is read', () => {
  it('writes nothing to the store', async () => {
    const writes: string[] = [];
    let counting = false;
    const emulator = await startTestEmulator({
      console: { port: 0, token: TOKEN, verifyMinIntervalMs: 1 },
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, name, receiver) {
            const value = Reflect.get(target, name, receiver);
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => {
              if (counting && name !== 'get' && name !== 'query') writes.push(String(name));
              return value.apply(target, args);
            };
          },
        }),
    });
    try {
      const port = emulator.console?.port as number;
      const reg = await send(emulator.url, 'POST', '/agents', {
        credentials: emulator.adminCredentials,
        body: { agentId: 'worker' },
      });
      const agent = (reg.body as { credentials: AwsCredentials }).credentials;
      await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'worker', action: 'files.read', resource: 'a' },
      });
      counting = true;
      for (let i = 0; i < 100; i++) {
        for (const path of [...CONSOLE_PATHS, '/api/timeline?after=1', '/api/timeline?actor=worker']) {
          const answer = await raw(port, path, { authorization: `Bearer ${TOKEN}` });
          expect(answer.status, path).toBe(200);
        }
        const log = JSON.parse((await raw(port, '/api/log', { authorization: `Bearer ${TOKEN}` })).text);
        if (log.verification.state === 'done') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(writes).toEqual([]);
    } finally {
      counting = false;
      await emulator.close();
    }
  });
});

describe('when a record in the store was altered', () => {
  it('the console says the log does not verify, naming the finding', async () => {
    let store: KeyValueStore | undefined;
    const emulator = await startTestEmulator({
      console: { port: 0, token: TOKEN, verifyMinIntervalMs: 1 },
      wrapStore: (s) => {
        store = s;
        return s;
      },
    });
    try {
      const port = emulator.console?.port as number;
      const reg = await send(emulator.url, 'POST', '/agents', {
        credentials: emulator.adminCredentials,
        body: { agentId: 'worker' },
      });
      const agent = (reg.body as { credentials: AwsCredentials }).credentials;
      const decision = await send(emulator.url, 'POST', '/actions', {
        credentials: agent,
        body: { actor: 'worker', action: 'files.delete', resource: 'report.txt' },
      });
      const seq = (decision.body as { audit: { seq: number } }).audit.seq;
      // Someone with the store file turns the deny into an allow.
      const pk = 'chain#main';
      const sk = String(seq).padStart(20, '0');
      const [item] = await (store as KeyValueStore).query(pk, {
        after: String(seq - 1).padStart(20, '0'),
        limit: 1,
      });
      await (store as KeyValueStore).put(
        pk,
        sk,
        (item?.data ?? '').replace('"decision":"deny"', '"decision":"allow"'),
      );
      let view: {
        verification: { state: string; result: { status: string; findings: Array<{ code: string }> } | null };
      };
      for (let i = 0; ; i++) {
        const answer = await raw(port, '/api/log', { authorization: `Bearer ${TOKEN}` });
        view = JSON.parse(answer.text);
        if (view.verification.state === 'done' || i === 100) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(view.verification.result?.status).toBe('tampered');
      expect(view.verification.result?.findings.map((f) => f.code)).toContain('HASH_MISMATCH');
    } finally {
      await emulator.close();
    }
  });
});

describe('when the emulator starts without the console', () => {
  it('serves no console (the default of the library; zt-local --no-console)', async () => {
    const emulator = await startTestEmulator();
    try {
      expect(emulator.console).toBeNull();
    } finally {
      await emulator.close();
    }
  });
});

/** An emulator with approvers `alice` and `bob`, an agent whose refunds need two approvers, and one pending. */
async function withPendingApproval(consoleApprover: string | undefined) {
  let store: KeyValueStore | undefined;
  const emulator = await startTestEmulator({
    approvers: ['alice', 'bob'],
    console: {
      port: 0,
      token: TOKEN,
      verifyMinIntervalMs: 60_000,
      ...(consoleApprover !== undefined ? { approver: consoleApprover } : {}),
    },
    wrapStore: (s) => {
      store = s;
      return s;
    },
  });
  const admin = emulator.adminCredentials;
  const reg = await send(emulator.url, 'POST', '/agents', { credentials: admin, body: { agentId: 'payer' } });
  const agent = (reg.body as { credentials: AwsCredentials }).credentials;
  const put = await send(emulator.url, 'PUT', '/policies/refunds', {
    credentials: admin,
    body: {
      cedar:
        '@approval("two-person")\npermit (principal == Agent::"payer", action == Action::"payments.refund", resource);',
    },
  });
  expect(put.status).toBe(200);
  const asked = await send(emulator.url, 'POST', '/actions', {
    credentials: agent,
    body: { actor: 'payer', action: 'payments.refund', resource: 'order-7', params: { amount: 500 } },
  });
  expect(asked.status).toBe(403);
  const approvalId = (asked.body as { approval_id: string }).approval_id;
  const port = emulator.console?.port as number;
  const head = async () => {
    const [last] = await (store as KeyValueStore).query(chainPartition('main'), {
      limit: 1,
      descending: true,
    });
    return { seq: Number(last?.sk ?? 0), record: JSON.parse(last?.data ?? '{}') as Record<string, unknown> };
  };
  return { emulator, port, approvalId, head };
}

interface Listed {
  approver: { name: string; profile: string; principal_arn: string } | null;
  approvals: Array<{
    approval_id: string;
    agent: string;
    action: string;
    resource: string;
    params: unknown;
    params_sha256: string;
    approvals_required: number;
    approvals_given: number;
    expires_at: string;
  }>;
}

describe('when the approvals inbox approves as the console approver', () => {
  let ctx: Awaited<ReturnType<typeof withPendingApproval>>;
  let sha: string;
  const auth = { authorization: `Bearer ${TOKEN}` };
  const same = () => ({
    origin: `http://127.0.0.1:${ctx.port}`,
    'x-zt-console': '1',
    'content-type': 'application/json',
  });
  const post = (
    path: string,
    headers: Record<string, string>,
    body = JSON.stringify({ params_sha256: sha }),
  ) => raw(ctx.port, path, headers, 'POST', '127.0.0.1', body);
  const list = async () => JSON.parse((await raw(ctx.port, '/api/approvals', auth)).text) as Listed;

  beforeAll(async () => {
    ctx = await withPendingApproval('alice');
    const listed = await list();
    sha = listed.approvals[0]?.params_sha256 as string;
  });
  afterAll(async () => {
    await ctx?.emulator.close();
  });

  it('lists the pending approval with its request, digest, approvals needed and given, and the approver', async () => {
    const listed = await list();
    expect(listed.approver).toEqual({
      name: 'alice',
      profile: 'zt-approver-alice',
      principal_arn: ctx.emulator.approvers[0]?.principalArn,
    });
    expect(listed.approvals).toHaveLength(1);
    expect(listed.approvals[0]).toMatchObject({
      approval_id: ctx.approvalId,
      agent: 'payer',
      action: 'payments.refund',
      resource: 'order-7',
      params: { amount: 500 },
      approvals_required: 2,
      approvals_given: 0,
    });
    expect(listed.approvals[0]?.params_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a POST without the token (401), from a foreign origin or without X-ZT-Console (403), writing nothing', async () => {
    const path = `/api/approvals/${ctx.approvalId}/approve`;
    const before = await ctx.head();
    const noToken = await post(path, same());
    expect(noToken.status).toBe(401);
    expect(JSON.parse(noToken.text).error.code).toBe('TOKEN_REQUIRED');
    const foreign = await post(path, { ...auth, ...same(), origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.text).error.code).toBe('ORIGIN_NOT_ALLOWED');
    // A tool that sends no Origin at all is refused too: a write must come from the page.
    const { origin: _o, ...noOrigin } = same();
    const missing = await post(path, { ...auth, ...noOrigin });
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.text).error.code).toBe('ORIGIN_NOT_ALLOWED');
    const { 'x-zt-console': _h, ...noHeader } = same();
    const form = await post(path, {
      ...auth,
      ...noHeader,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(403);
    expect(JSON.parse(form.text).error.code).toBe('CONSOLE_HEADER_REQUIRED');
    expect((await ctx.head()).seq).toBe(before.seq);
    expect((await list()).approvals[0]?.approvals_given).toBe(0);
  });

  it('keeps 405 for any other write: other paths, other methods on the approve path', async () => {
    for (const [method, path] of [
      ['POST', '/api/policies'],
      ['POST', '/api/approvals'],
      ['POST', `/api/approvals/${ctx.approvalId}/claim`],
      ['PUT', `/api/approvals/${ctx.approvalId}/approve`],
      ['DELETE', `/api/approvals/${ctx.approvalId}/reject`],
    ] as const) {
      const answer = await raw(ctx.port, path, { ...auth, ...same() }, method, '127.0.0.1', '{}');
      expect(answer.status, `${method} ${path}`).toBe(405);
      expect(JSON.parse(answer.text).error.code).toBe('METHOD_NOT_ALLOWED');
    }
  });

  it('passes on the service refusal of a wrong digest (409 APPROVAL_PARAMS_MISMATCH)', async () => {
    const wrong = await post(
      `/api/approvals/${ctx.approvalId}/approve`,
      { ...auth, ...same() },
      JSON.stringify({ params_sha256: '0'.repeat(64) }),
    );
    expect(wrong.status).toBe(409);
    expect(JSON.parse(wrong.text).error.code).toBe('APPROVAL_PARAMS_MISMATCH');
  });

  it('writes an approval record bound to the approver principal, and refuses its second approve (APPROVAL_DUPLICATE)', async () => {
    const path = `/api/approvals/${ctx.approvalId}/approve`;
    const before = await ctx.head();
    const first = await post(path, { ...auth, ...same() });
    expect(first.status, first.text).toBe(200);
    const after = await ctx.head();
    expect(after.seq).toBe(before.seq + 1);
    expect(after.record).toMatchObject({
      kind: 'approval',
      decision_id: ctx.approvalId,
      verdict: 'approve',
      params_sha256: sha,
      principal_arn: ctx.emulator.approvers[0]?.principalArn,
    });
    expect(after.record['principal_arn']).not.toBe(ctx.emulator.admin.principalArn);
    expect(JSON.parse(first.text).record).toMatchObject({ id: after.record['id'], verdict: 'approve' });
    expect((await list()).approvals[0]?.approvals_given).toBe(1);

    const second = await post(path, { ...auth, ...same() });
    expect(second.status).toBe(409);
    expect(JSON.parse(second.text).error.code).toBe('APPROVAL_DUPLICATE');
    expect((await ctx.head()).seq).toBe(after.seq);
  });
});

describe('when the console has no approver', () => {
  it('lists pending approvals, refuses approve and reject (403 CONSOLE_NOT_APPROVING) and writes nothing', async () => {
    const ctx = await withPendingApproval(undefined);
    try {
      const auth = { authorization: `Bearer ${TOKEN}` };
      const listed = JSON.parse((await raw(ctx.port, '/api/approvals', auth)).text) as Listed;
      expect(listed.approver).toBeNull();
      const sha = listed.approvals[0]?.params_sha256 as string;
      expect(sha).toMatch(/^[0-9a-f]{64}$/);
      const before = await ctx.head();
      for (const verdict of ['approve', 'reject']) {
        const answer = await raw(
          ctx.port,
          `/api/approvals/${ctx.approvalId}/${verdict}`,
          {
            ...auth,
            origin: `http://127.0.0.1:${ctx.port}`,
            'x-zt-console': '1',
            'content-type': 'application/json',
          },
          'POST',
          '127.0.0.1',
          JSON.stringify({ params_sha256: sha }),
        );
        expect(answer.status, verdict).toBe(403);
        expect(JSON.parse(answer.text).error.code).toBe('CONSOLE_NOT_APPROVING');
      }
      expect((await ctx.head()).seq).toBe(before.seq);
      const again = JSON.parse((await raw(ctx.port, '/api/approvals', auth)).text) as Listed;
      expect(again.approvals[0]?.approvals_given).toBe(0);
    } finally {
      await ctx.emulator.close();
    }
  });
});

describe('when the console approver is not one of the emulator approvers', () => {
  it('refuses to start with CONSOLE_APPROVER_UNKNOWN', async () => {
    for (const approvers of [['alice'], []]) {
      await expect(
        startTestEmulator({ approvers, console: { port: 0, token: TOKEN, approver: 'mallory' } }),
      ).rejects.toMatchObject({ code: 'CONSOLE_APPROVER_UNKNOWN' });
    }
  });
});
