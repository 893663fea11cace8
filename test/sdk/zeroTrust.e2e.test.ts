import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import type { AuditRecord } from '../../core/model/records.js';
import { type Emulator, startEmulator } from '../../local/emulator.js';
import { GatewayClient, ZeroTrustClient, ZeroTrustError } from '../../sdk/index.js';

/** The SDK against the real emulator over loopback: real SigV4, real Cedar, real signed chain. */

const AGENT = 'sdk-e2e';
const ALLOWED = 'mcp.github.create_issue';
const DENIED = 'aws.iam.delete_role';

let emulator: Emulator;
let dataDir: string;
let admin: GatewayClient;
let zt: ZeroTrustClient;
/** The emulator's root public key, derived from its data dir key file (what `zt keys --root-pem` prints). */
let rootPem: string;

async function auditRecords(): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of admin.auditAll()) records.push(record);
  return records;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'zt-sdk-e2e-'));
  emulator = await startEmulator({ dataDir, port: 0, inMemory: true, log: null, checkpoints: false });
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.admin });
  const registered = await admin.registerAgent({ agentId: AGENT });
  if (!registered.credentials) throw new Error('the emulator minted no credentials');
  await admin.allowPolicy({ action: ALLOWED, agentId: AGENT });
  rootPem = (await localRootPublicKey(dataDir)).publicKeyPem;
  zt = new ZeroTrustClient({
    endpoint: emulator.url,
    credentials: registered.credentials,
    trustedKeys: [rootPem],
  });
});

afterAll(async () => {
  await emulator?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('when the action is not allowed', () => {
  it('rejects with DENIED carrying the signed record, and fn never runs', async () => {
    // Prepare
    let called = 0;
    // Act
    const error = await zt
      .guard({ actor: AGENT, action: DENIED, params: { RoleName: 'admin' } }, () => {
        called += 1;
      })
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ZeroTrustError);
    expect((error as ZeroTrustError).code).toBe('DENIED');
    expect((error as ZeroTrustError).record?.action).toBe(DENIED);
    expect(called).toBe(0);
  });
});

describe('when the action is allowed', () => {
  it('runs fn once and records started then succeeded for the decision', async () => {
    // Prepare
    let called = 0;
    // Act
    const result = await zt.guard(
      { actor: AGENT, action: ALLOWED, params: { title: 'hello' } },
      ({ decision }) => {
        called += 1;
        return decision.recordId;
      },
    );
    // Assess
    expect(called).toBe(1);
    const outcomes = (await auditRecords()).filter((r) => r.kind === 'outcome' && r.decision_id === result);
    expect(outcomes.map((r) => (r.kind === 'outcome' ? r.status : null))).toEqual(['started', 'succeeded']);
    // The gateway wrote each report's nonce into its record (the SDK refuses a record without its own).
    const nonces = outcomes.map((r) => (r.kind === 'outcome' ? r.nonce : undefined));
    expect(nonces.every((n) => typeof n === 'string' && /^[A-Za-z0-9_-]{16,128}$/.test(n))).toBe(true);
    expect(new Set(nonces).size).toBe(2);
  });
});

describe('when the same request_id is decided twice', () => {
  it('gets the same record back and the log grows by one record only', async () => {
    // Prepare
    const request = {
      actor: AGENT,
      action: ALLOWED,
      params: { title: 'idem' },
      request_id: 'sdk-e2e-idem-1',
    };
    const before = (await auditRecords()).length;
    // Act
    const first = await zt.decide(request);
    const second = await zt.decide(request);
    // Assess
    expect(second.recordId).toBe(first.recordId);
    expect(second.record.current_hash).toBe(first.record.current_hash);
    const after = await auditRecords();
    expect(after.length - before).toBe(1);
    expect(after.at(-1)?.id).toBe(first.recordId);
  });
});

describe('when the answer to a decision is lost and the SDK retries', () => {
  it('gets the recorded decision back instead of writing a second one', async () => {
    // Prepare: the first POST /actions reaches the gateway, but its answer is dropped as a reset connection
    const registered = await admin.registerAgent({ agentId: `${AGENT}-retry` });
    await admin.allowPolicy({ action: ALLOWED, agentId: `${AGENT}-retry` });
    const sentIds: unknown[] = [];
    let dropped = false;
    const lossy = async (input: string, init: RequestInit): Promise<Response> => {
      const res = await fetch(input, init);
      if (init.method === 'POST' && new URL(input).pathname === '/actions') {
        sentIds.push(JSON.parse(String(init.body))['request_id']);
        if (!dropped) {
          dropped = true;
          await res.text();
          throw new TypeError('fetch failed', {
            cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
          });
        }
      }
      return res;
    };
    const retrying = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: registered.credentials!,
      fetch: lossy,
      retryBaseDelayMs: 1,
      trustedKeys: [rootPem],
    });
    const before = (await auditRecords()).length;
    // Act
    const decided = await retrying.decide({
      actor: `${AGENT}-retry`,
      action: ALLOWED,
      params: { title: 'lost' },
    });
    // Assess
    expect(sentIds).toHaveLength(2);
    expect(sentIds[1]).toBe(sentIds[0]);
    expect(decided.decision).toBe('allow');
    const after = await auditRecords();
    expect(after.slice(before).filter((r) => r.kind === 'decision')).toHaveLength(1);
  });
});

