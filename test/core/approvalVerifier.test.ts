import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer, signRecord } from '../../core/keys/signing.js';
import { leafHash } from '../../core/log/merkle.js';
import { canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import type { AuditRecord, DecisionFields, DecisionRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { AuditVerifier } from '../../core/verify/AuditVerifier.js';
import { INCOMPLETE_CODES } from '../../core/verify/auditReport.js';
import { prepareLine } from '../../core/verify/prepareLine.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { AGENT_ARN, ChainBuilder, rehashFrom, toLine } from '../helpers/chainFactory.js';

/** `zt-audit verify` on approvals: every claimed allow must rest on valid approval records (issue 11). */

function verify(lines: string[], root: string) {
  const v = new AuditVerifier({ trustedRootKeys: [root], now: new Date('2026-11-29T12:00:00.000Z') });
  for (const [i, line] of lines.entries()) v.add(line, { line: i + 1 });
  return v.finish().findings.filter((f) => !INCOMPLETE_CODES.has(f.code));
}
const approvalCodes = (findings: Array<{ code: string; seq: number | null }>) =>
  findings.filter((f) => f.code.startsWith('APPROVAL_')).map((f) => [f.code, f.seq]);

describe('when the gateway wrote the approvals', () => {
  it('verifies an honest log, and catches a forged approval record the allow rests on', async () => {
    const root = InMemoryP256Signer.generate();
    let now = Date.parse('2026-11-29T10:00:00.000Z');
    const parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: root,
      clock: {
        now: () => {
          now += 10;
          return new Date(now);
        },
      },
      gatewayPrincipal: 'gw',
    });
    const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
    const agent: Caller = { principalArn: 'arn:aws:iam::111122223333:role/agent', isAdmin: false };
    const alice: Caller = {
      principalArn: 'arn:aws:iam::111122223333:role/alice',
      isAdmin: false,
      isApprover: true,
    };
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agent.principalArn });
    await parts.gateway.putPolicy(admin, 'deploys', {
      cedar: '@approval\npermit (principal == Agent::"a", action == Action::"deploy.run", resource);',
    });
    const body = { actor: 'a', action: 'deploy.run', params: { tag: 'v1' } };
    const asked = (await parts.gateway.decide(agent, body)).record as DecisionRecord;
    const approved = await parts.gateway.voteApproval(alice, asked.id, 'approve', {
      params_sha256: asked.params_sha256,
    });
    const claimed = (await parts.gateway.decide(agent, { ...body, approval_id: asked.id })).record;
    expect(claimed).toMatchObject({ decision: 'allow', approvals: [approved.id] });

    const lines = await parts.writer.page(0, 1000);
    expect(verify(lines, root.publicKeyPem)).toEqual([]);

    // The approve forged: the same record by another "approver", re-signed by a key the verifier does not trust.
    const records = lines.map((l) => JSON.parse(l) as AuditRecord);
    const at = records.findIndex((r) => r.id === approved.id);
    const forger = InMemoryP256Signer.generate();
    const { current_hash: _h, kms_signature: _s, ...rest } = records[at] as AuditRecord;
    records[at] = await signRecord(
      { ...rest, principal_arn: 'arn:aws:iam::111122223333:role/mallory', signing_key_id: forger.keyId },
      forger,
    );
    const findings = verify(records.map(toLine), root.publicKeyPem);
    expect(findings.map((f) => f.code)).toContain('UNKNOWN_SIGNING_KEY');
    expect(approvalCodes(findings)).toContainEqual(['APPROVAL_INVALID', claimed.seq]);
  });
});

/**
 * Logs a broken or compromised writer could produce: every record hashed, linked and signed by the root,
 * so only the approval checks can tell.
 */
