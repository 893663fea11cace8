import { mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { AuditReport } from '../../core/verify/auditReport.js';
import {
  buildLane,
  decision,
  honestLaneLog,
  type LaneLog,
  linesOf,
  policyDelete,
  policyPut,
  signLog,
  writeLaneBundle,
} from '../helpers/laneLog.js';
import { NOW, run } from '../helpers/ztAudit.js';

/** The tamper suite of a log of several lanes: each attack fails with its own code; the honest log exits 0. */
describe('zt-audit verify on a log of several lanes', () => {
  let dir: string;
  let log: LaneLog;
  let rootPem: string;
  const recent = new Date(NOW.getTime() - 10 * 60_000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-lanes-'));
    log = await honestLaneLog();
    rootPem = join(dir, 'root.pem');
    await writeFile(rootPem, log.root.publicKeyPem);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function bundle(
    name: string,
    sizes: Record<string, number> = {},
    epoch = 2,
    time = recent,
  ): Promise<string> {
    const lanes = linesOf(log, sizes);
    const path = join(dir, name);
    await writeLaneBundle(path, lanes, await signLog(log.root, lanes, epoch, time));
    return path;
  }

  async function verify(...args: string[]): Promise<{ code: number; report: AuditReport; stdout: string }> {
    const result = await run(['verify', ...args, '--public-key', rootPem, '--json']);
    return { code: result.code, report: JSON.parse(result.stdout) as AuditReport, stdout: result.stdout };
  }

  const codes = (r: AuditReport) => r.findings.map((f) => [f.code, f.lane]);

  it('verifies the honest log with exit 0: every lane its own chain, the epoch covering each, references across lanes', async () => {
    const b = await bundle('honest');
    const { code, report } = await verify('--bundle', b, '--max-age', '1h');
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
    expect(report.lanes.map((l) => [l.lane, l.records, l.checkpoint?.covered])).toEqual([
      ['main', 5, true],
      ['w-1', 5, true],
      ['w-2', 4, true],
    ]);
    expect(report).toMatchObject({
      references: 'checked',
      provenUpTo: recent.toISOString(),
      provenBy: 'signed',
    });
    expect(report.epoch).toMatchObject({ epoch: 2, lanes: 3 });
    // the human output says what a bundle carrying its own checkpoint proves
    const human = await run(['verify', '--bundle', b, '--public-key', rootPem]);
    expect(human.stdout).toContain(`proves the log up to ${recent.toISOString()}`);
    expect(human.stdout).toContain('--state FILE remembers the newest');
  });

  it('verifies the lanes given as one file (records sorted back by their chain) against the checkpoint', async () => {
    const b = await bundle('one-file');
    const lanes = linesOf(log);
    // interleaved: the lanes' order in a file does not matter, each lane's own order does
    const w1 = lanes.get('w-1') as string[];
    const mixed = [
      ...(lanes.get('main') as string[]),
      ...w1.slice(0, 2),
      ...(lanes.get('w-2') as string[]),
      ...w1.slice(2),
    ];
    await writeFile(join(dir, 'mixed.jsonl'), `${mixed.join('\n')}\n`);
    const { code, report } = await verify(
      join(dir, 'mixed.jsonl'),
      '--checkpoint',
      join(b, 'checkpoint.json'),
    );
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
  });

  describe('when the bundle was tampered with', () => {
    it('a dropped lane: LANE_MISSING, exit 1', async () => {
      const b = await bundle('dropped');
      await unlink(join(b, 'lanes', 'w-2.jsonl'));
      const { code, report } = await verify('--bundle', b);
      expect(codes(report)).toEqual([['LANE_MISSING', 'w-2']]);
      expect(code).toBe(1);
    });

    it('a cut lane tail: LOG_TRUNCATED on that lane, exit 1', async () => {
      const b = await bundle('cut');
      const path = join(b, 'lanes', 'w-1.jsonl');
      const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
      await writeFile(path, `${lines.slice(0, 3).join('\n')}\n`);
      const { code, report } = await verify('--bundle', b);
      expect(codes(report)).toEqual([['LOG_TRUNCATED', 'w-1']]);
      expect(report.findings[0]?.seq).toBe(4);
      expect(code).toBe(1);
    });

    it('lanes reordered (two lane files swapped): CHAIN_NAME_MISMATCH in each, exit 1', async () => {
      const b = await bundle('reordered');
      await rename(join(b, 'lanes', 'w-1.jsonl'), join(b, 'lanes', 'tmp.jsonl'));
      await rename(join(b, 'lanes', 'w-2.jsonl'), join(b, 'lanes', 'w-1.jsonl'));
      await rename(join(b, 'lanes', 'tmp.jsonl'), join(b, 'lanes', 'w-2.jsonl'));
      const { code, report } = await verify('--bundle', b);
      const found = new Set(report.findings.map((f) => `${f.code} ${f.lane}`));
      expect(found.has('CHAIN_NAME_MISMATCH w-1')).toBe(true);
      expect(found.has('CHAIN_NAME_MISMATCH w-2')).toBe(true);
      expect(found.has('CHECKPOINT_ROOT_MISMATCH w-1') || found.has('LOG_TRUNCATED w-1')).toBe(true);
      expect(code).toBe(1);
    });

    it('records swapped between lanes: CHAIN_NAME_MISMATCH where each landed, exit 1', async () => {
      const b = await bundle('swapped');
      const read = async (lane: string) =>
        (await readFile(join(b, 'lanes', `${lane}.jsonl`), 'utf8')).trimEnd().split('\n');
      const [w1, w2] = [await read('w-1'), await read('w-2')];
      [w1[2], w2[2]] = [w2[2] as string, w1[2] as string];
      await writeFile(join(b, 'lanes', 'w-1.jsonl'), `${w1.join('\n')}\n`);
      await writeFile(join(b, 'lanes', 'w-2.jsonl'), `${w2.join('\n')}\n`);
      const { code, report } = await verify('--bundle', b);
      const mismatch = report.findings
        .filter((f) => f.code === 'CHAIN_NAME_MISMATCH')
        .map((f) => [f.lane, f.line]);
      expect(mismatch).toEqual([
        ['w-1', 3],
        ['w-2', 3],
      ]);
      expect(code).toBe(1);
    });

    it('the epoch left out of checkpoint.json (timed lane checkpoints only): NO_EPOCH, exit 3', async () => {
      const b = await bundle('no-epoch');
      const body = JSON.parse(await readFile(join(b, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
      await writeFile(join(b, 'checkpoint.json'), JSON.stringify(body['checkpoints']));
      const { code, report } = await verify('--bundle', b);
      expect(codes(report)).toEqual([['NO_EPOCH', null]]);
      expect(code).toBe(3);
    });

    it('the lines of the epoch reordered: CHECKPOINT_MALFORMED (lanes are listed sorted, once each), exit 1', async () => {
      const b = await bundle('epoch-lines');
      const body = JSON.parse(await readFile(join(b, 'checkpoint.json'), 'utf8')) as {
        epoch: { note: string };
      };
      const lines = body.epoch.note.split('\n');
      [lines[4], lines[5]] = [lines[5] as string, lines[4] as string];
      body.epoch.note = lines.join('\n');
      await writeFile(join(b, 'checkpoint.json'), JSON.stringify(body));
      const { code, report } = await verify('--bundle', b);
      expect(report.findings.map((f) => f.code)).toContain('CHECKPOINT_MALFORMED');
      expect(code).toBe(1);
    });
  });

  describe('when the verifier remembers what it accepted (--state)', () => {
    it('accepts the newest bundle and remembers its epoch, then refuses an older genuine one: STATE_ROLLBACK, exit 1', async () => {
      const state = join(dir, 'state.json');
      await rm(state, { force: true });
      const newest = await bundle('state-newest');
      const first = await verify('--bundle', newest, '--state', state);
      expect(first.code).toBe(0);
      expect(first.report.state).toBe('first');
      expect(JSON.parse(await readFile(state, 'utf8'))).toMatchObject({
        format: 'zt-audit-state/v1',
        epoch: 2,
      });

      // An older genuine bundle: epoch 1, every lane cut back to its size then, the epoch inside it.
      const older = await bundle(
        'state-older',
        { 'w-1': 3, 'w-2': 2 },
        1,
        new Date(recent.getTime() - 60_000),
      );
      const alone = await verify('--bundle', older);
      expect(alone.code).toBe(0); // on its own it proves the log up to its signed time, no further
      const remembered = await verify('--bundle', older, '--state', state);
      expect(codes(remembered.report)).toEqual([['STATE_ROLLBACK', null]]);
      expect(remembered.code).toBe(1);
      // a failing run leaves the state as it was
      expect(JSON.parse(await readFile(state, 'utf8'))).toMatchObject({ epoch: 2 });
      // and the newest verifies again against it
      expect((await verify('--bundle', newest, '--state', state)).code).toBe(0);
    });

    it('refuses an epoch of the same number that differs from the one remembered: STATE_INCONSISTENT', async () => {
      const state = join(dir, 'state-fork.json');
      await rm(state, { force: true });
      expect((await verify('--bundle', await bundle('fork-a'), '--state', state)).code).toBe(0);
      // the same lanes and number, signed again at another time: another statement for epoch 2
      const forked = await bundle('fork-b', {}, 2, new Date(recent.getTime() + 1000));
      const { code, report } = await verify('--bundle', forked, '--state', state);
      expect(codes(report)).toEqual([['STATE_INCONSISTENT', null]]);
      expect(code).toBe(1);
    });

    it('refuses a state file whose note does not verify with the root key (exit 2, the file kept)', async () => {
      const state = join(dir, 'state-other.json');
      const other = await honestLaneLog(InMemoryP256Signer.generate());
      const lanes = linesOf(other);
      await writeLaneBundle(join(dir, 'other'), lanes, await signLog(other.root, lanes, 1, recent));
      await writeFile(join(dir, 'other-root.pem'), other.root.publicKeyPem);
      const made = await run([
        'verify',
        '--bundle',
        join(dir, 'other'),
        '--public-key',
        join(dir, 'other-root.pem'),
        '--state',
        state,
      ]);
      expect(made.code).toBe(0);
      const before = await readFile(state, 'utf8');
      const refused = await run([
        'verify',
        '--bundle',
        await bundle('state-key'),
        '--public-key',
        rootPem,
        '--state',
        state,
      ]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/state file/);
      expect(await readFile(state, 'utf8')).toBe(before);
    });
  });

  describe('when references resolve through configuration versions', () => {
    it('an allow citing a policy deleted at its version: POLICY_NOT_IN_FORCE, exit 1', async () => {
      const bad: LaneLog = { root: log.root, lanes: new Map() };
      // main: agent v1, allow-ci v2, old v3, old deleted v4; w-1: allows naming `old` at v3 (fine) and v4
      await buildLane(bad, 'main', [
        {
          kind: 'agent',
          agent_id: 'ci',
          change: 'register',
          bound_principal_arn: 'arn:aws:iam::123456789012:role/ci',
          config_version: 1,
        },
        policyPut('allow-ci', 2),
        policyPut('old', 3),
        policyDelete('old', 4),
      ]);
      await buildLane(bad, 'w-1', [decision(1, 3, true, ['old']), decision(2, 4, true, ['old'])]);
      const lanes = linesOf(bad);
      const b = join(dir, 'deleted-policy');
      await writeLaneBundle(b, lanes, await signLog(bad.root, lanes, 1, recent));
      const { code, report } = await verify('--bundle', b);
      expect(report.findings.map((f) => [f.code, f.lane, f.seq])).toEqual([
        ['POLICY_NOT_IN_FORCE', 'w-1', 3],
      ]);
      expect(code).toBe(1);
    });

    it('a missing admin lane: ADMIN_RECORDS_MISSING for the decisions above every admin version present', async () => {
      const lanes = linesOf(log);
      lanes.delete('main');
      await writeFile(join(dir, 'no-admin.jsonl'), `${[...lanes.values()].flat().join('\n')}\n`);
      const file = await verify(join(dir, 'no-admin.jsonl'));
      expect(file.report.findings.map((f) => f.code)).toContain('ADMIN_RECORDS_MISSING');
      expect(file.report.findings.map((f) => f.code)).not.toContain('POLICY_NOT_IN_FORCE');
      expect(file.code).toBe(1);
      // as a bundle, the epoch names the lane too
      const b = await bundle('no-admin-lane');
      await unlink(join(b, 'lanes', 'main.jsonl'));
      const fromBundle = await verify('--bundle', b);
      expect(new Set(fromBundle.report.findings.map((f) => f.code))).toEqual(
        new Set(['LANE_MISSING', 'ADMIN_RECORDS_MISSING']),
      );
      expect(fromBundle.code).toBe(1);
    });
  });

  describe('when a record of any lane is proved with a receipt', () => {
    it('proves a record of w-2 against its lane checkpoint, and verify-receipt accepts it with the root key', async () => {
      const b = await bundle('prove');
      const out = join(dir, 'receipt.json');
      const proved = await run(['prove', 'w-2-3', '--bundle', b, '--out', out]);
      expect(proved.code, proved.stderr).toBe(0);
      const receipt = JSON.parse(await readFile(out, 'utf8'));
      expect(receipt.record.id).toBe('w-2-3');
      expect(receipt.checkpoint.origin).toBe('zt-infra/local/test-log/w-2');
      expect(receipt.certificate.record.chain).toBe('w-2');
      const checked = await run(['verify-receipt', out, '--public-key', rootPem]);
      expect(checked.code, checked.stdout).toBe(0);
      // the same record against another lane's checkpoint: CHECKPOINT_LANE_MISMATCH
      const body = JSON.parse(await readFile(join(b, 'checkpoint.json'), 'utf8'));
      receipt.checkpoint = body.checkpoints.find((c: { origin: string }) => c.origin.endsWith('/w-1'));
      await writeFile(out, JSON.stringify(receipt));
      const wrong = await run(['verify-receipt', out, '--public-key', rootPem, '--json']);
      expect(JSON.parse(wrong.stdout)).toMatchObject({ ok: false, code: 'CHECKPOINT_LANE_MISMATCH' });
      expect(wrong.code).toBe(1);
    });
  });
});
