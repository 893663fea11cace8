import { describe, expect, it } from 'vitest';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { Checkpointer } from '../../core/log/Checkpointer.js';
import { LaneWriter } from '../../core/log/LaneWriter.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { LANES_PARTITION } from '../../core/ports/storageLayout.js';
import { createApiHandler } from '../../lambdas/http.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { staticSigner } from '../helpers/lanes.js';

const clock = { now: () => new Date('2026-11-26T08:00:00.000Z') };
const admin = { principalArn: 'arn:aws:iam::1:role/admin', isAdmin: true };
const agent = { principalArn: 'arn:aws:iam::1:role/agent', isAdmin: false };

async function laneOf(store: InMemoryKeyValueStore, lane: string, count: number): Promise<void> {
  const writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), { lane });
  for (let i = 0; i < count; i++) {
    await writer.append({
      principalArn: admin.principalArn,
      build: () => ({
        kind: 'agent',
        agent_id: `${lane}-a${i}`,
        change: 'register',
        bound_principal_arn: `arn:aws:iam::1:role/${lane}${i}`,
      }),
    });
  }
  await store.put(LANES_PARTITION, lane, '{"createdAt":0}');
}

function reader(store: InMemoryKeyValueStore) {
  const checkpoints = new Checkpointer({ store, rootSigner: InMemoryP256Signer.generate(), clock });
  return new AuditReader({ store, checkpoints });
}

describe('when the audit log is read by lane', () => {
  it('pages each lane on its own, main by default, with next at a full page', async () => {
    const store = new InMemoryKeyValueStore();
    await laneOf(store, 'main', 3);
    await laneOf(store, 'w-1', 5);
    const audit = reader(store);
    const main = await audit.page(admin, { after: 0, limit: 10 });
    expect(main.records.map((r) => JSON.parse(r).id)).toEqual(['main-1', 'main-2', 'main-3']);
    expect(main.next).toBeNull();
    const first = await audit.page(admin, { lane: 'w-1', after: 0, limit: 2 });
    expect(first.records.map((r) => JSON.parse(r).id)).toEqual(['w-1-1', 'w-1-2']);
    expect(first.next).toBe(2);
    const rest = await audit.page(admin, { lane: 'w-1', after: 4, limit: 2 });
    expect(rest).toEqual({ records: [expect.stringContaining('"id":"w-1-5"')], next: null });
    expect(await audit.page(admin, { lane: 'nobody', after: 0, limit: 2 })).toEqual({
      records: [],
      next: null,
    });
  });

  it("signs the epoch over every lane and lists a lane's checkpoints", async () => {
    const store = new InMemoryKeyValueStore();
    await laneOf(store, 'w-1', 2);
    const audit = reader(store);
    const cp = await audit.checkpoint(admin);
    expect(cp.epoch.lanes.map((l) => [l.lane, l.size])).toEqual([
      ['main', 0],
      ['w-1', 2],
    ]);
    expect(await audit.checkpoints(admin, { lane: 'w-1', after: 0 })).toEqual([cp.checkpoints[1]]);
  });

  it('refuses a caller who is not an admin, and a lane that is not a lane name', async () => {
    const audit = reader(new InMemoryKeyValueStore());
    await expect(audit.page(agent, { after: 0, limit: 1 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(audit.checkpoint(agent)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(audit.checkpoints(agent, { after: 0 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    for (const lane of ['', '../main', 'a b', 'chain#main', 'x'.repeat(65)]) {
      await expect(audit.page(admin, { lane, after: 0, limit: 1 })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { field: 'lane' },
      });
    }
  });

  it('serves GET /audit?lane= through the HTTP edge, 400 for a bad lane', async () => {
    const store = new InMemoryKeyValueStore();
    await laneOf(store, 'w-1', 2);
    const parts = wireGateway({
      store,
      rootSigner: InMemoryP256Signer.generate(),
      clock,
      gatewayPrincipal: 'gw',
    });
    const handler = createApiHandler({
      gateway: parts.gateway,
      audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
      adminPrincipalArns: [admin.principalArn],
    });
    const get = (query: Record<string, string>) =>
      handler({
        resource: '/audit',
        path: '/audit',
        httpMethod: 'GET',
        headers: {},
        queryStringParameters: query,
        multiValueQueryStringParameters: Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
        pathParameters: null,
        requestContext: { requestId: 'r', identity: { userArn: admin.principalArn } },
        body: null,
        isBase64Encoded: false,
      } as never);
    const ok = await get({ lane: 'w-1' });
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body).records.map((r: { id: string }) => r.id)).toEqual(['w-1-1', 'w-1-2']);
    const bad = await get({ lane: 'w 1' });
    expect(bad.statusCode).toBe(400);
    expect(JSON.parse(bad.body).error).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { field: 'lane' },
    });
  });
});