describe('when the approval records do not back the allow', () => {
  const root = InMemoryP256Signer.generate();
  const REQUESTER = AGENT_ARN;
  const ALICE = 'arn:aws:iam::123456789012:role/alice';
  const BOB = 'arn:aws:iam::123456789012:role/bob';
  const PARAMS = canonicalSha256({ tag: 'v1' });
  const base = {
    kind: 'decision' as const,
    actor: 'ci',
    action: 'deploy.run',
    resource: '',
    context_sha256: sha256Hex('{}'),
    params_sha256: PARAMS,
    policy_ids: ['deploys'],
    policy_set_sha256: sha256Hex('x'),
    errors: [],
  };
  const request = (required: number): DecisionFields => ({
    ...base,
    request_id: 'r-1',
    decision: 'approval_required',
    reason: 'permitted once approved',
    approvals_required: required,
    approval_expires_at: '2026-11-26T09:00:00.000Z',
  });
  const claim = (
    approvalId: string,
    approvals: string[],
    required: number,
    extra: object = {},
  ): DecisionFields => ({
    ...base,
    request_id: `c-${approvals.join('-')}-${Math.random()}`,
    decision: 'allow',
    reason: 'permitted, approved',
    approval_id: approvalId,
    approvals,
    approvals_required: required,
    ...extra,
  });
  const verdict = (
    decisionId: string,
    v: 'approve' | 'reject',
    expiresAt: string | null = '2026-11-26T08:30:00.000Z',
  ) => ({
    kind: 'approval' as const,
    decision_id: decisionId,
    verdict: v,
    params_sha256: PARAMS,
    expires_at: v === 'approve' ? expiresAt : null,
  });
  async function build(steps: (b: ChainBuilder) => Promise<void>) {
    const b = new ChainBuilder();
    await steps(b);
    return approvalCodes(verify(b.lines, root.publicKeyPem));
  }

  it('accepts a claim on valid approvals by distinct approvers', async () => {
    const out = await build(async (b) => {
      const r = await b.append(request(2), root, { principalArn: REQUESTER });
      const a1 = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE });
      const a2 = await b.append(verdict(r.id, 'approve'), root, { principalArn: BOB });
      await b.append(claim(r.id, [a1.id, a2.id], 2), root, { principalArn: REQUESTER });
    });
    expect(out).toEqual([]);
  });

  it('refuses an allow citing a rejected approval, and one citing the reject itself', async () => {
    const out = await build(async (b) => {
      const r = await b.append(request(1), root, { principalArn: REQUESTER });
      const a1 = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE });
      const no = await b.append(verdict(r.id, 'reject'), root, { principalArn: BOB });
      await b.append(claim(r.id, [a1.id], 1), root, { principalArn: REQUESTER }); // seq 4
      await b.append(claim(r.id, [no.id], 1), root, { principalArn: REQUESTER }); // seq 5
    });
    expect(out).toEqual(
      expect.arrayContaining([
        ['APPROVAL_REJECTED', 4],
        ['APPROVAL_INVALID', 5],
        ['APPROVAL_INSUFFICIENT', 5],
        ['APPROVAL_CLAIMED_TWICE', 5],
      ]),
    );
  });

  it('refuses one approver counted twice, a self-approval, and fewer approvals than the request required', async () => {
    const out = await build(async (b) => {
      const r = await b.append(request(2), root, { principalArn: REQUESTER });
      const a1 = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE });
      const a2 = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE }); // seq 3
      await b.append(claim(r.id, [a1.id, a2.id], 2), root, { principalArn: REQUESTER }); // seq 4
      const r2 = await b.append(request(2), root, { principalArn: REQUESTER }); // seq 5
      const self = await b.append(verdict(r2.id, 'approve'), root, { principalArn: REQUESTER }); // seq 6
      await b.append(claim(r2.id, [self.id], 1), root, { principalArn: REQUESTER }); // seq 7
    });
    expect(out).toEqual(
      expect.arrayContaining([
        ['APPROVAL_INSUFFICIENT', 4],
        ['APPROVAL_INVALID', 6],
        ['APPROVAL_INVALID', 7],
        ['APPROVAL_INSUFFICIENT', 7],
      ]),
    );
  });

  it('refuses an expired approve, a claim after the window, other params, and a missing approval', async () => {
    const out = await build(async (b) => {
      const r = await b.append(request(1), root, { principalArn: REQUESTER });
      const old = await b.append(verdict(r.id, 'approve', '2026-11-26T08:00:01.500Z'), root, {
        principalArn: ALICE,
      });
      await b.append(claim(r.id, [old.id], 1), root, { principalArn: REQUESTER }); // seq 3, at 08:00:02
      await b.append(claim(r.id, [old.id], 1, { params_sha256: canonicalSha256({ tag: 'v2' }) }), root, {
        principalArn: REQUESTER,
      }); // seq 4
      await b.append(claim('main-99', ['main-98'], 1), root, { principalArn: REQUESTER }); // seq 5
      const r2 = await b.append(request(1), root, { principalArn: REQUESTER }); // seq 6
      const a = await b.append(verdict(r2.id, 'approve', '2026-11-26T10:00:00.000Z'), root, {
        principalArn: ALICE,
      });
      await b.append(claim(r2.id, [a.id], 1), root, {
        principalArn: REQUESTER,
        timestamp: new Date('2026-11-26T09:30:00.000Z'),
      }); // seq 8
    });
    expect(out).toEqual(
      expect.arrayContaining([
        ['APPROVAL_EXPIRED', 3],
        ['APPROVAL_MISMATCH', 4],
        ['APPROVAL_NOT_FOUND', 5],
        ['APPROVAL_EXPIRED', 8],
      ]),
    );
    expect(out).not.toContainEqual(['APPROVAL_EXPIRED', 4]);
  });

  it('finds the same on the worker path, whose prepared records keep the fields the checks read', async () => {
    const b = new ChainBuilder();
    const r = await b.append(request(1), root, { principalArn: REQUESTER });
    const a1 = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE });
    await b.append(verdict(r.id, 'reject'), root, { principalArn: BOB });
    await b.append(claim(r.id, [a1.id], 1), root, { principalArn: REQUESTER });
    const keys = new Map([[root.keyId, createPublicKey(root.publicKeyPem)]]);
    const v = new AuditVerifier({
      trustedRootKeys: [root.publicKeyPem],
      now: new Date('2026-11-29T12:00:00.000Z'),
    });
    b.lines.forEach((line, i) => {
      const prepared = prepareLine(line, keys);
      expect(prepared.record).not.toBeNull();
      v.addPrepared(prepared.record as AuditRecord, leafHash(line), { line: i + 1 });
    });
    const prepared = approvalCodes(v.finish().findings);
    expect(prepared).toEqual([['APPROVAL_REJECTED', 4]]);
    expect(approvalCodes(verify(b.lines, root.publicKeyPem))).toEqual(prepared);
  });

  it('catches an approval record edited after signing (rehashed, signature left stale)', async () => {
    const b = new ChainBuilder();
    const r = await b.append(request(1), root, { principalArn: REQUESTER });
    const a = await b.append(verdict(r.id, 'approve'), root, { principalArn: ALICE });
    await b.append(claim(r.id, [a.id], 1), root, { principalArn: REQUESTER });
    const records = [...b.records];
    (records[1] as { principal_arn: string }).principal_arn = BOB;
    const lines = rehashFrom(records, 1).map(toLine);
    const findings = verify(lines, root.publicKeyPem);
    expect(findings.map((f) => f.code)).toContain('SIGNATURE_INVALID');
    expect(approvalCodes(findings)).toContainEqual(['APPROVAL_INVALID', 3]);
  });
});
