import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { DecisionRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { type KeyValueStore, systemClock } from '../../core/ports/ports.js';
import { chainPartition, idemPartition } from '../../core/ports/storageLayout.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

/**
 * Request ids (idempotency): a repeat answers with the first record, a first-release `pending` claim left by a
 * crash is taken over in the decision's own transaction, and a new request id costs no read of its item
 * (in DynamoDB that read was a round trip before every decision).
 */

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

/** Counts `get` calls on idempotency partitions, passing everything through. */
function countingStore(inner: KeyValueStore, count: { idemGets: number }): KeyValueStore {
  return {
    get: (pk, sk) => {
      if (pk.startsWith('idem#')) count.idemGets++;
      return inner.get(pk, sk);
    },
    putIfAbsent: (pk, sk, data) => inner.putIfAbsent(pk, sk, data),
    put: (pk, sk, data) => inner.put(pk, sk, data),
    replaceIf: (pk, sk, expected, data) => inner.replaceIf(pk, sk, expected, data),
    delete: (pk, sk) => inner.delete(pk, sk),
    query: (pk, options) => inner.query(pk, options),
    increment: (pk, sk) => inner.increment(pk, sk),
    transact: (ops) => inner.transact(ops),
  };
}

describe('when decisions carry request ids', () => {
  let store: InMemoryKeyValueStore;
  let count: { idemGets: number };
  let parts: GatewayParts;
  beforeEach(async () => {
    store = new InMemoryKeyValueStore();
    count = { idemGets: 0 };
    parts = wireGateway({
      store: countingStore(store, count),
      rootSigner: InMemoryP256Signer.generate(),
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
  });

  const decisionsFor = async (requestId: string) =>
    (await store.query(chainPartition(parts.writer.lane ?? 'main'), { limit: 1000 }))
      .map((i) => JSON.parse(i.data) as DecisionRecord)
      .filter((r) => r.kind === 'decision' && r.request_id === requestId);

  it('decides a new request id without reading its item first', async () => {
    // Act
    const outcome = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-1' });
    // Assess
    expect(outcome).toMatchObject({ decision: 'allow', replayed: false });
    expect(count.idemGets).toBe(0);
    expect(JSON.parse((await store.get(idemPartition(agentArn), 'r-1')) as string)).toMatchObject({
      lane: outcome.record.chain,
      seq: outcome.record.seq,
    });
  });

  it('answers a repeat with the first record, and refuses the id for another request', async () => {
    // Prepare
    const first = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-2' });
    // Act
    const again = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-2' });
    const other = parts.gateway.decide(agent, { actor: 'a', action: 'other.action', request_id: 'r-2' });
    // Assess
    expect(again).toMatchObject({ replayed: true, record: { id: first.record.id } });
    await expect(other).rejects.toMatchObject({ code: 'REQUEST_ID_REUSED' });
    expect(await decisionsFor('r-2')).toHaveLength(1);
  });

  it('takes over a first-release pending claim in the decision transaction, then replays it', async () => {
    // Prepare: what a crash between claim and record left in the first release
    await store.put(
      idemPartition(agentArn),
      'r-3',
      JSON.stringify({ state: 'pending', request_sha256: '0'.repeat(64) }),
    );
    // Act
    const taken = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-3' });
    const again = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-3' });
    // Assess
    expect(taken).toMatchObject({ decision: 'allow', replayed: false });
    expect(again).toMatchObject({ replayed: true, record: { id: taken.record.id } });
    const item = JSON.parse((await store.get(idemPartition(agentArn), 'r-3')) as string);
    expect(item).toMatchObject({ lane: taken.record.chain, seq: taken.record.seq });
    expect(item.state).toBeUndefined();
    expect(await decisionsFor('r-3')).toHaveLength(1);
  });
});
