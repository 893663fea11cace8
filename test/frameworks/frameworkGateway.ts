import { createServer } from 'node:net';
import { expect } from 'vitest';
import { canonicalSha256 } from '../../core/model/canonical.js';
import type { AuditRecord, DecisionRecord, OutcomeRecord } from '../../core/model/records.js';
import { GatewayClient, ZeroTrustClient } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

/**
 * The gateway the framework tests run against: a real emulator on loopback, one agent, and three tools'
 * policies. `lookup_order` is allowed; `send_email` is allowed only to `ops@example.com` (its params are
 * declared, so the policy reads the model's arguments); `refund` has no policy, so it is denied.
 */
export const ACTOR = 'support-bot';
export const ALLOWED_RECIPIENT = 'ops@example.com';

export interface FrameworkGateway {
  emulator: TestEmulator;
  admin: GatewayClient;
  /** The agent's client, with the emulator's root key pinned. */
  client: ZeroTrustClient;
  credentials: AwsCredentials;
  close(): Promise<void>;
}

export async function startFrameworkGateway(): Promise<FrameworkGateway> {
  const emulator = await startTestEmulator();
  const admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  const registered = await admin.registerAgent({ agentId: ACTOR });
  if (!registered.credentials) throw new Error('the emulator minted no credentials');
  await admin.putSchema({
    declarations: {
      'tool.send_email': {
        params: {
          type: 'Record',
          attributes: { to: { type: 'String' }, body: { type: 'String' } },
        },
      },
    },
  });
  await admin.allowPolicy({ action: 'tool.lookup_order', agentId: ACTOR });
  await admin.allowPolicy({ action: 'tool.send_email', agentId: ACTOR, params: { to: ALLOWED_RECIPIENT } });
  const client = new ZeroTrustClient({
    endpoint: emulator.url,
    credentials: registered.credentials,
    trustedKeys: [emulator.parts.keys.root.publicKeyPem],
  });
  return { emulator, admin, client, credentials: registered.credentials, close: () => emulator.close() };
}

/**
 * A client of a gateway that is down: the same agent credentials and pinned root key, at a loopback port
 * that was just free (bound, then closed), so every request is refused.
 */
export async function downGatewayClient(gw: FrameworkGateway): Promise<ZeroTrustClient> {
  const port = await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const free = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(free));
    });
  });
  return new ZeroTrustClient({
    endpoint: `http://127.0.0.1:${port}`,
    credentials: gw.credentials,
    trustedKeys: [gw.emulator.parts.keys.root.publicKeyPem],
    retries: 1,
    retryBaseDelayMs: 10,
  });
}

/** A client of the real gateway whose every answer arrives `delayMs` late (the gateway is slow). */
export function slowGatewayClient(gw: FrameworkGateway, delayMs: number): ZeroTrustClient {
  return new ZeroTrustClient({
    endpoint: gw.emulator.url,
    credentials: gw.credentials,
    trustedKeys: [gw.emulator.parts.keys.root.publicKeyPem],
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return response;
    },
  });
}

/**
 * Waits (at most ~5 s) until the allow of `action` for `params` has a final outcome in the chain: a guard
 * the framework stopped waiting for goes on in the background.
 */
export async function waitForFinalOutcome(
  gw: FrameworkGateway,
  action: string,
  params: unknown,
): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const log = await auditLog(gw);
    const allow = decisionsOf(log, action).find(
      (d) => d.decision === 'allow' && d.params_sha256 === canonicalSha256(params),
    );
    if (allow && outcomesOf(log, allow.id).some((o) => o.status !== 'started')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every record of the log, read as admin through `GET /audit`. */
export async function auditLog(gw: FrameworkGateway): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of gw.admin.auditAll()) records.push(record);
  return records;
}

/** The decision records of `action`, in chain order. */
export function decisionsOf(log: AuditRecord[], action: string): DecisionRecord[] {
  return log.filter((r): r is DecisionRecord => r.kind === 'decision' && r.action === action);
}

/** The outcome records of the decision `decisionId`, in chain order. */
export function outcomesOf(log: AuditRecord[], decisionId: string): OutcomeRecord[] {
  return log.filter((r): r is OutcomeRecord => r.kind === 'outcome' && r.decision_id === decisionId);
}

/**
 * Asserts that `recordId` is a signed deny of `action` for exactly `params`, chained, and that nothing was
 * claimed under it (no outcome record).
 */
export async function expectDeniedInChain(
  gw: FrameworkGateway,
  recordId: string | null,
  action: string,
  params: unknown,
): Promise<DecisionRecord> {
  const log = await auditLog(gw);
  const record = log.find((r) => r.id === recordId);
  expect(record).toMatchObject({
    kind: 'decision',
    action,
    actor: ACTOR,
    decision: 'deny',
    params_sha256: canonicalSha256(params),
  });
  expect(outcomesOf(log, recordId as string)).toEqual([]);
  return record as DecisionRecord;
}

/**
 * Asserts that `action` was allowed exactly once for `params`, and that the allow is followed in the chain
 * by its `started` claim and then its final outcome (`succeeded` with the digest of `output`, or `failed`).
 */
export async function expectRanOnceInChain(
  gw: FrameworkGateway,
  action: string,
  params: unknown,
  final: { status: 'succeeded'; output: unknown } | { status: 'failed' },
): Promise<void> {
  const log = await auditLog(gw);
  const allows = decisionsOf(log, action).filter(
    (r) => r.decision === 'allow' && r.params_sha256 === canonicalSha256(params),
  );
  expect(allows).toHaveLength(1);
  const allow = allows[0] as DecisionRecord;
  const outcomes = outcomesOf(log, allow.id);
  expect(outcomes.map((o) => o.status)).toEqual(['started', final.status]);
  const [started, finished] = outcomes as [OutcomeRecord, OutcomeRecord];
  expect(started.chain).toBe(allow.chain);
  expect(allow.seq).toBeLessThan(started.seq);
  expect(started.seq).toBeLessThan(finished.seq);
  if (final.status === 'succeeded') {
    expect(finished).toMatchObject({ exit_code: 0, output_sha256: canonicalSha256(final.output) });
  } else {
    expect(finished).toMatchObject({ exit_code: 1, output_sha256: null });
  }
}
