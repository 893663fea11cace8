import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplayResult } from '../../audit/replay.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator, ztAsAdmin } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const REFUNDS = (agent: string, max: number) =>
  `permit (principal == Agent::"${agent}", action == Action::"payments.refund", resource) when { context.params.amount <= ${max} };\n`;
const READS =
  'permit (principal, action == Action::"tool.read", resource) when { principal has team && principal.team == "billing" };\n';

/** Runs `zt` in-process against `emulator`, as the admin. */
const zt = (emulator: TestEmulator, argv: string[]): Promise<Run> => ztAsAdmin(emulator, argv);

async function register(
  emulator: TestEmulator,
  agentId: string,
  attributes?: Record<string, string>,
): Promise<AwsCredentials> {
  const reg = await send(emulator.url, 'POST', '/agents', {
    credentials: emulator.adminCredentials,
    body: { agentId, ...(attributes ? { attributes } : {}) },
  });
  expect(reg.status, reg.text).toBe(201);
  return (reg.body as { credentials: AwsCredentials }).credentials;
}

async function writeRootPem(emulator: TestEmulator): Promise<string> {
  const keys = (await send(emulator.url, 'GET', '/keys', { credentials: emulator.adminCredentials }))
    .body as {
    keys: Array<{ role: string; publicKeyPem: string }>;
  };
  const path = join(emulator.dataDir, 'root.pem');
  await writeFile(path, keys.keys.find((k) => k.role === 'root')?.publicKeyPem as string);
  return path;
}

