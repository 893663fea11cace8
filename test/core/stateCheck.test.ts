import { describe, expect, it } from 'vitest';
import type { ParsedEpochNote } from '../../core/log/epoch.js';
import type { LaneAudit } from '../../core/verify/LaneAudit.js';
import type { AuditState, ValidCheckpoint } from '../../core/verify/signedStatements.js';
import { checkState, rememberedOf } from '../../core/verify/stateCheck.js';
import type { RememberedLog } from '../../core/verify/verifierState.js';

/**
 * Step 11 on its own (`zt-audit verify --state`): the input's newest signed statement against the one a
 * previous valid run accepted. Each case is an attacker's: an older genuine statement shown again, a lane
 * cut or rewritten under a newer epoch, another log's bundle, a fork at the same epoch number.
 */

const ORIGIN = 'zt-infra/aws/111122223333/us-east-1/ZtInfra';
const ROOT_A = Buffer.alloc(32, 1).toString('base64');
const ROOT_B = Buffer.alloc(32, 2).toString('base64');

function epoch(
  n: number,
  time: string,
  lanes: ParsedEpochNote['lanes'],
  body = `body ${n}`,
): ParsedEpochNote {
  return { origin: ORIGIN, epoch: n, time, lanes, body, signatures: [] };
}

/** An input as the verifier gathered it: its lanes' roots at given sizes, its statements, its findings. */
function input(opts: {
  epochs?: ParsedEpochNote[];
  checkpoints?: ValidCheckpoint[];
  rootsAt?: Record<string, Record<number, string>>;
}) {
  const findings: Array<{ code: string; lane: string | null; step: number }> = [];
  const lanes = new Map<string, LaneAudit>();
  for (const [lane, roots] of Object.entries(opts.rootsAt ?? {})) {
    lanes.set(lane, { rootsAt: new Map(Object.entries(roots).map(([k, v]) => [Number(k), v])) } as LaneAudit);
  }
  const state = {
    lanes,
    checkpoints: opts.checkpoints ?? [],
    epochs: opts.epochs ?? [],
    findings: [],
    finding: (code, lane, _seq, _line, _message, step) => findings.push({ code, lane, step }),
  } as AuditState;
  return { state, findings };
}

const remembered = (over: Partial<RememberedLog> = {}): RememberedLog => ({
  origin: ORIGIN,
  epoch: 4,
  time: '2026-11-29T10:00:00Z',
  lanes: [{ lane: 'main', size: 10, root: ROOT_A }],
  note: 'body 4\n\n',
  ...over,
});

