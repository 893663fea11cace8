import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import type { AuditRecord } from '../../core/model/records.js';
import { GatewayClient, ZeroTrustClient, ZeroTrustError } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import type { FetchLike } from '../../sdk/transport.js';
import { validateResponse } from '../contract/openapiValidator.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

/**
 * `POST /actions/allowed` against a real emulator: what it lists, that it records nothing and tells an
 * agent nothing of another's policies, that its answers are what openapi.yaml says, and that the SDK
 * believes only a signed answer to its own request from the pinned gateway.
 */

const READ = 'mcp.files.read_file';
const WRITE = 'mcp.files.write_file';
const DELETE = 'mcp.files.delete_file';
const BOBS = 'mcp.files.bobs_tool';

let emulator: TestEmulator;
let admin: GatewayClient;
let alice: AwsCredentials;
let bob: AwsCredentials;
let rootPem: string;

const client = (credentials: AwsCredentials, extra: { fetch?: FetchLike; trustedKeys?: string[] } = {}) =>
  new ZeroTrustClient({
    endpoint: emulator.url,
    credentials,
    trustedKeys: extra.trustedKeys ?? [rootPem],
    retries: 0,
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
  });

async function audit(): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of admin.auditAll()) records.push(record);
  return records;
}

async function register(agentId: string): Promise<AwsCredentials> {
  const registered = await admin.registerAgent({ agentId });
  if (!registered.credentials) throw new Error('the emulator minted no credentials');
  return registered.credentials;
}

beforeAll(async () => {
  emulator = await startTestEmulator();
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  alice = await register('alice');
  bob = await register('bob');
  rootPem = (await localRootPublicKey(emulator.dataDir)).publicKeyPem;
  await admin.putPolicy('alice-files', {
    cedar: `permit(principal == Agent::"alice", action in [Action::"${READ}", Action::"${WRITE}", Action::"${DELETE}"], resource);
forbid(principal == Agent::"alice", action == Action::"${DELETE}", resource);`,
  });
  await admin.allowPolicy({ action: BOBS, agentId: 'bob' });
});

afterAll(async () => {
  await emulator?.close();
});

describe('when an agent asks which actions it may be allowed', () => {
  it('lists the permitted ones, in the order asked, minus an unconditional forbid', async () => {
    const answer = await client(alice).allowedActions('alice', [WRITE, DELETE, BOBS, READ]);
    expect(answer.allowed).toEqual([WRITE, READ]);
    expect(answer.actor).toBe('alice');
  });

  it("tells an agent nothing of another agent's policies: bob's permit is listed for bob only", async () => {
    expect((await client(alice).allowedActions('alice', [BOBS])).allowed).toEqual([]);
    expect((await client(bob).allowedActions('bob', [BOBS, READ])).allowed).toEqual([BOBS]);
  });

  it('reflects an admin change in the very next answer', async () => {
    const zt = client(bob);
    const { policyId } = await admin.allowPolicy({ action: WRITE, agentId: 'bob' });
    expect((await zt.allowedActions('bob', [WRITE])).allowed).toEqual([WRITE]);
    await admin.deletePolicy(policyId);
    expect((await zt.allowedActions('bob', [WRITE])).allowed).toEqual([]);
  });

  it('records nothing: the log is the same length after several answers', async () => {
    // Prepare: a decision first, so this instance's session key is certified already
    await client(alice).decide({ actor: 'alice', action: READ });
    const before = await audit();
    // Act
    for (let i = 0; i < 3; i++) await client(alice).allowedActions('alice', [READ, WRITE]);
    await client(bob).allowedActions('bob', [BOBS]);
    // Assess
    expect((await audit()).length).toBe(before.length);
  });

  it('answers as openapi.yaml documents, signed and bound to the request', async () => {
    const body = { actor: 'alice', actions: [READ, BOBS], nonce: 'n0nce-0123456789abcdef' };
    const answer = await send(emulator.url, 'POST', '/actions/allowed', { credentials: alice, body });
    expect(answer.status).toBe(200);
    const documented = validateResponse('POST', '/actions/allowed', 200, answer.body);
    expect(documented.ok ? [] : documented.errors).toEqual([]);
    const signed = (answer.body as { answer: Record<string, unknown> }).answer;
    expect(signed).toMatchObject({
      schema: 'zt.allowed.v1',
      actor: 'alice',
      nonce: body.nonce,
      allowed: [READ],
    });
  });
});

