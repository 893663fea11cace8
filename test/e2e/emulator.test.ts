import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../core/model/canonical.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { validateResponse } from '../contract/openapiValidator.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

interface DecisionAnswer {
  decision: string;
  audit: { id: string; seq: number; reason: string; principal_arn: string; actor: string };
  error?: { code: string };
}

describe('when the emulator is attacked and loaded over real HTTP', () => {
  let emulator: TestEmulator;
  let admin: AwsCredentials;
  let agent: AwsCredentials;
  const audit = async () => {
    const lines: string[] = [];
    for (let after = 0; ; ) {
      const page = await send(emulator.url, 'GET', `/audit?after=${after}&limit=1000`, {
        credentials: admin,
      });
      const body = page.body as { records: unknown[]; next: number | null };
      lines.push(...body.records.map((r) => canonicalize(r)));
      if (body.next === null) return lines;
      after = body.next;
    }
  };

  beforeAll(async () => {
    emulator = await startTestEmulator();
    admin = emulator.adminCredentials;
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

  it('answers health without a signature and nothing else', async () => {
    expect((await send(emulator.url, 'GET', '/health')).body).toEqual({ ok: true });
    const unsigned = await send(emulator.url, 'GET', '/agents');
    expect(unsigned.status).toBe(403);
    expect((unsigned.body as DecisionAnswer).error?.code).toBe('MISSING_AUTHENTICATION');
  });

  it('answers the read routes as openapi.yaml documents them', async () => {
    await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'hello-world.say_hello' },
    });
    const reads: Array<[string, AwsCredentials]> = [
      ['/keys', agent],
      ['/agents', admin],
      ['/agents/worker', admin],
      ['/policies', admin],
      ['/audit?after=0&limit=2', admin],
      ['/audit/checkpoint', admin],
      ['/audit/checkpoints?after=0', admin],
    ];
    for (const [path, credentials] of reads) {
      const answer = await send(emulator.url, 'GET', path, { credentials });
      expect(answer.status, path).toBe(200);
      const documented = validateResponse('GET', path.split('?')[0] as string, answer.status, answer.body);
      expect(documented.ok ? [] : documented.errors, path).toEqual([]);
    }
    const keys = (await send(emulator.url, 'GET', '/keys', { credentials: agent })).body as {
      keys: Array<{ role: string; certificate?: { kind: string } }>;
    };
    const sessions = keys.keys.filter((k) => k.role === 'session');
    expect(sessions.length).toBeGreaterThan(0);
    expect(sessions.every((k) => k.certificate?.kind === 'key')).toBe(true);
  });

  it('answers a wrong method with 405 and the allowed methods in the Allow header', async () => {
    const answer = await send(emulator.url, 'PATCH', '/agents', { credentials: admin, body: {} });
    expect(answer.status).toBe(405);
    expect(answer.headers.get('allow')).toBe('POST, GET');
    expect((answer.body as { error: { code: string; allow?: string } }).error).toEqual({
      code: 'METHOD_NOT_ALLOWED',
      message: expect.stringContaining('PATCH'),
    });
  });

  it('refuses a forged signature with 403 and writes nothing', async () => {
    const before = (await audit()).length;
    const forged = await send(emulator.url, 'POST', '/actions', {
      credentials: { accessKeyId: agent.accessKeyId, secretAccessKey: 'not-the-secret' },
      body: { actor: 'worker', action: 'hello-world.say_hello' },
    });
    expect(forged.status).toBe(403);
    expect((forged.body as DecisionAnswer).error?.code).toBe('SIGNATURE_MISMATCH');
    expect((await audit()).length).toBe(before);
  });

  it('refuses an unknown access key', async () => {
    const answer = await send(emulator.url, 'GET', '/keys', {
      credentials: { accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' },
    });
    expect(answer.status).toBe(403);
    expect((answer.body as DecisionAnswer).error?.code).toBe('UNKNOWN_ACCESS_KEY');
  });

  it('refuses a request signed more than 5 minutes ago (replay)', async () => {
    const { signRequest } = await import('../../sdk/signer.js');
    const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello' });
    const signed = await signRequest(
      { method: 'POST', url: `${emulator.url}/actions`, body },
      { credentials: agent, region: 'us-east-1', now: new Date(Date.now() - 6 * 60 * 1000) },
    );
    const { host: _h, ...headers } = signed.headers;
    const res = await fetch(signed.url, { method: 'POST', headers, body });
    expect(res.status).toBe(403);
    expect(((await res.json()) as DecisionAnswer).error?.code).toBe('SIGNATURE_EXPIRED');
  });

  it('replays a captured request only within the skew window, and idempotency keeps one record', async () => {
    const { signRequest } = await import('../../sdk/signer.js');
    const body = JSON.stringify({ actor: 'worker', action: 'hello-world.say_hello', request_id: 'replay-1' });
    const signed = await signRequest(
      { method: 'POST', url: `${emulator.url}/actions`, body },
      { credentials: agent, region: 'us-east-1' },
    );
    const { host: _h, ...headers } = signed.headers;
    const first = (await (
      await fetch(signed.url, { method: 'POST', headers, body })
    ).json()) as DecisionAnswer;
    const before = (await audit()).length;
    const again = (await (
      await fetch(signed.url, { method: 'POST', headers, body })
    ).json()) as DecisionAnswer;
    expect(again.audit.id).toBe(first.audit.id);
    expect((await audit()).length).toBe(before);
  });

  it('refuses a request_id reused for a different request', async () => {
    const a = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'hello-world.say_hello', request_id: 'reuse-1' },
    });
    expect(a.status).toBe(200);
    const b = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'aws.ec2.terminate_instances', request_id: 'reuse-1' },
    });
    expect(b.status).toBe(409);
    expect((b.body as DecisionAnswer).error?.code).toBe('REQUEST_ID_REUSED');
  });

  it('accepts `started` once per allow, so an allow is single-use before anything runs', async () => {
    const d = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'hello-world.say_hello' },
    });
    const id = (d.body as DecisionAnswer).audit.id;
    const path = `/actions/${id}/outcome`;
    const first = await send(emulator.url, 'POST', path, { credentials: agent, body: { status: 'started' } });
    expect(first.status).toBe(200);
    const second = await send(emulator.url, 'POST', path, {
      credentials: agent,
      body: { status: 'started' },
    });
    expect(second.status).toBe(409);
    expect((second.body as DecisionAnswer).error?.code).toBe('ALREADY_STARTED');
    const done = await send(emulator.url, 'POST', path, {
      credentials: agent,
      body: { status: 'succeeded', exit_code: 0 },
    });
    expect(done.status).toBe(200);
  });

  it('does not let one agent report outcomes for another agent’s decision', async () => {
    const other = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'other' },
    });
    const otherCreds = (other.body as { credentials: AwsCredentials }).credentials;
    const d = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'hello-world.say_hello' },
    });
    const id = (d.body as DecisionAnswer).audit.id;
    const steal = await send(emulator.url, 'POST', `/actions/${id}/outcome`, {
      credentials: otherCreds,
      body: { status: 'started' },
    });
    expect(steal.status).toBe(404);
  });

  it('records a disabled agent’s later requests as denies', async () => {
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'retired' },
    });
    const creds = (reg.body as { credentials: AwsCredentials }).credentials;
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'retired' },
    });
    const ok = await send(emulator.url, 'POST', '/actions', {
      credentials: creds,
      body: { actor: 'retired', action: 'hello-world.say_hello' },
    });
    expect(ok.status).toBe(200);
    expect((await send(emulator.url, 'DELETE', '/agents/retired', { credentials: admin })).status).toBe(200);
    // Another resource: the same request signed in the same second would be its replay (the same record).
    const after = await send(emulator.url, 'POST', '/actions', {
      credentials: creds,
      body: { actor: 'retired', action: 'hello-world.say_hello', resource: 'after-disable' },
    });
    expect(after.status).toBe(403);
    expect((after.body as DecisionAnswer).audit.reason).toBe('agent `retired` is disabled');
  });

  it('turns 64 concurrent decisions into 64 contiguous records with no fork, and the verifier catches tampering', async () => {
    const before = await audit();
    const answers = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        send(emulator.url, 'POST', '/actions', {
          credentials: agent,
          body: { actor: 'worker', action: 'hello-world.say_hello', params: { i } },
        }),
      ),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const lines = await audit();
    expect(lines.length).toBe(before.length + 64);
    const seqs = lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    const answered = new Set(answers.map((a) => (a.body as DecisionAnswer).audit.seq));
    expect(answered.size).toBe(64);

    const root = emulator.parts.keys.root.publicKeyPem;
    expect(verifyChain(lines, { trustedRootKeys: [root] }).ok).toBe(true);

    const changed = [...lines];
    const target = JSON.parse(changed[40] as string) as Record<string, unknown>;
    target['reason'] = 'permitted by policy `something-else`';
    changed[40] = canonicalize(target);
    expect(verifyChain(changed, { trustedRootKeys: [root] }).findings[0]?.code).toBe('HASH_MISMATCH');

    const removed = lines.filter((_, i) => i !== 30);
    expect(verifyChain(removed, { trustedRootKeys: [root] }).findings[0]?.code).toBe('SEQ_GAP');

    const reordered = [...lines];
    [reordered[20], reordered[21]] = [reordered[21] as string, reordered[20] as string];
    const report = verifyChain(reordered, { trustedRootKeys: [root] });
    expect(report.ok).toBe(false);
    expect(report.findings[0]?.seq).toBe(22);
  });
});