describe('when an input is checked against what the verifier accepted before', () => {
  it('accepts a newer epoch whose lane extends the remembered one (same root at the remembered size)', () => {
    const newer = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'main', size: 12, root: ROOT_B }]);
    const { state, findings } = input({ epochs: [newer], rootsAt: { main: { 10: ROOT_A } } });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([]);
  });

  it('finds a lane cut under a newer epoch (STATE_ROLLBACK, naming the lane)', () => {
    const newer = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'main', size: 9, root: ROOT_B }]);
    const { state, findings } = input({ epochs: [newer] });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([{ code: 'STATE_ROLLBACK', lane: 'main', step: 11 }]);
  });

  it('finds a remembered lane missing from the newer epoch (STATE_ROLLBACK)', () => {
    const newer = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'lane-1', size: 3, root: ROOT_B }]);
    const { state, findings } = input({ epochs: [newer] });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([{ code: 'STATE_ROLLBACK', lane: 'main', step: 11 }]);
  });

  it('finds a lane rewritten at the same size (STATE_INCONSISTENT)', () => {
    const newer = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'main', size: 10, root: ROOT_B }]);
    const { state, findings } = input({ epochs: [newer] });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([{ code: 'STATE_INCONSISTENT', lane: 'main', step: 11 }]);
  });

  it('finds a lane whose first remembered records were rewritten before it grew (STATE_INCONSISTENT)', () => {
    const newer = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'main', size: 12, root: ROOT_A }]);
    const { state, findings } = input({ epochs: [newer], rootsAt: { main: { 10: ROOT_B } } });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([{ code: 'STATE_INCONSISTENT', lane: 'main', step: 11 }]);
  });

  it('finds a fork: the remembered epoch number with another body (STATE_INCONSISTENT)', () => {
    const forked = epoch(4, '2026-11-29T10:00:00Z', [{ lane: 'main', size: 10, root: ROOT_A }], 'other body');
    const { state, findings } = input({ epochs: [forked] });
    checkState(state, remembered(), forked, forked.time);
    expect(findings).toEqual([{ code: 'STATE_INCONSISTENT', lane: null, step: 11 }]);
  });

  it('finds an older genuine epoch shown again, and an input with no statement at all (STATE_ROLLBACK)', () => {
    const older = epoch(3, '2026-11-29T09:59:00Z', [{ lane: 'main', size: 8, root: ROOT_B }]);
    const a = input({ epochs: [older] });
    checkState(a.state, remembered(), older, older.time);
    expect(a.findings).toEqual([{ code: 'STATE_ROLLBACK', lane: null, step: 11 }]);
    const b = input({});
    checkState(b.state, remembered(), null, null);
    expect(b.findings).toEqual([{ code: 'STATE_ROLLBACK', lane: null, step: 11 }]);
  });

  it("finds another log's bundle (STATE_ORIGIN_MISMATCH)", () => {
    const newer = { ...epoch(5, '2026-11-29T10:01:00Z', []), origin: 'zt-infra/local/other' };
    const { state, findings } = input({ epochs: [newer] });
    checkState(state, remembered(), newer, newer.time);
    expect(findings).toEqual([{ code: 'STATE_ORIGIN_MISMATCH', lane: null, step: 11 }]);
  });

  it('checks a log from before epochs by its newest checkpoint of main', () => {
    const checkpoint = (size: number, root: string): ValidCheckpoint => ({
      lane: 'main',
      origin: `${ORIGIN}/main`,
      size,
      root,
      time: null,
      note: `note ${size}`,
    });
    const before = remembered({ epoch: null, time: null, lanes: [{ lane: 'main', size: 10, root: ROOT_A }] });
    const grown = input({ checkpoints: [checkpoint(12, ROOT_B)], rootsAt: { main: { 10: ROOT_A } } });
    checkState(grown.state, before, null, null);
    expect(grown.findings).toEqual([]);
    const cut = input({ checkpoints: [checkpoint(8, ROOT_B)] });
    checkState(cut.state, before, null, null);
    expect(cut.findings).toEqual([{ code: 'STATE_ROLLBACK', lane: 'main', step: 11 }]);
  });
});

describe('when a valid run decides what to remember', () => {
  it('keeps the newest epoch, else the newest checkpoint of main, else nothing', () => {
    const e4 = epoch(4, '2026-11-29T10:00:00Z', [{ lane: 'main', size: 10, root: ROOT_A }]);
    const e5 = epoch(5, '2026-11-29T10:01:00Z', [{ lane: 'main', size: 11, root: ROOT_B }]);
    expect(rememberedOf(input({ epochs: [e5, e4] }).state)).toMatchObject({ epoch: 5, lanes: e5.lanes });
    const main = (size: number): ValidCheckpoint => ({
      lane: 'main',
      origin: `${ORIGIN}/main`,
      size,
      root: ROOT_A,
      time: null,
      note: `n${size}`,
    });
    expect(rememberedOf(input({ checkpoints: [main(3), main(7)] }).state)).toEqual({
      origin: ORIGIN,
      epoch: null,
      time: null,
      lanes: [{ lane: 'main', size: 7, root: ROOT_A }],
      note: 'n7',
    });
    expect(rememberedOf(input({}).state)).toBeNull();
  });
});
