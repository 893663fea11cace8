import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/model/records.js';
import { ConfigReferences, KEEP_PER_GROUP } from '../../core/verify/configReferences.js';
import { agentRegister, decision, policyDelete, policyPut } from '../helpers/laneLog.js';

let seq = 0;
function rec(fields: object, lane = 'main'): [AuditRecord, { lane: string; seq: number; line: number }] {
  seq++;
  return [{ chain: lane, seq, ...fields } as unknown as AuditRecord, { lane, seq, line: seq }];
}

function run(records: Array<[AuditRecord, { lane: string; seq: number; line: number }]>) {
  const refs = new ConfigReferences();
  for (const [r, at] of records) refs.add(r, at);
  return refs.finish().map((f) => [f.code, f.place?.lane ?? null, f.place?.seq ?? null]);
}

describe('when references resolve through configuration versions', () => {
  it('resolves an allow at its version, whatever lane holds the admin records, in any order', () => {
    seq = 0;
    const out = run([
      rec(decision(1, 2, true), 'w-1'),
      rec(policyPut('allow-ci', 2), 'admin'),
      rec(agentRegister(1), 'admin'),
    ]);
    expect(out).toEqual([]);
  });

  it('refuses an allow naming a policy deleted at or before its version, and one before it was put', () => {
    seq = 0;
    const out = run([
      rec(agentRegister(1)),
      rec(policyPut('allow-ci', 2)),
      rec(policyDelete('allow-ci', 3)),
      rec(decision(1, 3, true), 'w-1'),
      rec(decision(2, 1, true), 'w-1'),
      rec(decision(3, 2, true), 'w-1'),
    ]);
    expect(out).toEqual([
      ['POLICY_NOT_IN_FORCE', 'w-1', 5],
      ['POLICY_NOT_IN_FORCE', 'w-1', 4],
    ]);
  });

  it('refuses an allow naming a shadow policy: a shadow put puts nothing in force', () => {
    seq = 0;
    const out = run([
      rec(agentRegister(1)),
      rec({ ...policyPut('allow-ci', 2), mode: 'shadow' }),
      rec(decision(1, 2, true), 'w-1'),
    ]);
    expect(out).toEqual([['POLICY_NOT_IN_FORCE', 'w-1', 3]]);
  });

  it('refuses duplicate and missing versions, and decisions above every admin record', () => {
    seq = 0;
    expect(run([rec(agentRegister(1)), rec(policyPut('a', 1), 'w-2')])).toEqual([
      ['ADMIN_VERSION_DUPLICATE', 'w-2', 2],
    ]);
    seq = 0;
    expect(run([rec(agentRegister(1)), rec(policyPut('a', 3))])).toEqual([['ADMIN_VERSION_GAP', 'main', 2]]);
    seq = 0;
    expect(run([rec(agentRegister(2))])).toEqual([['ADMIN_VERSION_GAP', 'main', 1]]);
    seq = 0;
    expect(run([rec(agentRegister(1)), rec(decision(1, 5, false), 'w-1')])).toEqual([
      ['ADMIN_RECORDS_MISSING', 'w-1', 2],
    ]);
  });

  it('starts from the records before versions in a log that has them (an upgraded log)', () => {
    seq = 0;
    const legacyAgent = { kind: 'agent', agent_id: 'ci', change: 'register', bound_principal_arn: 'x' };
    const legacyPolicy = {
      kind: 'policy',
      policy_id: 'allow-ci',
      change: 'put',
      cedar: 'c',
      policy_sha256: 'h',
    };
    expect(
      run([rec(legacyAgent), rec(legacyPolicy), rec(policyPut('b', 57)), rec(decision(1, 57, true), 'w-1')]),
    ).toEqual([]);
    // without versioned admin records, any version is the configuration the old records built
    seq = 0;
    expect(run([rec(legacyAgent), rec(legacyPolicy), rec(decision(1, 56, true), 'w-1')])).toEqual([]);
  });

  it('keeps memory flat: like decisions are grouped, the first places reported and the rest counted', () => {
    seq = 0;
    const refs = new ConfigReferences();
    const [a, at] = rec(agentRegister(1));
    refs.add(a, at);
    for (let i = 0; i < 1000; i++) {
      const [d, place] = rec(decision(i, 1, true), 'w-1');
      refs.add(d, place);
    }
    const findings = refs.finish();
    expect(findings).toHaveLength(KEEP_PER_GROUP);
    expect(findings[KEEP_PER_GROUP - 1]?.message).toMatch(/and 984 more decisions like it/);
  });
});
