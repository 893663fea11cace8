import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import { BrokerError } from '../../brokers/BrokerError.js';
import { Broker, type BrokerBackend } from '../../brokers/contract.js';
import { canonicalSha256 } from '../../core/model/canonical.js';
import { DECISION_META_KEY, McpProxySession } from '../../mcp/McpProxySession.js';
import { runGuardedTool } from '../../sdk/frameworks/toolGuard.js';
import { GatewayClient, ZeroTrustClient, type ZeroTrustError } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import type { FetchLike } from '../../sdk/transport.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { filesServer, type RecordedCall } from '../mcp/fixtures/filesServer.js';

/**
 * `approval_required` is never an allow on any client path: the SDK, a broker, a framework guard and the MCP
 * proxy each refuse it with a code and run nothing (issue 11). A real emulator whose only permit asks for
 * approval.
 */

const AGENT = 'needs-approval';
let emulator: TestEmulator;
let credentials: AwsCredentials;
let rootPem: string;

const client = (fetch?: FetchLike) =>
  new ZeroTrustClient({
    endpoint: emulator.url,
    credentials,
    trustedKeys: [rootPem],
    ...(fetch ? { fetch } : {}),
  });

beforeAll(async () => {
  emulator = await startTestEmulator();
  const admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  credentials = (await admin.registerAgent({ agentId: AGENT })).credentials as AwsCredentials;
  rootPem = (await localRootPublicKey(emulator.dataDir)).publicKeyPem;
  await admin.putPolicy('everything-approved', {
    cedar: `@approval\npermit (principal == Agent::"${AGENT}", action, resource);`,
  });
});

afterAll(async () => {
  await emulator?.close();
});

describe('when the gateway answers approval_required', () => {
  it('is refused by the SDK as RECORD_MISMATCH when someone turns its 403 into a 200', async () => {
    const promoted: FetchLike = async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/actions') || res.status !== 403) return res;
      return new Response(await res.text(), { status: 200, headers: res.headers });
    };
    let ran = 0;
    const error = (await client(promoted)
      .guard({ actor: AGENT, action: 'billing.refund', params: { amount: 5 } }, () => ran++)
      .catch((e: unknown) => e)) as ZeroTrustError;
    expect(error.code).toBe('RECORD_MISMATCH');
    expect(ran).toBe(0);
  });

  it('never runs a broker backend: DECISION_FAILED carrying APPROVAL_REQUIRED', async () => {
    let executed = 0;
    const backend: BrokerBackend<{ cmd: string }> = {
      name: 'test',
      validate: (input) => ({ cmd: String((input as { cmd: string }).cmd) }),
      execute: async () => {
        executed++;
        return {
          exitCode: 0,
          timedOut: false,
          stdout: Buffer.alloc(0),
          stderr: Buffer.alloc(0),
          stdoutSha256: canonicalSha256(''),
        };
      },
    };
    const broker = new Broker(backend, { client: client(), actor: AGENT, action: 'broker.test.run' });
    const error = await broker.run({ cmd: 'rm -rf /' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error).toMatchObject({ code: 'DECISION_FAILED', zeroTrustCode: 'APPROVAL_REQUIRED' });
    expect(executed).toBe(0);
  });

  it('never runs a framework tool: a denial with code APPROVAL_REQUIRED naming the approval', async () => {
    let ran = 0;
    const result = await runGuardedTool(
      client(),
      { actor: AGENT },
      'send_email',
      { to: 'x@example.com' },
      () => ran++,
    );
    expect(result.ran).toBe(false);
    if (result.ran) return;
    expect(result.denial).toMatchObject({
      code: 'APPROVAL_REQUIRED',
      record_id: expect.stringMatching(/^main-\d+$/),
    });
    expect(result.denial.reason).toContain(result.denial.record_id as string);
    expect(ran).toBe(0);
  });

  it('never forwards an MCP tool call: a tool error with code APPROVAL_REQUIRED, the server sees nothing', async () => {
    const [clientSide, proxyDown] = InMemoryTransport.createLinkedPair();
    const [proxyUp, serverSide] = InMemoryTransport.createLinkedPair();
    const received: RecordedCall[] = [];
    await filesServer((c) => received.push(c)).connect(serverSide);
    const session = new McpProxySession(proxyDown, proxyUp, { zt: client(), actor: AGENT, server: 'files' });
    await session.start();
    const mcp = new Client({ name: 'approval-test', version: '1.0.0' });
    await mcp.connect(clientSide);
    const answer = await mcp.callTool({ name: 'read_file', arguments: { path: '/etc/shadow' } });
    expect(answer.isError).toBe(true);
    expect((answer._meta as Record<string, unknown>)[DECISION_META_KEY]).toMatchObject({
      decision: 'none',
      code: 'APPROVAL_REQUIRED',
      approval_id: expect.stringMatching(/^main-\d+$/),
    });
    expect(received).toEqual([]);
    await session.close();
  });
});
