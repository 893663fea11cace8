import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { DecisionRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { type KeyValueStore, systemClock } from '../../core/ports/ports.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

describe('when admins change agents and policies', () => {
  let parts: GatewayParts;
  beforeEach(async () => {
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: InMemoryP256Signer.generate(),
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
  });
  const kinds = async () =>
    (await parts.writer.page(0, 100)).map((l) => JSON.parse(l) as { kind: string; change?: string });

  it('refuses a second agent with the same id or the same principal, and records neither', async () => {
    const before = (await kinds()).length;
    await expect(
      parts.gateway.registerAgent(admin, {
        agentId: 'a',
        principalArn: 'arn:aws:iam::111122223333:role/other',
      }),
    ).rejects.toMatchObject({ code: 'AGENT_EXISTS' });
    await expect(
      parts.gateway.registerAgent(admin, { agentId: 'b', principalArn: agentArn }),
    ).rejects.toMatchObject({ code: 'PRINCIPAL_ALREADY_BOUND' });
    expect((await kinds()).length).toBe(before);
    // The failed registration of `b` released its reservation: it can register with its own principal.
    await parts.gateway.registerAgent(admin, {
      agentId: 'b',
      principalArn: 'arn:aws:iam::111122223333:role/agent-b',
    });
  });

  it('requires a principal ARN in the cloud, where nothing mints credentials', async () => {
    await expect(parts.gateway.registerAgent(admin, { agentId: 'c' })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('records every change before it takes effect, and a deleted policy stops allowing at once', async () => {
    await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    expect((await parts.gateway.decide(agent, { actor: 'a', action: 'x.y' })).decision).toBe('allow');
    const [policy] = await parts.gateway.listPolicies(admin);
    await parts.gateway.deletePolicy(admin, policy?.policyId as string);
    expect((await parts.gateway.decide(agent, { actor: 'a', action: 'x.y' })).decision).toBe('deny');
    await parts.gateway.disableAgent(admin, 'a');
    await expect(parts.gateway.disableAgent(admin, 'a')).rejects.toMatchObject({ code: 'AGENT_DISABLED' });
    const changes = (await kinds())
      .filter((r) => r.kind !== 'key' && r.kind !== 'decision')
      .map((r) => `${r.kind}:${r.change}`);
    expect(changes).toEqual(['agent:register', 'policy:put', 'policy:delete', 'agent:disable']);
  });

  it('refuses outcomes for a deny, and accepts one final outcome per allow', async () => {
    const deny = await parts.gateway.decide(agent, { actor: 'a', action: 'nothing.allows.this' });
    await expect(
      parts.gateway.reportOutcome(agent, deny.record.id, { status: 'started' }),
    ).rejects.toMatchObject({ code: 'DECISION_NOT_ALLOWED' });
    await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    const allow = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y', params: { n: 1.5 } });
    expect((allow.record as DecisionRecord).params_sha256).toMatch(/^[0-9a-f]{64}$/);
    await parts.gateway.reportOutcome(agent, allow.record.id, { status: 'started' });
    await parts.gateway.reportOutcome(agent, allow.record.id, { status: 'failed', exit_code: 2 });
    await expect(
      parts.gateway.reportOutcome(agent, allow.record.id, { status: 'succeeded', exit_code: 0 }),
    ).rejects.toMatchObject({ code: 'OUTCOME_ALREADY_REPORTED' });
    await expect(parts.gateway.reportOutcome(agent, 'main-999', { status: 'started' })).rejects.toMatchObject(
      { code: 'NOT_FOUND' },
    );
  });

  it('lets no agent read or change anything an admin owns', async () => {
    await expect(parts.gateway.listAgents(agent)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(
      parts.gateway.putPolicy(agent, 'p', { cedar: 'permit (principal, action, resource);' }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(parts.gateway.auditPage(agent, 0, 10)).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('when two gateway instances share one store', () => {
  it('sees a change made through the other instance on the very next decision', async () => {
    // Prepare: two instances (two Lambda containers) over one table; A has warmed its caches.
    const store = new InMemoryKeyValueStore();
    const rootSigner = InMemoryP256Signer.generate();
    const a = wireGateway({ store, rootSigner, clock: systemClock, gatewayPrincipal: 'gw-a' }).gateway;
    const b = wireGateway({ store, rootSigner, clock: systemClock, gatewayPrincipal: 'gw-b' }).gateway;
    await b.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    expect((await a.decide(agent, { actor: 'a', action: 'x.y' })).decision).toBe('deny');
    // Act + Assess: a policy written through B allows on A at once; a disable through B denies on A at once.
    await b.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    expect((await a.decide(agent, { actor: 'a', action: 'x.y' })).decision).toBe('allow');
    await b.disableAgent(admin, 'a');
    const after = await a.decide(agent, { actor: 'a', action: 'x.y' });
    expect(after.decision).toBe('deny');
    expect((after.record as DecisionRecord).reason).toBe('agent `a` is disabled');
  });
});

describe('when an admin change races a decision', () => {
  it('re-evaluates a decision whose write waited past a disable, so no allow is chained after it', async () => {
    // Prepare: instance B's decision writes wait at a gate; A disables the agent meanwhile.
    const store = new InMemoryKeyValueStore();
    let gate: (() => void) | null = null;
    const gated: KeyValueStore = {
      get: (pk, sk) => store.get(pk, sk),
      put: (pk, sk, data) => store.put(pk, sk, data),
      replaceIf: (pk, sk, expected, data) => store.replaceIf(pk, sk, expected, data),
      delete: (pk, sk) => store.delete(pk, sk),
      query: (pk, options) => store.query(pk, options),
      increment: (pk, sk) => store.increment(pk, sk),
      putIfAbsent: (pk, sk, data) => store.putIfAbsent(pk, sk, data),
      transact: async (ops) => {
        const decision = ops.some((op) => 'data' in op && op.data.includes('"kind":"decision"'));
        if (decision && gate === null) {
          await new Promise<void>((release) => {
            gate = release;
          });
        }
        return store.transact(ops);
      },
    };
    const rootSigner = InMemoryP256Signer.generate();
    const a = wireGateway({ store, rootSigner, clock: systemClock, gatewayPrincipal: 'gw-a' });
    const b = wireGateway({ store: gated, rootSigner, clock: systemClock, gatewayPrincipal: 'gw-b' });
    await a.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await a.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    await b.writer.ready();
    // Act: B evaluates (allow) and waits at the gate; A disables and returns; then B's write goes on.
    const pending = b.gateway.decide(agent, { actor: 'a', action: 'x.y' });
    while (gate === null) await new Promise((r) => setTimeout(r, 1));
    await a.gateway.disableAgent(admin, 'a');
    (gate as () => void)();
    const answer = await pending;
    // Assess: B's write was refused by the fence A's disable raised; B re-evaluated against the disable.
    expect(answer.decision).toBe('deny');
    expect((answer.record as DecisionRecord).reason).toBe('agent `a` is disabled');
    expect(answer.record.chain).not.toBe(a.writer.lane);
    const lane = await b.writer.page(0, 100);
    const decisions = lane
      .map((l) => JSON.parse(l) as { kind: string; decision?: string })
      .filter((r) => r.kind === 'decision');
    expect(decisions).toEqual([expect.objectContaining({ decision: 'deny' })]);
  });

  it('refuses to start an earlier allow once its agent is disabled', async () => {
    const parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: InMemoryP256Signer.generate(),
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    const allow = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y' });
    expect(allow.decision).toBe('allow');
    await parts.gateway.disableAgent(admin, 'a');
    await expect(
      parts.gateway.reportOutcome(agent, allow.record.id, { status: 'started' }),
    ).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });
});
