import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZtAudit } from '../../bin/audit/runZtAudit.js';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import { canonicalSha256 } from '../../core/model/canonical.js';
import type { AuditReport } from '../../core/verify/auditReport.js';
import { type Emulator, startEmulator } from '../../local/emulator.js';
import { GatewayClient, ZeroTrustClient, type ZeroTrustError } from '../../sdk/index.js';
import { validateResponse } from '../contract/openapiValidator.js';
import { ztAs } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

/**
 * Approvals end to end over real HTTP: the emulator with two approvers, the SDK as the agent, `zt approvals`
 * as the approvers, then `zt audit export --bundle` and `zt-audit verify` on the log it made.
 */

const AGENT = 'payments-bot';
const ACTION = 'payments.refund';
const PARAMS = { order: 'o-7', amount: 500 };

let emulator: Emulator;
let dir: string;
let rootPem: string;
let admin: GatewayClient;
let agentCredentials: { accessKeyId: string; secretAccessKey: string };
let zt: ZeroTrustClient;

/** `zt` in-process under `profile` (the admin's or an approver's), in the test's data dir. */
const cli = (argv: string[], profile: string) => ztAs(emulator, profile, argv, dir);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zt-approvals-e2e-'));
  emulator = await startEmulator({
    dataDir: dir,
    port: 0,
    inMemory: true,
    log: null,
    checkpoints: false,
    approvers: ['alice', 'bob'],
  });
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.admin });
  const registered = await admin.registerAgent({ agentId: AGENT });
  if (!registered.credentials) throw new Error('the emulator minted no credentials');
  agentCredentials = registered.credentials;
  await admin.putPolicy('refunds', {
    cedar: `@approval("two-person")\npermit (principal == Agent::"${AGENT}", action == Action::"${ACTION}", resource);`,
  });
  rootPem = (await localRootPublicKey(dir)).publicKeyPem;
  zt = new ZeroTrustClient({ endpoint: emulator.url, credentials: agentCredentials, trustedKeys: [rootPem] });
});

