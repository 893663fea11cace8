import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { CASES, type ContractCase, POLICIES } from './corpus.js';
import { validateResponse } from './openapiValidator.js';
import { coreTarget, emulatorTarget, handlerTarget, seed, type Target } from './targets.js';

interface DecisionBody {
  decision?: string;
  reason?: string;
  audit?: {
    kind: string;
    decision: string;
    reason: string;
    errors: string[];
    policy_ids: string[];
    actor: string;
  };
  error?: { code: string; details?: { field?: string } };
}

function assertCase(c: ContractCase, status: number, body: DecisionBody, http: boolean): void {
  if (http || c.expect.decision) expect(status, JSON.stringify(body)).toBe(c.expect.status);
  if (c.expect.code) {
    expect(body.error?.code).toBe(c.expect.code);
    if (c.expect.field !== undefined) expect(body.error?.details?.field).toBe(c.expect.field);
    // Every failure other than a decision carries no record.
    expect(body.audit).toBeUndefined();
  }
  if (c.expect.decision) {
    expect(body.audit?.kind).toBe('decision');
    expect(body.decision).toBe(c.expect.decision);
    expect(body.audit?.decision).toBe(c.expect.decision);
    if (c.expect.reason) expect(body.audit?.reason).toBe(c.expect.reason);
    if (c.expect.reasonIncludes) expect(body.audit?.reason).toContain(c.expect.reasonIncludes);
    if (c.expect.errors) expect(body.audit?.errors.length).toBeGreaterThan(0);
    else expect(body.audit?.errors).toEqual([]);
    if (c.expect.policyIds) expect(body.audit?.policy_ids).toEqual(c.expect.policyIds);
  }
}

const targets: Array<[string, () => Promise<Target>]> = [
  ['core use cases', async () => coreTarget()],
  ['Lambda handlers with API Gateway events', async () => handlerTarget()],
  ['the emulator over HTTP with SigV4', () => emulatorTarget()],
];

describe.each(targets)('when the contract corpus is replayed against %s', (_name, make) => {
  let target: Target;
  beforeAll(async () => {
    target = await make();
    await seed(target);
  });
  afterAll(async () => {
    await target?.close();
  });

  for (const c of CASES) {
    it(c.name, async () => {
      if (c.httpOnly && !target.http) return;
      const { status, body } = await target.call(c);
      assertCase(c, status, body as DecisionBody, target.http);
      if (target.http) {
        // What the runtime really answers is what openapi.yaml documents.
        const documented = validateResponse(c.method, c.path, status, body);
        expect(documented.ok ? [] : documented.errors).toEqual([]);
      }
    });
  }

  it('leaves a chain that verifies against the root key alone', async () => {
    const lines = await target.records();
    const report = verifyChain(lines, { trustedRootKeys: [target.rootPem] });
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    // seed: 4 agents + 1 disable + 1 schema + the policies + 1 allow, plus a key record, plus one per
    // decision case (a refused request writes nothing)
    const decisions = CASES.filter((c) => c.expect.decision).length;
    expect(report.records).toBe(1 + 4 + 1 + 1 + POLICIES.length + 1 + decisions);
  });
});
