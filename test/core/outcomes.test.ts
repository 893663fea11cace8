import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock } from '../../core/ports/ports.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

class FakeClock implements Clock {
  constructor(public ms = Date.parse('2026-11-29T10:00:00.000Z')) {}
  now(): Date {
    return new Date(this.ms);
  }
}

describe('when outcomes are reported for an allow', () => {
  let parts: GatewayParts;
  let clock: FakeClock;
  let policyId: string;
  beforeEach(async () => {
    clock = new FakeClock();
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: InMemoryP256Signer.generate(),
      clock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    ({ policyId } = await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' }));
    clock.ms += 1000;
  });
  const allow = async () => {
    const outcome = await parts.gateway.decide(agent, { actor: 'a', action: 'x.y' });
    expect(outcome.decision).toBe('allow');
    clock.ms += 1;
    return outcome.record.id;
  };
  const report = (id: string, body: Record<string, unknown>) => parts.gateway.reportOutcome(agent, id, body);

  it('refuses a final outcome before `started`, and accepts it after', async () => {
    const id = await allow();
    await expect(report(id, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject({
      code: 'OUTCOME_NOT_STARTED',
    });
    await expect(report(id, { status: 'failed', exit_code: 1 })).rejects.toMatchObject({
      code: 'OUTCOME_NOT_STARTED',
    });
    await report(id, { status: 'started' });
    await report(id, { status: 'succeeded', exit_code: 0 });
  });

  it('expires an allow not started within the window (60 s by default)', async () => {
    const fresh = await allow();
    const stale = await allow();
    clock.ms += 59_000;
    await report(fresh, { status: 'started' });
    clock.ms += 1_001;
    await expect(report(stale, { status: 'started' })).rejects.toMatchObject({ code: 'DECISION_EXPIRED' });
  });

  it('refuses `started` once the policy the allow cites is deleted', async () => {
    const id = await allow();
    await parts.gateway.deletePolicy(admin, policyId);
    await expect(report(id, { status: 'started' })).rejects.toMatchObject({ code: 'DECISION_STALE' });
  });

  it('refuses `started` once a forbid for the same action and agent is added', async () => {
    const id = await allow();
    await parts.gateway.putPolicy(admin, 'stop-a', {
      cedar: 'forbid (principal == Agent::"a", action == Action::"x.y", resource);',
    });
    await expect(report(id, { status: 'started' })).rejects.toMatchObject({ code: 'DECISION_STALE' });
  });

  it('still starts when only unrelated policies changed', async () => {
    const id = await allow();
    await parts.gateway.allowPolicy(admin, { action: 'other.action', agentId: 'a' });
    await parts.gateway.putPolicy(admin, 'for-b', {
      cedar: 'forbid (principal == Agent::"b", action == Action::"x.y", resource);',
    });
    await report(id, { status: 'started' });
  });

  it('refuses `started` once the agent is disabled', async () => {
    const id = await allow();
    await parts.gateway.disableAgent(admin, 'a');
    await expect(report(id, { status: 'started' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('takes the start window from the wiring', async () => {
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: InMemoryP256Signer.generate(),
      clock,
      gatewayPrincipal: 'gw',
      startWindowMs: 5_000,
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    clock.ms += 1000;
    const id = await allow();
    clock.ms += 5_001;
    await expect(report(id, { status: 'started' })).rejects.toMatchObject({ code: 'DECISION_EXPIRED' });
  });
});
