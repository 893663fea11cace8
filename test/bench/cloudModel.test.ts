import { describe, expect, it } from 'vitest';
import { type LatencyModel, SimulatedDynamoDb } from '../../bench/cloud/SimulatedDynamoDb.js';
import { type AnsweredRequest, verifyLanes } from '../../bench/cloud/verifyLanes.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { Caller } from '../../core/model/caller.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { chainPartition, seqKey } from '../../core/ports/storageLayout.js';
import { wireGateway } from '../../lambdas/wiring.js';

// The bench's table model and its after-run check: the figures of `npm run bench:cloud` are only as
// good as these two, so each is shown to catch what it must.

const NO_LATENCY: LatencyModel = {
  get: { minMs: 0, maxMs: 0 },
  query: { minMs: 0, maxMs: 0 },
  write: { minMs: 0, maxMs: 0 },
  transact: { minMs: 0, maxMs: 0 },
};

function table(writeUnitsPerSec: number, readUnitsPerSec = 1_000) {
  const clock = { ms: 0 };
  const db = new SimulatedDynamoDb({
    latency: NO_LATENCY,
    capacity: { writeUnitsPerSec, readUnitsPerSec, burstSeconds: 1 },
    now: () => clock.ms,
  });
  return { db, clock };
}

describe('SimulatedDynamoDb', () => {
  describe('when a partition key has used its write units', () => {
    it('throttles the next write there like DynamoDB, writes nothing, and leaves other keys alone', async () => {
      // Prepare: 2 WCU/s per key, a bucket of 2 units
      const { db } = table(2);
      // Act
      const first = await db.call({ op: 'putIfAbsent', pk: 'hot', sk: '1', data: 'a' });
      const second = await db.call({ op: 'putIfAbsent', pk: 'hot', sk: '1', data: 'b' }); // fails its condition
      const third = await db.call({ op: 'putIfAbsent', pk: 'hot', sk: '2', data: 'c' });
      const elsewhere = await db.call({ op: 'putIfAbsent', pk: 'cold', sk: '1', data: 'd' });
      // Assess: the failed condition was billed, so the third write found the bucket empty
      expect(first).toEqual({ ok: true, value: true });
      expect(second).toEqual({ ok: true, value: false });
      expect(third).toMatchObject({ ok: false, name: 'ProvisionedThroughputExceededException' });
      expect(await db.store.get('hot', '2')).toBeNull();
      expect(elsewhere).toEqual({ ok: true, value: true });
      expect(db.usage().get('hot')).toEqual({ writeUnits: 2, readUnits: 0, throttled: 1 });
      expect(db.throttledCalls).toBe(1);
    });

    it('admits it again once the bucket refilled', async () => {
      // Prepare
      const { db, clock } = table(1);
      await db.call({ op: 'put', pk: 'hot', sk: '1', data: 'a' });
      // Act
      const early = await db.call({ op: 'put', pk: 'hot', sk: '2', data: 'b' });
      clock.ms += 1_000;
      const later = await db.call({ op: 'put', pk: 'hot', sk: '2', data: 'b' });
      // Assess
      expect(early.ok).toBe(false);
      expect(later.ok).toBe(true);
    });
  });

  describe('when a transaction runs', () => {
    it('bills two write units per KB of every item, a condition check included', async () => {
      // Prepare: a 1.5 KB record (2 KB-units), a small item and a check of a missing item
      const { db } = table(1_000);
      const record = 'r'.repeat(1_500);
      // Act
      const reply = await db.call({
        op: 'transact',
        ops: [
          { op: 'putIfAbsent', pk: 'chain#a', sk: '1', data: record },
          { op: 'put', pk: 'idem#p', sk: 'x', data: '{}' },
          { op: 'check', pk: 'lane#a', sk: 'state', expected: null },
        ],
      });
      // Assess
      expect(reply).toEqual({ ok: true, value: { ok: true } });
      expect(db.usage().get('chain#a')?.writeUnits).toBe(4);
      expect(db.usage().get('idem#p')?.writeUnits).toBe(2);
      expect(db.usage().get('lane#a')?.writeUnits).toBe(2);
    });

    it('cancels it whole with a throttling reason when one of its keys is out of units', async () => {
      // Prepare: the idempotency key has 1 unit, the item needs 2
      const { db } = table(1);
      // Act
      const reply = await db.call({
        op: 'transact',
        ops: [
          { op: 'putIfAbsent', pk: 'chain#a', sk: '1', data: 'r' },
          { op: 'put', pk: 'idem#p', sk: 'x', data: '{}' },
        ],
      });
      // Assess
      expect(reply).toMatchObject({ ok: false, name: 'TransactionCanceledException' });
      expect(await db.store.get('chain#a', '1')).toBeNull();
      expect(await db.store.get('idem#p', 'x')).toBeNull();
    });
  });

  describe('when reads come in', () => {
    it('bills one read unit per 4 KB, strongly consistent, a missing item included', async () => {
      // Prepare
      const { db } = table(1_000, 2);
      await db.call({ op: 'put', pk: 'meta', sk: 'config', data: '7' });
      // Act
      const a = await db.call({ op: 'get', pk: 'meta', sk: 'config' });
      const b = await db.call({ op: 'get', pk: 'meta', sk: 'missing' });
      const c = await db.call({ op: 'get', pk: 'meta', sk: 'config' });
      // Assess
      expect(a).toEqual({ ok: true, value: '7' });
      expect(b).toEqual({ ok: true, value: null });
      expect(c).toMatchObject({ ok: false, name: 'ProvisionedThroughputExceededException' });
      expect(db.usage().get('meta')?.readUnits).toBe(2);
    });
  });
});

