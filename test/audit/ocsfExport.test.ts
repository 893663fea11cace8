import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import AjvModule, { type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamAudit } from '../../audit/exportAudit.js';
import { OcsfMappingError, toOcsfEvent } from '../../audit/ocsf.js';
import type { AuditRecord } from '../../core/model/records.js';
import type { GatewayClient } from '../../sdk/GatewayClient.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator, ztAsAdmin } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';
import { honestLaneLog } from '../helpers/laneLog.js';

// The vendored OCSF 1.8.0 schemas (see test/fixtures/ocsf-1.8.0/NOTICE).
const SCHEMA_DIR = join(import.meta.dirname, '..', 'fixtures', 'ocsf-1.8.0');
const Ajv = AjvModule.default ?? AjvModule;
const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
const load = (name: string) => JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.schema.json`), 'utf8'));
ajv.addSchema(load('objects'));
const BY_CLASS: Record<number, ValidateFunction> = {
  6003: ajv.compile(load('api_activity')),
  3001: ajv.compile(load('account_change')),
  3004: ajv.compile(load('entity_management')),
};

type OcsfEvent = Record<string, unknown> & {
  class_uid: number;
  metadata: { uid: string; sequence: number };
  unmapped: { zt: Record<string, unknown> };
  raw_data: string;
};

/** Validates an event against its class's schema; returns ajv's errors as text ('' when valid). */
function schemaErrors(event: Record<string, unknown>): string {
  const validate = BY_CLASS[event['class_uid'] as number];
  if (validate === undefined) return `no schema for class_uid ${String(event['class_uid'])}`;
  return validate(event) ? '' : ajv.errorsText(validate.errors);
}

describe('when the OCSF schemas are checked against themselves', () => {
  it('refuses an event that breaks the class (so the export test can fail)', () => {
    const record = {
      schema: 'zt.audit.v1',
      chain: 'main',
      seq: 3,
      id: 'main-3',
      kind: 'decision',
      timestamp: '2026-11-26T08:00:00.000Z',
      principal_arn: 'arn:aws:iam::000000000000:user/zt-agent-a',
      signing_key_id: `sha256:${'a'.repeat(64)}`,
      previous_hash: 'b'.repeat(64),
      current_hash: 'c'.repeat(64),
      kms_signature: { algorithm: 'ECDSA_SHA_256', key_id: `sha256:${'a'.repeat(64)}`, signature: 'AA==' },
      request_id: 'r-1',
      actor: 'a',
      action: 'tool.x',
      resource: '',
      context_sha256: 'd'.repeat(64),
      params_sha256: 'e'.repeat(64),
      decision: 'deny',
      reason: 'no policy permits `tool.x` for agent `a`',
      policy_ids: [],
      policy_set_sha256: 'f'.repeat(64),
      errors: [],
    } as AuditRecord;
    const good = toOcsfEvent(record, JSON.stringify(record));
    expect(schemaErrors(good)).toBe('');
    const broken: Array<[string, (e: Record<string, unknown>) => void]> = [
      ['no actor', (e) => delete e['actor']],
      ['type_uid not class*100+activity', (e) => (e['type_uid'] = 600301)],
      ['a wrong caption', (e) => (e['severity'] = 'High')],
      ['an attribute outside the class', (e) => (e['record_hash'] = 'c'.repeat(64))],
      [
        'a profile attribute without the profile',
        (e) => (e['metadata'] = { ...(e['metadata'] as object), profiles: [] }),
      ],
      ['an api without operation', (e) => (e['api'] = { service: { name: 'zt-infra' } })],
      ['time as text', (e) => (e['time'] = '2026-11-26T08:00:00.000Z')],
    ];
    for (const [what, breakIt] of broken) {
      const event = structuredClone(good);
      breakIt(event);
      expect(schemaErrors(event), what).not.toBe('');
    }
  });

  it('stops at a record kind it cannot map instead of dropping it', () => {
    const odd = { kind: 'witness', id: 'main-9' } as unknown as AuditRecord;
    expect(() => toOcsfEvent(odd, '{}')).toThrow(OcsfMappingError);
  });
});

describe('when a log made by the emulator is exported as OCSF', () => {
  let emulator: TestEmulator;
  let admin: AwsCredentials;
  let agent: AwsCredentials;
  let plain: string[];
  let events: OcsfEvent[];
  let stdoutEvents: string;

  const zt = (argv: string[]) => ztAsAdmin(emulator, argv);

  beforeAll(async () => {
    emulator = await startTestEmulator();
    admin = emulator.adminCredentials;
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    await send(emulator.url, 'PUT', '/schema', {
      credentials: admin,
      body: {
        declarations: {
          'payments.refund': {
            params: { type: 'Record', attributes: { amount: { type: 'Long' } } },
          },
        },
      },
    });
    await send(emulator.url, 'PUT', '/policies/refunds', {
      credentials: admin,
      body: {
        cedar:
          'permit (principal == Agent::"worker", action == Action::"payments.refund", resource) when { context.params.amount <= 100 };',
      },
    });
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    const allow = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: {
        actor: 'worker',
        action: 'payments.refund',
        resource: 'order-7',
        params: { amount: 5 },
        request_id: 'o-1',
      },
    });
    expect(allow.status).toBe(200);
    const id = (allow.body as { audit: { id: string } }).audit.id;
    for (const status of ['started', 'failed']) {
      const out = await send(emulator.url, 'POST', `/actions/${id}/outcome`, {
        credentials: agent,
        body: { status, ...(status === 'failed' ? { exit_code: 2 } : {}) },
      });
      expect(out.status, out.text).toBe(200);
    }
    const deny = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'payments.refund', params: { amount: 500 }, request_id: 'o-2' },
    });
    expect(deny.status).toBe(403);
    // An `@approval` permit holds a request; the admin (an approver) approves it: an approval record.
    await send(emulator.url, 'PUT', '/policies/held', {
      credentials: admin,
      body: {
        cedar:
          '@approval permit (principal == Agent::"worker", action == Action::"payments.payout", resource);',
      },
    });
    const held = await send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action: 'payments.payout', params: { amount: 1 }, request_id: 'o-3' },
    });
    const heldRecord = (held.body as { audit: { id: string; decision: string; params_sha256: string } })
      .audit;
    expect(heldRecord.decision).toBe('approval_required');
    const approved = await send(emulator.url, 'POST', `/approvals/${heldRecord.id}/approve`, {
      credentials: admin,
      body: { params_sha256: heldRecord.params_sha256 },
    });
    expect(approved.status, approved.text).toBe(200);
    await send(emulator.url, 'DELETE', '/policies/refunds', { credentials: admin });
    await send(emulator.url, 'DELETE', '/agents/worker', { credentials: admin });

    const out = join(emulator.dataDir, 'audit.jsonl');
    const ocsf = join(emulator.dataDir, 'audit.ocsf.jsonl');
    expect((await zt(['audit', 'export', '--out', out])).code).toBe(0);
    const exported = await zt(['audit', 'export', '--format', 'ocsf', '--out', ocsf]);
    expect(exported.code, exported.stderr).toBe(0);
    plain = (await readFile(out, 'utf8')).trimEnd().split('\n');
    events = (await readFile(ocsf, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as OcsfEvent);
    const piped = await zt(['audit', 'export', '--format', 'ocsf']);
    expect(piped.code, piped.stderr).toBe(0);
    stdoutEvents = piped.stdout;
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('writes one valid OCSF event per record, each against the schema of its class', () => {
    expect(events.length).toBe(plain.length);
    for (const event of events) expect(schemaErrors(event), event.metadata.uid).toBe('');
    // every kind the emulator wrote is covered, each by its class
    const classes = new Map(events.map((e) => [e.unmapped.zt['kind'], e.class_uid]));
    expect(Object.fromEntries(classes)).toEqual({
      key: 3004,
      agent: 3001,
      schema: 3004,
      policy: 3004,
      decision: 6003,
      outcome: 6003,
      approval: 6003,
    });
  });

  it('keeps the record id, seq, lane and hash, and the stored text, so each event traces to its signed record', () => {
    plain.forEach((line, i) => {
      const record = JSON.parse(line) as AuditRecord;
      const event = events[i] as OcsfEvent;
      expect(event.raw_data).toBe(line);
      expect(event.metadata.uid).toBe(record.id);
      expect(event.metadata.sequence).toBe(record.seq);
      expect(event.unmapped.zt).toMatchObject({
        chain: record.chain,
        seq: record.seq,
        current_hash: record.current_hash,
        previous_hash: record.previous_hash,
      });
      expect(event['time']).toBe(Date.parse(record.timestamp));
    });
  });

  it('maps allow and deny to the security control outcome and the agent change to a disable', () => {
    const decisions = events.filter((e) => e.unmapped.zt['kind'] === 'decision');
    // approval_required is no allow: blocked until claimed, its decision named in the authorization
    expect(decisions.map((d) => [d['action_id'], d['disposition_id'], d['status_id']])).toEqual([
      [1, 1, 1],
      [2, 2, 2],
      [2, 2, 2],
    ]);
    expect(decisions[2]).toMatchObject({ authorizations: [{ decision: 'approval_required' }] });
    expect(decisions[0]).toMatchObject({
      api: { operation: 'payments.refund', request: { uid: 'o-1' } },
      actor: { user: { name: 'worker' } },
      resources: [{ uid: 'order-7' }],
      authorizations: [{ decision: 'allow', policy: { uid: 'refunds' } }],
    });
    const outcomes = events.filter((e) => e.unmapped.zt['kind'] === 'outcome');
    expect(outcomes.map((o) => [o['status_id'], o['status_code']])).toEqual([
      [99, undefined],
      [2, '2'],
    ]);
    const agents = events.filter((e) => e.class_uid === 3001);
    expect(agents.map((a) => a['activity_id'])).toEqual([1, 5]);
    const policies = events.filter((e) => e.unmapped.zt['kind'] === 'policy');
    expect(policies.map((p) => p['type_uid'])).toEqual([300403, 300403, 300403, 300404]);
  });

  it('writes the same events to stdout without --out', () => {
    expect(
      stdoutEvents
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(events);
  });

  it('refuses an unknown format and a bundle in OCSF', async () => {
    expect((await zt(['audit', 'export', '--format', 'cef', '--out', 'x'])).code).toBe(2);
    expect((await zt(['audit', 'export', '--format', 'ocsf', '--bundle', 'x'])).code).toBe(2);
  });
});

describe('when a log of several lanes is exported as OCSF', () => {
  it('writes every record of every lane, lane after lane, each a valid event', async () => {
    const log = await honestLaneLog();
    const lanes = [...log.lanes.keys()].sort();
    // Only what streamAudit uses of a client: the epoch's lanes and each lane's pages.
    const client = {
      checkpoint: async () => ({ epoch: { lanes: lanes.map((lane) => ({ lane })) } }),
      auditPages: async function* ({ lane }: { lane: string }) {
        const lines = log.lanes.get(lane)?.lines ?? [];
        yield { records: lines.map((l) => JSON.parse(l)), rawRecords: lines, next: null };
      },
    } as unknown as GatewayClient;
    let text = '';
    const count = await streamAudit(client, (chunk) => (text += chunk), { format: 'ocsf' });
    const events = text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as OcsfEvent);
    const expected = lanes.flatMap((lane) => log.lanes.get(lane)?.lines ?? []);
    expect(count).toBe(expected.length);
    expect(events.map((e) => e.raw_data)).toEqual(expected);
    expect(new Set(events.map((e) => e.unmapped.zt['chain']))).toEqual(new Set(['main', 'w-1', 'w-2']));
    for (const event of events) expect(schemaErrors(event), event.metadata.uid).toBe('');
  });
});
