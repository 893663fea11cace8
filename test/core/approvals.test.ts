import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { canonicalSha256 } from '../../core/model/canonical.js';
import type { ApprovalRecord, DecisionRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

/** Human approval as a third answer (issue 11), attacked from every side the issue names. */

const ACCOUNT = '111122223333';
const admin: Caller = { principalArn: `arn:aws:iam::${ACCOUNT}:role/admin`, isAdmin: true };
const agentArn = `arn:aws:iam::${ACCOUNT}:role/agent-a`;
const agent: Caller = { principalArn: agentArn, isAdmin: false };
const otherAgentArn = `arn:aws:iam::${ACCOUNT}:role/agent-b`;
const otherAgent: Caller = { principalArn: otherAgentArn, isAdmin: false };
const alice: Caller = {
  principalArn: `arn:aws:iam::${ACCOUNT}:role/alice`,
  isAdmin: false,
  isApprover: true,
};
const bob: Caller = { principalArn: `arn:aws:iam::${ACCOUNT}:role/bob`, isAdmin: false, isApprover: true };
const mallory: Caller = { principalArn: `arn:aws:iam::${ACCOUNT}:role/mallory`, isAdmin: false };

const REFUND = { amount: 500, currency: 'EUR' };
const request = (extra: Record<string, unknown> = {}) => ({
  actor: 'a',
  action: 'payments.refund',
  resource: 'order-7',
  params: REFUND,
  ...extra,
});
const digest = canonicalSha256(REFUND);

async function rejectionOf(promise: Promise<unknown>): Promise<{ code: string; name: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; name: string };
  }
  throw new Error('expected a rejection, got a value');
}

