import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import type { AuditRecord, OutcomeRecord } from '../../core/model/records.js';
import { McpProxySession } from '../../mcp/McpProxySession.js';
import { GatewayClient, ZeroTrustClient } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import type { FetchLike } from '../../sdk/transport.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { filesServer, type RecordedCall } from './fixtures/filesServer.js';

/**
 * `McpProxySession` in one process (in-memory transports, the official SDK's Client and Server, a real
 * emulator): the edges a client or a server can create mid-call.
 */

const AGENT = 'session-agent';
let emulator: TestEmulator;
let admin: GatewayClient;
let credentials: AwsCredentials;
let rootPem: string;

async function audit(): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of admin.auditAll()) records.push(record);
  return records;
}

/** Polls the log (at most 10 s) until the final outcome of the newest decision of `action` appears. */
async function finalOutcomeOf(action: string): Promise<OutcomeRecord | undefined> {
  for (let i = 0; i < 100; i++) {
    const records = await audit();
    const decision = records.findLast((r) => r.kind === 'decision' && r.action === action);
    const final = records.find(
      (r): r is OutcomeRecord =>
        r.kind === 'outcome' && r.decision_id === decision?.id && r.status !== 'started',
    );
    if (final) return final;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** A client and a server joined through a session; `fetch` lets a test hold the gateway's answers. */
async function wire(server: Server, fetch?: FetchLike) {
  const [clientSide, proxyDown] = InMemoryTransport.createLinkedPair();
  const [proxyUp, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const zt = new ZeroTrustClient({
    endpoint: emulator.url,
    credentials,
    trustedKeys: [rootPem],
    ...(fetch ? { fetch } : {}),
  });
  const session = new McpProxySession(proxyDown, proxyUp, { zt, actor: AGENT, server: 'files' });
  await session.start();
  const client = new Client({ name: 'session-test', version: '1.0.0' });
  await client.connect(clientSide);
  return { client, session, serverSide };
}

beforeAll(async () => {
  emulator = await startTestEmulator();
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  const registered = await admin.registerAgent({ agentId: AGENT });
  credentials = registered.credentials as AwsCredentials;
  rootPem = (await localRootPublicKey(emulator.dataDir)).publicKeyPem;
  await admin.allowPolicy({ action: 'mcp.files.read_file', agentId: AGENT });
  await admin.allowPolicy({ action: 'mcp.files.hang', agentId: AGENT });
});

afterAll(async () => {
  await emulator?.close();
});

describe('when the client cancels a call while it is being decided', () => {
  it('never forwards it, and chains that the claimed allow failed', async () => {
    // Prepare: hold the decision until the client has cancelled
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let decisions = 0;
    const holding: FetchLike = async (input, init) => {
      if (String(input).endsWith('/actions')) {
        decisions++;
        await held;
      }
      return fetch(input, init);
    };
    const received: RecordedCall[] = [];
    const { client, session } = await wire(
      filesServer((c) => received.push(c)),
      holding,
    );
    const abort = new AbortController();
    // Act
    const call = client.callTool({ name: 'read_file', arguments: { path: '/tmp/x' } }, undefined, {
      signal: abort.signal,
    });
    for (let i = 0; i < 100 && decisions === 0; i++) await new Promise((r) => setTimeout(r, 20));
    abort.abort('changed my mind');
    await expect(call).rejects.toThrow();
    release();
    // Assess
    expect((await finalOutcomeOf('mcp.files.read_file'))?.status).toBe('failed');
    expect(received).toEqual([]);
    await session.close();
  });
});

describe('when the server goes away during an allowed call', () => {
  it('chains `failed` for it before the session is closed', async () => {
    // Prepare: a server whose `hang` never answers
    const server = new Server({ name: 'hang', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: [] }));
    let started!: () => void;
    const reached = new Promise<void>((resolve) => {
      started = resolve;
    });
    server.setRequestHandler(CallToolRequestSchema, () => {
      started();
      return new Promise(() => {});
    });
    const { client, session, serverSide } = await wire(server);
    // Act
    const call = client.callTool({ name: 'hang', arguments: {} }).catch((e: unknown) => e);
    await reached;
    await serverSide.close();
    await session.closed;
    // Assess
    expect(await call).toBeInstanceOf(Error);
    const final = await finalOutcomeOf('mcp.files.hang');
    expect(final).toMatchObject({ status: 'failed', exit_code: 1, output_sha256: null });
  });
});
