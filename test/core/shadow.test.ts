import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { DecisionRecord, PolicyRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { systemClock } from '../../core/ports/ports.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

/** Shadow policies (issue 11): evaluated and recorded beside every decision they could apply to, never deciding. */

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

describe('when a policy is put in shadow mode', () => {
  let parts: GatewayParts;
  let root: InMemoryP256Signer;
  beforeEach(async () => {
    root = InMemoryP256Signer.generate();
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: root,
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.allowPolicy(admin, { action: 'deploy.run', agentId: 'a' });
  });
  const decide = async (action: string) =>
    (await parts.gateway.decide(agent, { actor: 'a', action })).record as DecisionRecord;

  it('records that a stricter forbid would deny, and still answers allow', async () => {
    await parts.gateway.putPolicy(admin, 'no-deploys', {
      cedar: 'forbid (principal, action == Action::"deploy.run", resource);',
      mode: 'shadow',
    });
    const record = await decide('deploy.run');
    expect(record.decision).toBe('allow');
    expect(record.policy_ids).not.toContain('no-deploys');
    expect(record.shadow).toEqual({
      decision: 'deny',
      reason: 'forbidden by policy `no-deploys`',
      policy_ids: ['no-deploys'],
    });
    // the record with its shadow object is in canonical form and verifies like any other
    expect(
      verifyChain(await parts.writer.page(0, 1000), { trustedRootKeys: [root.publicKeyPem] }).findings,
    ).toEqual([]);
  });

  it('records that a new permit would allow, and still answers deny', async () => {
    await parts.gateway.putPolicy(admin, 'reports', {
      cedar: 'permit (principal == Agent::"a", action == Action::"report.run", resource);',
      mode: 'shadow',
    });
    const record = await decide('report.run');
    expect(record.decision).toBe('deny');
    expect(record.shadow).toMatchObject({ decision: 'allow', policy_ids: ['reports'] });
  });

  it('adds nothing to decisions no shadow policy can apply to', async () => {
    await parts.gateway.putPolicy(admin, 'reports', {
      cedar: 'permit (principal == Agent::"a", action == Action::"report.run", resource);',
      mode: 'shadow',
    });
    expect(Object.hasOwn(await decide('deploy.run'), 'shadow')).toBe(false);
  });

  it('decides once enabled (put again without mode), and the change is chained with its mode', async () => {
    const shadow = { cedar: 'forbid (principal, action == Action::"deploy.run", resource);' };
    await parts.gateway.putPolicy(admin, 'no-deploys', { ...shadow, mode: 'shadow' });
    await parts.gateway.putPolicy(admin, 'no-deploys', shadow);
    const record = await decide('deploy.run');
    expect(record.decision).toBe('deny');
    expect(Object.hasOwn(record, 'shadow')).toBe(false);
    const lines = await parts.writer.page(0, 1000);
    const puts = lines
      .map((l) => JSON.parse(l) as PolicyRecord)
      .filter((r) => r.kind === 'policy' && r.policy_id === 'no-deploys');
    expect(puts.map((r) => r.mode ?? 'enforce')).toEqual(['shadow', 'enforce']);
    expect(verifyChain(lines, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
  });

  it('never lets a shadow policy make an allow stale or back one', async () => {
    const allow = await parts.gateway.decide(agent, { actor: 'a', action: 'deploy.run' });
    await parts.gateway.putPolicy(admin, 'no-deploys', {
      cedar: 'forbid (principal, action == Action::"deploy.run", resource);',
      mode: 'shadow',
    });
    await parts.gateway.reportOutcome(agent, allow.record.id, { status: 'started' });
  });

  it('refuses an unknown mode', async () => {
    await expect(
      parts.gateway.putPolicy(admin, 'p', {
        cedar: 'permit (principal, action, resource);',
        mode: 'dry-run',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});