describe('when a permit asks for approval', () => {
  let parts: GatewayParts;
  let root: InMemoryP256Signer;
  let now: number;
  const policy = (annotation: string) => ({
    cedar: `${annotation}\npermit (principal == Agent::"a", action == Action::"payments.refund", resource);`,
  });

  beforeEach(async () => {
    root = InMemoryP256Signer.generate();
    now = Date.parse('2026-11-29T10:00:00.000Z');
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: root,
      clock: { now: () => new Date(now) },
      gatewayPrincipal: 'gw',
      approvalWindowMs: 60 * 60_000,
      approvalTtlMs: 10 * 60_000,
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.registerAgent(admin, { agentId: 'b', principalArn: otherAgentArn });
    await parts.gateway.putPolicy(admin, 'refunds', policy('@approval("two-person")'));
  });

  const ask = async (extra: Record<string, unknown> = {}, caller: Caller = agent) =>
    (await parts.gateway.decide(caller, request(extra))).record as DecisionRecord;
  const approve = (caller: Caller, id: string, sha = digest) =>
    parts.gateway.voteApproval(caller, id, 'approve', { params_sha256: sha });
  const reject = (caller: Caller, id: string) =>
    parts.gateway.voteApproval(caller, id, 'reject', { params_sha256: digest });

  it('answers approval_required with a signed record naming how many approvers and until when', async () => {
    const record = await ask();
    expect(record).toMatchObject({
      decision: 'approval_required',
      approvals_required: 2,
      approval_expires_at: '2026-11-29T11:00:00.000Z',
      policy_ids: ['refunds'],
    });
    // nothing may start on it
    expect(
      (await rejectionOf(parts.gateway.reportOutcome(agent, record.id, { status: 'started' }))).code,
    ).toBe('DECISION_NOT_ALLOWED');
    const listed = await parts.gateway.listApprovals(alice, { limit: 10 });
    expect(listed.approvals).toMatchObject([
      { approval_id: record.id, actor: 'a', params: REFUND, params_sha256: digest, approvals: [] },
    ]);
  });

  it('lets two distinct approvers approve, then the agent claims one single-use allow', async () => {
    const asked = await ask();
    const first = await approve(alice, asked.id);
    const second = await approve(bob, asked.id);
    expect(first).toMatchObject({ kind: 'approval', verdict: 'approve', principal_arn: alice.principalArn });
    expect(first.expires_at).toBe('2026-11-29T10:10:00.000Z');
    const claimed = await ask({ approval_id: asked.id, request_id: 'claim-1' });
    expect(claimed).toMatchObject({
      decision: 'allow',
      approval_id: asked.id,
      approvals: [first.id, second.id].sort(),
      approvals_required: 2,
      params_sha256: digest,
    });
    // the same claim again (a retry after a lost answer) gets the same allow back, not a refusal
    const retried = await parts.gateway.decide(
      agent,
      request({ approval_id: asked.id, request_id: 'claim-1' }),
    );
    expect(retried.record.id).toBe(claimed.id);
    expect(retried.replayed).toBe(true);
    await parts.gateway.reportOutcome(agent, claimed.id, { status: 'started' });
    // a second claim, with another request id, finds the claim item: no second allow
    expect((await rejectionOf(ask({ approval_id: asked.id, request_id: 'again-1' }))).code).toBe(
      'APPROVAL_ALREADY_CLAIMED',
    );
    // the pending list no longer shows it
    expect((await parts.gateway.listApprovals(alice, { limit: 10 })).approvals).toEqual([]);
    // the whole log verifies
    const lines = await parts.writer.page(0, 1000);
    expect(verifyChain(lines, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
  });

  it('refuses the agent approving its own request', async () => {
    const asked = await ask();
    // even when its principal is on the approver list
    const selfApprover: Caller = { ...agent, isApprover: true };
    expect((await rejectionOf(approve(selfApprover, asked.id))).code).toBe('APPROVER_IS_REQUESTER');
    // and an agent without the approver role is no approver at all
    expect((await rejectionOf(approve(agent, asked.id))).code).toBe('NOT_AN_APPROVER');
  });

  it('refuses a non-approver, and an agent reading or answering approvals', async () => {
    const asked = await ask();
    expect((await rejectionOf(approve(mallory, asked.id))).code).toBe('NOT_AN_APPROVER');
    expect((await rejectionOf(approve(otherAgent, asked.id))).code).toBe('NOT_AN_APPROVER');
    expect((await rejectionOf(parts.gateway.listApprovals(otherAgent, { limit: 5 }))).code).toBe(
      'NOT_AN_APPROVER',
    );
  });

  it('counts one approver once under a two-person rule', async () => {
    const asked = await ask();
    await approve(alice, asked.id);
    expect((await rejectionOf(approve(alice, asked.id))).code).toBe('APPROVAL_DUPLICATE');
    expect((await rejectionOf(ask({ approval_id: asked.id }))).code).toBe('APPROVAL_PENDING');
  });

  it('refuses an approval replayed for other params, at the approve and at the claim', async () => {
    const asked = await ask();
    const other = canonicalSha256({ amount: 50_000, currency: 'EUR' });
    expect((await rejectionOf(approve(alice, asked.id, other))).code).toBe('APPROVAL_PARAMS_MISMATCH');
    await approve(alice, asked.id);
    await approve(bob, asked.id);
    const replay = rejectionOf(
      parts.gateway.decide(
        agent,
        request({ params: { amount: 50_000, currency: 'EUR' }, approval_id: asked.id }),
      ),
    );
    expect((await replay).code).toBe('APPROVAL_MISMATCH');
    // another resource or context is another request too
    expect((await rejectionOf(ask({ resource: 'order-8', approval_id: asked.id }))).code).toBe(
      'APPROVAL_MISMATCH',
    );
    expect((await rejectionOf(ask({ context: { x: 1 }, approval_id: asked.id }))).code).toBe(
      'APPROVAL_MISMATCH',
    );
    // and another agent cannot claim it at all
    const foreign = parts.gateway.decide(otherAgent, { ...request({ approval_id: asked.id }), actor: 'b' });
    expect((await rejectionOf(foreign)).code).toBe('NOT_FOUND');
  });

  it('refuses an approve that expired before the claim', async () => {
    const asked = await ask();
    await approve(alice, asked.id);
    now += 11 * 60_000; // alice's approve counted for 10 minutes
    await approve(bob, asked.id);
    expect((await rejectionOf(ask({ approval_id: asked.id }))).code).toBe('APPROVAL_PENDING');
  });

  it('refuses approves and claims once the request window passed', async () => {
    const asked = await ask();
    await approve(alice, asked.id);
    await approve(bob, asked.id);
    now += 61 * 60_000;
    expect((await rejectionOf(ask({ approval_id: asked.id }))).code).toBe('APPROVAL_EXPIRED');
    const late = await ask({ request_id: 'late-1' });
    now += 61 * 60_000;
    expect((await rejectionOf(approve(alice, late.id))).code).toBe('APPROVAL_EXPIRED');
  });

  it('refuses an approval after the policy was deleted, and a claim after it was deleted', async () => {
    const asked = await ask();
    await approve(alice, asked.id);
    await parts.gateway.deletePolicy(admin, 'refunds');
    expect((await rejectionOf(approve(bob, asked.id))).code).toBe('APPROVAL_STALE');

    await parts.gateway.putPolicy(admin, 'refunds', policy('@approval("1")'));
    const again = await ask({ request_id: 'again-2' });
    await approve(alice, again.id);
    await parts.gateway.putPolicy(admin, 'no-refunds', {
      cedar: 'forbid (principal, action == Action::"payments.refund", resource == Resource::"order-7");',
    });
    expect((await rejectionOf(ask({ approval_id: again.id, request_id: 'claim-2' }))).code).toBe(
      'APPROVAL_STALE',
    );
  });

  it('needs the larger count when the policy now asks for more approvers', async () => {
    await parts.gateway.putPolicy(admin, 'refunds', policy('@approval'));
    const asked = await ask();
    expect(asked.approvals_required).toBe(1);
    await approve(alice, asked.id);
    await parts.gateway.putPolicy(admin, 'refunds', policy('@approval("3")'));
    expect((await rejectionOf(ask({ approval_id: asked.id }))).code).toBe('APPROVAL_PENDING');
  });

  it('makes a reject final: no approve and no claim after it', async () => {
    const asked = await ask();
    await approve(alice, asked.id);
    const rejected = (await reject(bob, asked.id)) as ApprovalRecord;
    expect(rejected).toMatchObject({ verdict: 'reject', expires_at: null });
    expect((await rejectionOf(approve(bob, asked.id))).code).toBe('APPROVAL_REJECTED');
    expect((await rejectionOf(ask({ approval_id: asked.id }))).code).toBe('APPROVAL_REJECTED');
  });

  it('refuses to claim a decision that did not ask for approval', async () => {
    await parts.gateway.putPolicy(admin, 'refunds', {
      cedar: 'permit (principal == Agent::"a", action == Action::"payments.refund", resource);',
    });
    const plain = await ask();
    expect(plain.decision).toBe('allow');
    expect((await rejectionOf(ask({ approval_id: plain.id, request_id: 'c-3' }))).code).toBe(
      'APPROVAL_NOT_REQUIRED',
    );
  });

  it('lets the strictest determining permit count: a plain permit beside it does not skip approval', async () => {
    await parts.gateway.putPolicy(admin, 'refunds-plain', {
      cedar: 'permit (principal == Agent::"a", action == Action::"payments.refund", resource);',
    });
    expect((await ask()).decision).toBe('approval_required');
  });
});

describe('when a policy carries a malformed approval annotation', () => {
  it('refuses it at put with a diagnostic', async () => {
    const parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: InMemoryP256Signer.generate(),
      clock: { now: () => new Date() },
      gatewayPrincipal: 'gw',
    });
    for (const cedar of [
      '@approval("many")\npermit (principal, action == Action::"x.y", resource);',
      '@approval("9")\npermit (principal, action == Action::"x.y", resource);',
      '@approval\nforbid (principal, action == Action::"x.y", resource);',
    ]) {
      const error = (await rejectionOf(parts.gateway.putPolicy(admin, 'p', { cedar }))) as unknown as {
        code: string;
        details: { diagnostics: Array<{ message: string; line: number }> };
      };
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.details.diagnostics[0]).toMatchObject({
        line: 1,
        message: expect.stringContaining('@approval'),
      });
    }
  });
});
