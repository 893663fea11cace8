import { describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { type KeyValueStore, systemClock, type TransactOp } from '../../core/ports/ports.js';
import { idemPartition, P_AGENT } from '../../core/ports/storageLayout.js';
import { wireGateway } from '../../lambdas/wiring.js';

/**
 * Issue 9, claims that expire: a crash between claiming a request id, an outcome or an agent id and
 * finishing must leave nothing that blocks the next try. Claims are now written in the same transaction
 * as their record, so a crash leaves both or neither; a first-release `pending` item is taken over.
 */

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

/** A store whose next `crashes` transactions are lost (the process died before they were sent). */
class CrashingStore extends InMemoryKeyValueStore {
  crashes = 0;
  override async transact(ops: readonly TransactOp[]) {
    if (this.crashes > 0) {
      this.crashes--;
      throw new Error('process died before the transaction was sent');
    }
    return super.transact(ops);
  }
}

const wire = (store: KeyValueStore) =>
  wireGateway({
    store,
    rootSigner: InMemoryP256Signer.generate(),
    clock: systemClock,
    gatewayPrincipal: 'gw',
  });

describe('when a process dies in the middle of a request', () => {
  it('lets the same request id be decided afterwards, exactly once', async () => {
    const store = new CrashingStore();
    const { gateway } = wire(store);
    await gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    store.crashes = 5;
    await expect(
      gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-1' }),
    ).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    store.crashes = 0;
    // a new instance (the old one died) takes the same request over
    const retried = await wire(store).gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-1' });
    expect(retried).toMatchObject({ decision: 'allow', replayed: false });
    const again = await wire(store).gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'r-1' });
    expect(again).toMatchObject({ replayed: true, record: { id: retried.record.id } });
  });

  it('lets the same agent id be registered and the same allow be started afterwards', async () => {
    const store = new CrashingStore();
    const { gateway } = wire(store);
    store.crashes = 12;
    await expect(gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn })).rejects.toThrow();
    store.crashes = 0;
    await gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    const allow = await gateway.decide(agent, { actor: 'a', action: 'x.y' });
    store.crashes = 12;
    await expect(gateway.reportOutcome(agent, allow.record.id, { status: 'started' })).rejects.toThrow();
    store.crashes = 0;
    await gateway.reportOutcome(agent, allow.record.id, { status: 'started' });
    await expect(gateway.reportOutcome(agent, allow.record.id, { status: 'started' })).rejects.toMatchObject({
      code: 'ALREADY_STARTED',
    });
  });
});

describe('when a first-release data dir holds a pending claim a crash left', () => {
  it('takes over a pending request id instead of answering 409 forever', async () => {
    const store = new InMemoryKeyValueStore();
    const { gateway } = wire(store);
    await gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    await store.put(
      idemPartition(agentArn),
      'stuck',
      JSON.stringify({ state: 'pending', request_sha256: 'x' }),
    );
    const answer = await gateway.decide(agent, { actor: 'a', action: 'x.y', request_id: 'stuck' });
    expect(answer).toMatchObject({ decision: 'allow', replayed: false });
  });

  it('takes over a pending agent registration', async () => {
    const store = new InMemoryKeyValueStore();
    const { gateway } = wire(store);
    await store.put(
      P_AGENT,
      'a',
      JSON.stringify({
        agentId: 'a',
        principalArn: '',
        attributes: {},
        status: 'active',
        createdAt: 'x',
        pending: true,
      }),
    );
    const { agent: registered } = await gateway.registerAgent(admin, {
      agentId: 'a',
      principalArn: agentArn,
    });
    expect(registered).toMatchObject({ agentId: 'a', principalArn: agentArn, status: 'active' });
  });
});