describe('when the caller may not ask', () => {
  it.each([
    ['a principal that is no agent (the admin)', () => emulator.adminCredentials, 'alice'],
    ['an actor that is not the caller', () => alice, 'bob'],
  ])('answers 403 FORBIDDEN without a record for %s', async (_name, credentials, actor) => {
    const before = (await audit()).length;
    const answer = await send(emulator.url, 'POST', '/actions/allowed', {
      credentials: credentials(),
      body: { actor, actions: [READ], nonce: 'n0nce-0123456789abcdef' },
    });
    expect(answer.status).toBe(403);
    expect((answer.body as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    const documented = validateResponse('POST', '/actions/allowed', 403, answer.body);
    expect(documented.ok ? [] : documented.errors).toEqual([]);
    expect((await audit()).length).toBe(before);
  });

  it('answers 403 FORBIDDEN to a disabled agent', async () => {
    const carol = await register('carol');
    await admin.allowPolicy({ action: READ, agentId: 'carol' });
    await admin.disableAgent('carol');
    const error = await client(carol)
      .allowedActions('carol', [READ])
      .catch((e: unknown) => e);
    expect((error as ZeroTrustError).code).toBe('REJECTED');
    expect((error as ZeroTrustError).serverCode).toBe('FORBIDDEN');
  });

  it.each([
    ['a repeated action', { actions: [READ, READ] }],
    ['no action', { actions: [] }],
    ['257 actions', { actions: Array.from({ length: 257 }, (_, i) => `mcp.x.t${i}`) }],
    ['a malformed action', { actions: ['.bad'] }],
    ['no nonce', { nonce: undefined }],
    ['an unknown field', { params: {} }],
  ])('answers 400 for %s', async (_name, change) => {
    const body = { actor: 'alice', actions: [READ], nonce: 'n0nce-0123456789abcdef', ...change };
    const answer = await send(emulator.url, 'POST', '/actions/allowed', { credentials: alice, body });
    expect(answer.status).toBe(400);
    const documented = validateResponse('POST', '/actions/allowed', 400, answer.body);
    expect(documented.ok ? [] : documented.errors).toEqual([]);
  });
});

describe('when the answer is not the pinned gateway’s answer to this request', () => {
  it('refuses an answer signed under another root key (UNTRUSTED_KEY)', async () => {
    // Prepare: another gateway, with its own root key, that knows an agent of the same name
    const other = await startTestEmulator();
    try {
      const otherAdmin = new GatewayClient({ endpoint: other.url, credentials: other.adminCredentials });
      const reg = await otherAdmin.registerAgent({ agentId: 'alice' });
      await otherAdmin.allowPolicy({ action: DELETE, agentId: 'alice' });
      const impostor = new ZeroTrustClient({
        endpoint: other.url,
        credentials: reg.credentials as AwsCredentials,
        trustedKeys: [rootPem],
        retries: 0,
      });
      // Act
      const error = await impostor.allowedActions('alice', [DELETE]).catch((e: unknown) => e);
      // Assess
      expect(error).toBeInstanceOf(ZeroTrustError);
      expect((error as ZeroTrustError).code).toBe('UNTRUSTED_KEY');
    } finally {
      await other.close();
    }
  });

  it('refuses an answer whose list was changed on the way (SIGNATURE_INVALID)', async () => {
    const tampering: FetchLike = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/actions/allowed')) return res;
      const body = (await res.json()) as { answer: { allowed: string[] } };
      body.answer.allowed = [DELETE, ...body.answer.allowed];
      return new Response(JSON.stringify(body), { status: res.status });
    };
    const error = await client(alice, { fetch: tampering })
      .allowedActions('alice', [DELETE, READ])
      .catch((e: unknown) => e);
    expect((error as ZeroTrustError).code).toBe('SIGNATURE_INVALID');
  });

  it('refuses a genuine earlier answer replayed for a new request (RECORD_MISMATCH)', async () => {
    let captured: string | undefined;
    const replaying: FetchLike = async (input, init) => {
      if (!String(input).endsWith('/actions/allowed')) return fetch(input, init);
      if (captured !== undefined) return new Response(captured, { status: 200 });
      const res = await fetch(input, init);
      captured = await res.text();
      return new Response(captured, { status: res.status });
    };
    const zt = client(alice, { fetch: replaying });
    await zt.allowedActions('alice', [READ]);
    const error = await zt.allowedActions('alice', [READ]).catch((e: unknown) => e);
    expect((error as ZeroTrustError).code).toBe('RECORD_MISMATCH');
  });
});