describe('when a decision is guarded a second time', () => {
  it('refuses the second started claim with ALREADY_STARTED and does not run fn again', async () => {
    // Prepare
    const request = {
      actor: AGENT,
      action: ALLOWED,
      params: { title: 'once' },
      request_id: 'sdk-e2e-once-1',
    };
    let called = 0;
    const fn = () => {
      called += 1;
    };
    await zt.guard(request, fn);
    // Act
    const error = await zt.guard(request, fn).catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(ZeroTrustError);
    expect((error as ZeroTrustError).code).toBe('ALREADY_STARTED');
    expect(called).toBe(1);
  });
});

describe('when the root key is pinned', () => {
  it('verifies the emulator session key through its certificate', async () => {
    // Prepare
    const keys = await admin.keys();
    const roots = keys.keys.filter((k) => k.role === 'root').map((k) => k.publicKeyPem);
    const registered = await admin.registerAgent({ agentId: `${AGENT}-pinned` });
    await admin.allowPolicy({ action: ALLOWED, agentId: `${AGENT}-pinned` });
    const pinned = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: registered.credentials!,
      trustedKeys: roots,
    });
    // Act
    const decided = await pinned.decide({ actor: `${AGENT}-pinned`, action: ALLOWED });
    // Assess
    expect(decided.decision).toBe('allow');
    expect(decided.record.signing_key_id).not.toBe(keys.keys.find((k) => k.role === 'root')?.keyId);
  });
});

describe('when a request names no actor', () => {
  it('asks GET /whoami once and decides as the agent the credentials are', async () => {
    // Prepare: a client of its own, counting the whoami requests it sends
    let asked = 0;
    const counting = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: (await admin.registerAgent({ agentId: 'sdk-e2e-self' })).credentials!,
      trustedKeys: [rootPem],
      fetch: (input, init) => {
        if (String(input).endsWith('/whoami')) asked += 1;
        return fetch(input, init);
      },
    });
    await admin.allowPolicy({ action: ALLOWED, agentId: 'sdk-e2e-self' });
    // Act
    const first = await counting.decide({ action: ALLOWED, params: { title: 'a' } });
    const second = await counting.guard({ action: DENIED }, () => 'ran').catch((e: unknown) => e);
    // Assess
    expect(first.decision).toBe('allow');
    expect(first.record.actor).toBe('sdk-e2e-self');
    expect((second as ZeroTrustError).code).toBe('DENIED');
    expect((second as ZeroTrustError).record?.actor).toBe('sdk-e2e-self');
    expect(asked).toBe(1);
  });

  it('still records a deny when the actor given is not the agent of the credentials', async () => {
    const decision = await zt.decide({ actor: 'sdk-e2e-self', action: ALLOWED });

    expect(decision.decision).toBe('deny');
    expect(decision.reason).toBe('actor does not match the authenticated principal');
  });

  it('fails closed with REJECTED (403) for credentials that are no agent', async () => {
    const notAgent = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: emulator.admin,
      trustedKeys: [rootPem],
    });

    const error = await notAgent.guard({ action: ALLOWED }, () => 'ran').catch((e: unknown) => e);

    expect(error).toMatchObject({ code: 'REJECTED', status: 403, serverCode: 'FORBIDDEN' });
  });
});