afterAll(async () => {
  await emulator?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('when an action needs two approvers', () => {
  it('answers a 403 with APPROVAL_REQUIRED and the approval id, as openapi.yaml documents it', async () => {
    const answer = await send(emulator.url, 'POST', '/actions', {
      credentials: agentCredentials,
      body: { actor: AGENT, action: ACTION, params: PARAMS, request_id: 'raw-1' },
    });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({
      ok: false,
      decision: 'approval_required',
      code: 'APPROVAL_REQUIRED',
      approvals_required: 2,
    });
    expect(validateResponse('POST', '/actions', 403, answer.body)).toEqual({ ok: true });
    // an agent cannot list or answer approvals
    const listed = await send(emulator.url, 'GET', '/approvals', { credentials: agentCredentials });
    expect(listed.status).toBe(403);
    expect((listed.body as { error: { code: string } }).error.code).toBe('NOT_AN_APPROVER');
  });

  it('fails closed in the SDK without waiting, and nothing runs', async () => {
    let ran = 0;
    const error = (await zt
      .guard({ actor: AGENT, action: ACTION, params: PARAMS }, () => {
        ran++;
      })
      .catch((e: unknown) => e)) as ZeroTrustError;
    expect(error.code).toBe('APPROVAL_REQUIRED');
    expect(error.approvalId).toMatch(/^main-\d+$/);
    expect(ran).toBe(0);
  });

  it('runs once a waiting guard is approved by two approvers through `zt approvals`, and the log verifies', async () => {
    let ran = 0;
    const before = new Set((await admin.listApprovals()).approvals.map((a) => a.approval_id));
    const waiting = zt.guard(
      { actor: AGENT, action: ACTION, params: PARAMS },
      () => {
        ran++;
        return 'refunded';
      },
      { waitForApproval: { timeoutMs: 30_000, pollMs: 100 } },
    );
    // the approvers find it in the list, with the request they approve
    type Listed = { approval_id: string; params_sha256: string; params: unknown };
    let pending: Listed | undefined;
    for (let i = 0; i < 200 && pending === undefined; i++) {
      const page = await cli(['approvals', 'list', '--json'], 'zt-approver-alice');
      expect(page.code, page.stderr).toBe(0);
      const body = JSON.parse(page.stdout) as { approvals: Listed[] };
      pending = body.approvals.find((a) => !before.has(a.approval_id));
      if (pending === undefined) await new Promise((r) => setTimeout(r, 50));
    }
    if (pending === undefined) throw new Error('the waiting request never showed up');
    expect(pending.params_sha256).toBe(canonicalSha256(PARAMS));
    expect(pending.params).toEqual(PARAMS);
    const listedRaw = await send(emulator.url, 'GET', '/approvals', {
      credentials: emulator.approvers[0] as { accessKeyId: string; secretAccessKey: string },
    });
    expect(validateResponse('GET', '/approvals', 200, listedRaw.body)).toEqual({ ok: true });

    const first = await cli(
      ['approvals', 'approve', pending.approval_id, '--params-sha256', pending.params_sha256],
      'zt-approver-alice',
    );
    expect(first.code, first.stderr).toBe(0);
    // alice again does not count twice: the CLI says the gateway refused
    const twice = await cli(
      ['approvals', 'approve', pending.approval_id, '--params-sha256', pending.params_sha256, '--json'],
      'zt-approver-alice',
    );
    expect(twice.code).toBe(1);
    // with --json, zt's error is one JSON document on stdout
    expect((JSON.parse(twice.stdout) as { error: { code: string } }).error.code).toBe('APPROVAL_DUPLICATE');
    const second = await send(emulator.url, 'POST', `/approvals/${pending.approval_id}/approve`, {
      credentials: emulator.approvers[1] as { accessKeyId: string; secretAccessKey: string },
      body: { params_sha256: pending.params_sha256 },
    });
    expect(second.status).toBe(200);
    expect(validateResponse('POST', '/approvals/{id}/approve', 200, second.body)).toEqual({ ok: true });

    expect(await waiting).toBe('refunded');
    expect(ran).toBe(1);

    // a second claim of the same approval is refused, over HTTP, with a code and no record
    const again = await send(emulator.url, 'POST', '/actions', {
      credentials: agentCredentials,
      body: {
        actor: AGENT,
        action: ACTION,
        params: PARAMS,
        approval_id: pending.approval_id,
        request_id: 'again-9',
      },
    });
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe('APPROVAL_ALREADY_CLAIMED');

    // an earlier request is rejected by bob through the CLI, then no claim of it is accepted
    const earlier = (await admin.listApprovals()).approvals[0];
    if (!earlier) throw new Error('the earlier request is not listed');
    const rejected = await cli(
      ['approvals', 'reject', earlier.approval_id, '--params-sha256', earlier.params_sha256],
      'zt-approver-bob',
    );
    expect(rejected.code, rejected.stderr).toBe(0);
    const claimRejected = await zt
      .waitForApproval({ actor: AGENT, action: ACTION, params: PARAMS }, earlier.approval_id, {
        timeoutMs: 0,
      })
      .catch((e: unknown) => e as ZeroTrustError);
    expect((claimRejected as ZeroTrustError).code).toBe('APPROVAL_REJECTED');

    // the whole log, approvals and claim included, verifies with the real CLIs
    const bundle = join(dir, 'bundle');
    const exported = await cli(['audit', 'export', '--bundle', bundle], emulator.adminProfile);
    expect(exported.code, exported.stderr).toBe(0);
    const pem = join(dir, 'root.pem');
    await writeFile(pem, rootPem);
    let stdout = '';
    const code = await runZtAudit(['verify', '--bundle', bundle, '--public-key', pem, '--json'], {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: () => undefined },
    });
    const report = JSON.parse(stdout) as AuditReport;
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
  });

  it('times out a waiting guard with APPROVAL_TIMEOUT when nobody approves, and nothing runs', async () => {
    let ran = 0;
    const error = (await zt
      .guard({ actor: AGENT, action: ACTION, params: { order: 'o-8', amount: 1 } }, () => ran++, {
        waitForApproval: { timeoutMs: 300, pollMs: 100 },
      })
      .catch((e: unknown) => e)) as ZeroTrustError;
    expect(error.code).toBe('APPROVAL_TIMEOUT');
    expect(ran).toBe(0);
  });
});