describe('when a log made by the emulator is replayed against stricter policies', () => {
  let emulator: TestEmulator;
  let bundle: string;
  let candidates: string;
  let rootPem: string;
  /** Record id of each decision, by name. */
  const ids: Record<string, string> = {};

  const replay = (bundleDir: string, extra: string[] = []) =>
    zt(emulator, [
      'policies',
      'replay',
      '--bundle',
      bundleDir,
      '--policies',
      candidates,
      '--public-key',
      rootPem,
      ...extra,
    ]);

  beforeAll(async () => {
    // Keep the request data of refunds and reads, not of hello-world (so those decisions are not replayable).
    emulator = await startTestEmulator({
      keepRequests: { actions: ['payments.*', 'tool.read'], retentionDays: 30 },
    });
    const admin = emulator.adminCredentials;
    const worker = await register(emulator, 'worker', { team: 'billing' });
    const other = await register(emulator, 'other', { team: 'ops' });
    const gone = await register(emulator, 'gone');
    await send(emulator.url, 'DELETE', '/agents/gone', { credentials: admin });
    const schema = await send(emulator.url, 'PUT', '/schema', {
      credentials: admin,
      body: {
        declarations: {
          'payments.refund': { params: { type: 'Record', attributes: { amount: { type: 'Long' } } } },
        },
      },
    });
    expect(schema.status, schema.text).toBe(200);
    for (const [id, cedar] of [
      ['refunds', REFUNDS('worker', 1000)],
      ['reads', READS],
    ] as const) {
      const put = await send(emulator.url, 'PUT', `/policies/${id}`, { credentials: admin, body: { cedar } });
      expect(put.status, put.text).toBe(200);
    }
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });

    const decide = async (
      name: string,
      credentials: AwsCredentials,
      body: Record<string, unknown>,
      expected: number,
    ) => {
      const answer = await send(emulator.url, 'POST', '/actions', {
        credentials,
        body: { ...body, request_id: `replay-${name}` },
      });
      expect(answer.status, `${name}: ${answer.text}`).toBe(expected);
      ids[name] = (answer.body as { audit: { id: string } }).audit.id;
    };
    const refund = (amount: number) => ({ action: 'payments.refund', params: { amount } });
    await decide('refund50', worker, { actor: 'worker', ...refund(50) }, 200);
    await decide('refund500', worker, { actor: 'worker', ...refund(500) }, 200);
    await decide('refund5000', worker, { actor: 'worker', ...refund(5000) }, 403);
    await decide(
      'readProd',
      worker,
      { actor: 'worker', action: 'tool.read', context: { environment: 'prod' } },
      200,
    );
    await decide(
      'readDev',
      worker,
      { actor: 'worker', action: 'tool.read', context: { environment: 'dev' } },
      200,
    );
    await decide('otherRefund', other, { actor: 'other', ...refund(10) }, 403);
    await decide('hello', worker, { actor: 'worker', action: 'hello-world.say_hello' }, 200);
    await decide('mismatch', worker, { actor: 'other', ...refund(10) }, 403);
    await decide('disabled', gone, { actor: 'gone', ...refund(10) }, 403);

    rootPem = await writeRootPem(emulator);
    bundle = join(emulator.dataDir, 'bundle');
    const exported = await zt(emulator, ['audit', 'export', '--bundle', bundle, '--requests', '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ requests: 6 });

    // Stricter refunds for worker, a forbid on reads in prod, and refunds for `other` (a deny that becomes an allow).
    candidates = join(emulator.dataDir, 'candidates');
    await mkdir(candidates);
    await writeFile(join(candidates, 'refunds.cedar'), REFUNDS('worker', 100));
    await writeFile(join(candidates, 'refunds-other.cedar'), REFUNDS('other', 100));
    await writeFile(join(candidates, 'reads.cedar'), READS);
    await writeFile(
      join(candidates, 'no-prod-reads.cedar'),
      'forbid (principal, action == Action::"tool.read", resource) when { context has environment && context.environment == "prod" };\n',
    );
    await writeFile(
      join(candidates, 'hello.cedar'),
      'permit (principal == Agent::"worker", action == Action::"hello-world.say_hello", resource);\n',
    );
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('verifies the bundle, then reports exactly the decisions that would change, by agent and action', async () => {
    const run = await replay(bundle, ['--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as ReplayResult;
    expect(result.verification).toMatchObject({ status: 'valid' });
    expect(result).toMatchObject({
      decisions: 9,
      replayed: 6,
      unchanged: 3,
      changed: 3,
      notReplayable: 1,
      deniedBeforePolicy: 2,
      keptRequests: 6,
    });
    expect(result.declarationsFrom).toMatch(/^main-\d+$/);
    const summary = result.groups.map((g) => ({
      agent: g.agent,
      action: g.action,
      replayed: g.replayed,
      changed: g.changed,
      allowToDeny: g.allowToDeny,
      denyToAllow: g.denyToAllow,
      notReplayable: g.notReplayable,
      changes: g.changes.map((c) => [c.id, c.was, c.now]),
    }));
    expect(summary).toEqual([
      {
        agent: 'other',
        action: 'payments.refund',
        replayed: 1,
        changed: 1,
        allowToDeny: 0,
        denyToAllow: 1,
        notReplayable: 0,
        changes: [[ids['otherRefund'], 'deny', 'allow']],
      },
      {
        agent: 'worker',
        action: 'hello-world.say_hello',
        replayed: 0,
        changed: 0,
        allowToDeny: 0,
        denyToAllow: 0,
        notReplayable: 1,
        changes: [],
      },
      {
        agent: 'worker',
        action: 'payments.refund',
        replayed: 3,
        changed: 1,
        allowToDeny: 1,
        denyToAllow: 0,
        notReplayable: 0,
        changes: [[ids['refund500'], 'allow', 'deny']],
      },
      {
        agent: 'worker',
        action: 'tool.read',
        replayed: 2,
        changed: 1,
        allowToDeny: 1,
        denyToAllow: 0,
        notReplayable: 0,
        changes: [[ids['readProd'], 'allow', 'deny']],
      },
    ]);
  });

  it('prints the same as a table for a person', async () => {
    const run = await replay(bundle);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      'changed 3, not replayable 1 (request data not kept or past its retention), denied before policy 2',
    );
    expect(run.stdout).toMatch(/worker\s+payments\.refund\s+3\s+1\s+1\s+0\s+0/);
    expect(run.stdout).toContain(`${ids['refund500']}`);
  });

  it('changes nothing when the candidates are the policies in force', async () => {
    const same = join(emulator.dataDir, 'same');
    await mkdir(same);
    await writeFile(join(same, 'refunds.cedar'), REFUNDS('worker', 1000));
    await writeFile(join(same, 'reads.cedar'), READS);
    await writeFile(
      join(same, 'hello.cedar'),
      'permit (principal == Agent::"worker", action == Action::"hello-world.say_hello", resource);\n',
    );
    const run = await zt(emulator, [
      'policies',
      'replay',
      '--bundle',
      bundle,
      '--policies',
      same,
      '--public-key',
      rootPem,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ replayed: 6, changed: 0, unchanged: 6 });
  });

  it('refuses a tampered bundle with the verifier finding', async () => {
    const tampered = join(emulator.dataDir, 'tampered-bundle');
    await cp(bundle, tampered, { recursive: true });
    const lane = join(tampered, 'lanes', 'main.jsonl');
    const lines = (await readFile(lane, 'utf8')).trimEnd().split('\n');
    const at = lines.findIndex((l) => l.includes(`"id":"${ids['refund500']}"`));
    lines[at] = (lines[at] as string).replace('"decision":"allow"', '"decision":"deny"');
    await writeFile(lane, `${lines.join('\n')}\n`);
    const run = await replay(tampered, []);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^zt: BUNDLE_INVALID: .*does not verify \(tampered\): [A-Z_]+: /);
    // With --json the refusal is one JSON error on stdout, and still exit 1.
    const json = await replay(tampered, ['--json']);
    expect(json.code).toBe(1);
    const error = (JSON.parse(json.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('BUNDLE_INVALID');
    expect(error.message).toMatch(/does not verify \(tampered\): [A-Z_]+: /);
  });

  it('refuses a bundle verified against another root key', async () => {
    const otherRoot = join(emulator.dataDir, 'other-root.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(otherRoot, publicKey.export({ type: 'spki', format: 'pem' }));
    const run = await zt(emulator, [
      'policies',
      'replay',
      '--bundle',
      bundle,
      '--policies',
      candidates,
      '--public-key',
      otherRoot,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^zt: BUNDLE_INVALID: /);
  });

  describe('when the request data is tampered with', () => {
    const tamper = async (name: string, edit: (entries: Array<Record<string, unknown>>) => void) => {
      const dir = join(emulator.dataDir, `tampered-${name}`);
      await cp(bundle, dir, { recursive: true });
      const file = join(dir, 'requests.jsonl');
      const entries = (await readFile(file, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      edit(entries);
      await writeFile(file, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      return replay(dir, []);
    };
    const entry = (entries: Array<Record<string, unknown>>, name: string) =>
      entries.find((e) => e['id'] === ids[name]) as Record<string, unknown>;

    it('refuses params that do not hash to the record (a refund made to look smaller)', async () => {
      const run = await tamper('params', (entries) => {
        entry(entries, 'refund500')['params'] = { amount: 50 };
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^zt: REQUEST_DATA_MISMATCH: the params kept for `main-\d+` hash to/);
    });

    it('refuses a context that does not hash to the record', async () => {
      const run = await tamper('context', (entries) => {
        entry(entries, 'readProd')['context'] = { environment: 'dev' };
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^zt: REQUEST_DATA_MISMATCH: the context kept for/);
    });

    it('refuses data moved to another record', async () => {
      const run = await tamper('moved', (entries) => {
        entry(entries, 'refund500')['id'] = ids['refund50'];
        entries.splice(entries.indexOf(entry(entries, 'refund50')), 1);
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^zt: REQUEST_DATA_MISMATCH: the request data of .* names record hash/);
    });

    it('refuses data for a record the bundle does not hold, and a line that is not request data', async () => {
      const unknown = await tamper('unknown', (entries) => {
        entries.push({ ...entry(entries, 'refund50'), id: 'main-999' });
      });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^zt: REQUEST_DATA_UNKNOWN_RECORD: /);
      const garbage = await tamper('garbage', (entries) => {
        entries.push({ id: ids['refund50'] });
      });
      expect(garbage.code).toBe(1);
      expect(garbage.stderr).toMatch(
        /^zt: REQUEST_DATA_INVALID: line 7 of requests\.jsonl has no string `record_hash`/,
      );
    });
  });

  it('refuses an invalid candidate policy and a missing root key', async () => {
    const bad = join(emulator.dataDir, 'bad-candidates');
    await mkdir(bad);
    await writeFile(
      join(bad, 'refunds.cedar'),
      'permit (principal, action == Action::"payments.refund", resource) when { context.params.currency == "EUR" };\n',
    );
    const run = await zt(emulator, [
      'policies',
      'replay',
      '--bundle',
      bundle,
      '--policies',
      bad,
      '--public-key',
      rootPem,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^zt: CANDIDATE_POLICY_INVALID: candidate policy `refunds\.cedar` is invalid at line 1/,
    );
    const noKey = await zt(emulator, ['policies', 'replay', '--bundle', bundle, '--policies', candidates]);
    expect(noKey.code).toBe(2);
  });
});

describe('when the gateway keeps no request data (the default)', () => {
  let emulator: TestEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator();
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('keeps nothing, and replay counts every decision as not replayable instead of guessing', async () => {
    const worker = await register(emulator, 'worker');
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: emulator.adminCredentials,
      body: { action: 'tool.read', agentId: 'worker' },
    });
    const answer = await send(emulator.url, 'POST', '/actions', {
      credentials: worker,
      body: { actor: 'worker', action: 'tool.read', params: { path: '/etc/secret' }, request_id: 'd-1' },
    });
    expect(answer.status).toBe(200);
    const page = await send(emulator.url, 'GET', '/audit?requests=true', {
      credentials: emulator.adminCredentials,
    });
    expect((page.body as { requests: unknown[] }).requests).toEqual([]);
    const bundle = join(emulator.dataDir, 'bundle');
    expect((await zt(emulator, ['audit', 'export', '--bundle', bundle, '--requests'])).code).toBe(0);
    expect(await readFile(join(bundle, 'requests.jsonl'), 'utf8')).toBe('');
    const candidates = join(emulator.dataDir, 'candidates');
    await mkdir(candidates);
    await writeFile(join(candidates, 'none.cedar'), 'forbid (principal, action, resource);\n');
    const run = await zt(emulator, [
      'policies',
      'replay',
      '--bundle',
      bundle,
      '--policies',
      candidates,
      '--public-key',
      await writeRootPem(emulator),
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decisions: 1, replayed: 0, changed: 0, notReplayable: 1 });
  });
});
