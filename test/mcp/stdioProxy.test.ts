import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import { canonicalSha256 } from '../../core/model/canonical.js';
import type { AuditRecord, DecisionRecord, OutcomeRecord } from '../../core/model/records.js';
import { GatewayClient } from '../../sdk/index.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { bundleMcpBinaries } from './bundles.js';
import { type RecordedCall, resultFor } from './fixtures/filesServer.js';

/**
 * `zt mcp-proxy` on stdio, end to end: the official SDK's `Client` spawns the real CLI (bundled), which
 * spawns a real SDK `Server` (the files server), against a real emulator over loopback.
 */

const AGENT = 'mcp-agent';
const PROFILE = `zt-agent-${AGENT}`;

let emulator: TestEmulator;
let admin: GatewayClient;
let bins: Awaited<ReturnType<typeof bundleMcpBinaries>>;
let dir: string;
let rootPemFile: string;
const clients: Client[] = [];

/** Every `tools/call` the files server received through one proxy. */
async function callsIn(file: string): Promise<RecordedCall[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RecordedCall);
}

async function audit(): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of admin.auditAll()) records.push(record);
  return records;
}

/** An MCP client connected through `zt mcp-proxy` (extra flags given) to a fresh files server. */
async function connect(
  extra: { endpoint?: string; credentialsFile?: string; flags?: string[] } = {},
): Promise<{ client: Client; calls: () => Promise<RecordedCall[]> }> {
  const callsFile = join(dir, `calls-${clients.length}.jsonl`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [
      bins.zt,
      'mcp-proxy',
      '--endpoint',
      extra.endpoint ?? emulator.url,
      '--profile',
      PROFILE,
      '--credentials-file',
      extra.credentialsFile ?? emulator.credentialsFile,
      '--public-key',
      rootPemFile,
      '--server',
      'files',
      '--timeout',
      '3000',
      ...(extra.flags ?? []),
      '--',
      process.execPath,
      bins.filesServer,
      callsFile,
    ],
    env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  await client.connect(transport);
  clients.push(client);
  return { client, calls: () => callsIn(callsFile) };
}

type ToolResult = {
  content: Array<{ type: string; text?: string }>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
};

/** What the proxy says in a refused call's result (`_meta['zt-infra/decision']`). */
function decisionMeta(result: ToolResult): { code?: string; record_id?: string; reason?: string } {
  return (result._meta?.['zt-infra/decision'] ?? {}) as {
    code?: string;
    record_id?: string;
    reason?: string;
  };
}

beforeAll(async () => {
  bins = await bundleMcpBinaries();
  dir = await mkdtemp(join(tmpdir(), 'zt-mcp-'));
  emulator = await startTestEmulator();
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  await admin.registerAgent({ agentId: AGENT });
  rootPemFile = join(dir, 'root.pem');
  await writeFile(rootPemFile, (await localRootPublicKey(emulator.dataDir)).publicKeyPem);
  await admin.allowPolicy({ action: 'mcp.files.read_file', agentId: AGENT });
  await admin.allowPolicy({ action: 'mcp.files.fail', agentId: AGENT });
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await emulator?.close();
  await bins?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('when the client lists the tools', () => {
  it('offers only the tools the agent may be allowed', async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['fail', 'read_file']);
  });
});

describe('when the client calls an allowed tool', () => {
  it("returns the server's result unchanged and chains the decision, started and the outcome with its digest", async () => {
    // Prepare
    const { client, calls } = await connect();
    const args = { path: '/tmp/notes.txt' };
    // Act
    const result = await client.callTool({ name: 'read_file', arguments: args });
    // Assess
    expect(result).toEqual(resultFor('read_file', args));
    expect(await calls()).toEqual([{ name: 'read_file', arguments: args }]);
    const records = await audit();
    const decision = records.findLast(
      (r): r is DecisionRecord => r.kind === 'decision' && r.action === 'mcp.files.read_file',
    );
    expect(decision).toMatchObject({ decision: 'allow', actor: AGENT, params_sha256: canonicalSha256(args) });
    const outcomes = records.filter(
      (r): r is OutcomeRecord => r.kind === 'outcome' && r.decision_id === decision?.id,
    );
    expect(outcomes.map((o) => [o.status, o.output_sha256])).toEqual([
      ['started', null],
      ['succeeded', canonicalSha256(resultFor('read_file', args))],
    ]);
  });

  it('chains `failed` when the tool answers with a tool error, and still returns that answer', async () => {
    const { client } = await connect();
    const result = await client.callTool({ name: 'fail', arguments: { reason: 'disk full' } });
    expect(result).toEqual(resultFor('fail', { reason: 'disk full' }));
    const records = await audit();
    const decision = records.findLast((r) => r.kind === 'decision' && r.action === 'mcp.files.fail');
    const final = records.findLast(
      (r): r is OutcomeRecord =>
        r.kind === 'outcome' && r.decision_id === decision?.id && r.status !== 'started',
    );
    expect(final).toMatchObject({ status: 'failed', exit_code: 1 });
  });
});

describe('when the client calls a tool the agent may not call', () => {
  it('answers a tool error with the reason and the record id, and the server never receives the call', async () => {
    // Prepare
    const { client, calls } = await connect();
    // Act
    const result = (await client.callTool({
      name: 'delete_file',
      arguments: { path: '/etc/passwd' },
    })) as ToolResult;
    // Assess
    expect(result.isError).toBe(true);
    const meta = decisionMeta(result);
    expect(meta.code).toBe('DENIED');
    const denied = (await audit()).find((r) => r.id === meta.record_id) as DecisionRecord;
    expect(denied).toMatchObject({ kind: 'decision', decision: 'deny', action: 'mcp.files.delete_file' });
    expect(result.content[0]?.text).toContain(denied.id);
    expect(result.content[0]?.text).toContain(denied.reason);
    expect(await calls()).toEqual([]);
  });
});

describe('when the gateway cannot be reached', () => {
  it('fails closed: a clear tool error result, no call reaches the server, and no tool is offered', async () => {
    // Prepare: a gateway address where nothing listens any more
    const gone = await startTestEmulator();
    const endpoint = gone.url;
    await gone.close();
    const { client, calls } = await connect({ endpoint });
    // Act
    const result = (await client.callTool({
      name: 'read_file',
      arguments: { path: '/tmp/x' },
    })) as ToolResult;
    const listing = await client.listTools().catch((e: unknown) => e);
    // Assess
    expect(result.isError).toBe(true);
    expect(decisionMeta(result).code).toBe('CONNECTION_FAILED');
    expect(result.content[0]?.text).toMatch(/could not get a verified allow.*the tool was not called/);
    expect(await calls()).toEqual([]);
    expect(listing).toBeInstanceOf(Error);
    expect((listing as Error).message).toContain('no tool is offered');
  });
});

describe('when the answers come from a gateway that does not hold the pinned root key', () => {
  it('refuses them (UNTRUSTED_KEY): the allowed call is not run and no tool is offered', async () => {
    // Prepare: another gateway, where the same agent name is allowed everything
    const forger = await startTestEmulator();
    try {
      const forgerAdmin = new GatewayClient({ endpoint: forger.url, credentials: forger.adminCredentials });
      await forgerAdmin.registerAgent({ agentId: AGENT });
      await forgerAdmin.putPolicy('everything', { cedar: 'permit(principal, action, resource);' });
      const { client, calls } = await connect({
        endpoint: forger.url,
        credentialsFile: forger.credentialsFile,
      });
      // Act
      const result = (await client.callTool({ name: 'delete_file', arguments: { path: '/' } })) as ToolResult;
      const listing = await client.listTools().catch((e: unknown) => e);
      // Assess
      expect(result.isError).toBe(true);
      expect(decisionMeta(result).code).toBe('UNTRUSTED_KEY');
      expect(await calls()).toEqual([]);
      expect((listing as Error).message).toContain('UNTRUSTED_KEY');
    } finally {
      await forger.close();
    }
  });
});