/** A real log: an admin lane and a decision lane written by the gateway over an in-memory table. */
async function honestLog() {
  const store = new InMemoryKeyValueStore();
  const root = InMemoryP256Signer.generate();
  const wire = (lane: string) =>
    wireGateway({
      store,
      rootSigner: root,
      clock: { now: () => new Date() },
      gatewayPrincipal: 'arn:aws:iam::123456789012:role/zt-test',
      lane,
    });
  const admin = wire('setup').gateway;
  const adminCaller: Caller = { principalArn: 'arn:aws:iam::123456789012:role/admin', isAdmin: true };
  const principalArn = 'arn:aws:iam::123456789012:role/agent-1';
  await admin.registerAgent(adminCaller, { agentId: 'agent-1', principalArn });
  await admin.putPolicy(adminCaller, 'allow', {
    cedar: 'permit(principal, action == Action::"a.b", resource);',
  });
  const gateway = wire('lane-1').gateway;
  const answers: AnsweredRequest[] = [];
  for (let i = 0; i < 4; i++) {
    const outcome = await gateway.decide(
      { principalArn, isAdmin: false },
      { actor: 'agent-1', action: i === 3 ? 'x.y' : 'a.b', request_id: `r-${i}` },
    );
    answers.push({
      requestId: `r-${i}`,
      decision: outcome.decision,
      lane: outcome.record.chain,
      seq: outcome.record.seq,
    });
  }
  return { store, root, answers };
}

describe('verifyLanes', () => {
  describe('when the log is honest', () => {
    it('finds nothing lost, duplicated or forked', async () => {
      // Prepare
      const { store, root, answers } = await honestLog();
      // Act
      const v = await verifyLanes(store, root.publicKeyPem, answers);
      // Assess
      expect(v).toMatchObject({ lost: 0, duplicated: 0, forked: 0, unansweredRecords: 0 });
      expect(v.lanes).toBe(2);
    });
  });

  describe('when an answered decision has no record', () => {
    it('counts it lost, and the lane whose tail lost it still verifies', async () => {
      // Prepare: drop the newest record of the decision lane
      const { store, root, answers } = await honestLog();
      const last = answers[answers.length - 1] as AnsweredRequest;
      await store.delete(chainPartition('lane-1'), seqKey(last.seq));
      // Act
      const v = await verifyLanes(store, root.publicKeyPem, answers);
      // Assess
      expect(v.lost).toBe(1);
      expect(v.forked).toBe(0);
    });
  });

  describe('when a request id has two records or a record was changed', () => {
    it('counts the duplicate and the lane that no longer verifies', async () => {
      // Prepare: a copy of the first decision's record appended at the lane's end, its request id unchanged
      const { store, root, answers } = await honestLog();
      const first = answers[0] as AnsweredRequest;
      const text = (await store.get(chainPartition('lane-1'), seqKey(first.seq))) as string;
      const next = (answers[answers.length - 1] as AnsweredRequest).seq + 1;
      await store.put(chainPartition('lane-1'), seqKey(next), text);
      // Act
      const v = await verifyLanes(store, root.publicKeyPem, answers);
      // Assess
      expect(v.duplicated).toBe(1);
      expect(v.forked).toBe(1);
      expect(v.findings.length).toBeGreaterThan(0);
    });

    it('counts a decision whose record says otherwise as lost', async () => {
      // Prepare: the answer said allow, the caller is told the record is at its seq; flip what it claims
      const { store, root, answers } = await honestLog();
      const claimed = answers.map((a, i) => (i === 0 ? { ...a, decision: 'deny' } : a));
      // Act
      const v = await verifyLanes(store, root.publicKeyPem, claimed);
      // Assess
      expect(v.lost).toBe(1);
    });
  });
});
