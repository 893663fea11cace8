import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import { canonicalSha256 } from '../../core/model/canonical.js';
import type { AuditRecord, DecisionRecord, OutcomeRecord } from '../../core/model/records.js';
import { startHttpProxy } from '../../mcp/httpProxy.js';
import { GatewayClient, ZeroTrustClient } from '../../sdk/index.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { bundleMcpBinaries } from './bundles.js';
import { type RecordedCall, resultFor, startFilesHttpServer } from './fixtures/filesServer.js';

/**
 * `zt mcp-proxy --listen 127.0.0.1:0 --upstream URL`, end to end over Streamable HTTP: the official SDK's
 * client talks to the real CLI (bundled, a child process), which talks to a real SDK server over HTTP,
 * against a real emulator; loopback only.
 */

const AGENT = 'mcp-http-agent';

let emulator: TestEmulator;
let admin: GatewayClient;
let bins: Awaited<ReturnType<typeof bundleMcpBinaries>>;
let dir: string;
let rootPemFile: string;
let upstream: Awaited<ReturnType<typeof startFilesHttpServer>>;
const received: RecordedCall[] = [];
const children: ChildProcess[] = [];
const clients: Client[] = [];

interface RunningProxy {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Starts `zt mcp-proxy --listen 127.0.0.1:0` and waits (at most 20 s) for the address it prints. */
async function startProxy(endpoint = emulator.url): Promise<RunningProxy> {
  const child = spawn(
    process.execPath,
    [
      bins.zt,
      'mcp-proxy',
      '--listen',
      '127.0.0.1:0',
      '--upstream',
      upstream.url,
      '--endpoint',
      endpoint,
      '--profile',
      `zt-agent-${AGENT}`,
      '--credentials-file',
      emulator.credentialsFile,
      '--public-key',
      rootPemFile,
      '--server',
      'files',
      '--timeout',
      '3000',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    },
  );
  children.push(child);
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the proxy did not start: ${stderr}`)), 20_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    void exited.then((code) => reject(new Error(`the proxy exited (${code}): ${stderr}`)));
  });
  return { url, child, exited };
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'test-http-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(client);
  return client;
}

async function audit(): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for await (const record of admin.auditAll()) records.push(record);
  return records;
}

type ToolResult = { content: Array<{ text?: string }>; isError?: boolean; _meta?: Record<string, unknown> };
const codeOf = (result: ToolResult) =>
  ((result._meta?.['zt-infra/decision'] ?? {}) as { code?: string }).code;

let proxy: RunningProxy;
let agentCredentials: AwsCredentials;

beforeAll(async () => {
  bins = await bundleMcpBinaries();
  dir = await mkdtemp(join(tmpdir(), 'zt-mcp-http-'));
  emulator = await startTestEmulator();
  admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
  agentCredentials = (await admin.registerAgent({ agentId: AGENT })).credentials as AwsCredentials;
  await admin.allowPolicy({ action: 'mcp.files.read_file', agentId: AGENT });
  rootPemFile = join(dir, 'root.pem');
  await writeFile(rootPemFile, (await localRootPublicKey(emulator.dataDir)).publicKeyPem);
  upstream = await startFilesHttpServer((call) => received.push(call));
  proxy = await startProxy();
});

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await upstream?.close();
  await emulator?.close();
  await bins?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('when an MCP client uses the proxy over Streamable HTTP', () => {
  it('offers only the tools the agent may be allowed', async () => {
    const client = await connect(proxy.url);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['read_file']);
  });

  it("returns an allowed call's result unchanged and chains its outcome", async () => {
    const client = await connect(proxy.url);
    const args = { path: '/srv/data.csv' };
    const result = await client.callTool({ name: 'read_file', arguments: args });
    expect(result).toEqual(resultFor('read_file', args));
    expect(received).toContainEqual({ name: 'read_file', arguments: args });
    const records = await audit();
    const decision = records.findLast(
      (r): r is DecisionRecord => r.kind === 'decision' && r.action === 'mcp.files.read_file',
    );
    const final = records.findLast(
      (r): r is OutcomeRecord =>
        r.kind === 'outcome' && r.decision_id === decision?.id && r.status !== 'started',
    );
    expect(final).toMatchObject({ status: 'succeeded', output_sha256: canonicalSha256(result) });
  });

  it('answers a denied call with a tool error and the server never receives it', async () => {
    const client = await connect(proxy.url);
    const result = (await client.callTool({
      name: 'delete_file',
      arguments: { path: '/srv' },
    })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(codeOf(result)).toBe('DENIED');
    expect(received.some((c) => c.name === 'delete_file')).toBe(false);
  });

  it('refuses a request addressed to another host name (DNS rebinding) or from a web origin', async () => {
    const port = new URL(proxy.url).port;
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const { request } = await import('node:http');
    const status = (extra: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...headers, ...extra } },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    // the same request addressed to the proxy gets past the check (to the MCP layer, which wants an initialize)
    expect(await status({})).toBe(400);
    expect(await status({ host: `attacker.example:${port}` })).toBe(403);
    expect(await status({ origin: 'http://attacker.example' })).toBe(403);
  });

  it('fails closed when the gateway is down: a tool error result, and nothing reaches the server', async () => {
    const gone = await startTestEmulator();
    const endpoint = gone.url;
    await gone.close();
    const down = await startProxy(endpoint);
    const client = await connect(down.url);
    const before = received.length;
    const result = (await client.callTool({ name: 'read_file', arguments: { path: '/x' } })) as ToolResult;
    expect(result.isError).toBe(true);
    expect(codeOf(result)).toBe('CONNECTION_FAILED');
    expect(received.length).toBe(before);
  });

  it('stops cleanly on SIGTERM', async () => {
    proxy.child.kill('SIGTERM');
    expect(await proxy.exited).toBe(0);
  });
});

describe('when sessions are left behind or too many', () => {
  it('closes a session its client left without ending it, and refuses sessions beyond the bound', async () => {
    // Prepare: the proxy in this process, one session at most, idle after 100 ms
    const zt = new ZeroTrustClient({
      endpoint: emulator.url,
      credentials: agentCredentials,
      trustedKeys: [await readPem()],
    });
    const local = await startHttpProxy({
      zt,
      actor: AGENT,
      server: 'files',
      upstream: { url: upstream.url },
      listen: '127.0.0.1:0',
      maxSessions: 1,
      idleMs: 100,
    });
    try {
      const first = new Client({ name: 'first', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(local.url));
      await first.connect(transport);
      const sessionId = transport.sessionId as string;
      // Act 1: a second session while the first is open
      const second = await connect(local.url).catch((e: unknown) => e);
      // Assess 1
      expect(second).toBeInstanceOf(Error);
      // Act 2: the first client goes away without DELETE; the proxy closes its session once idle
      await first.close();
      let status = 0;
      // each probe is a request of that session, so probes are spaced well beyond the idle time
      for (let i = 0; i < 25 && status !== 404; i++) {
        await new Promise((r) => setTimeout(r, 400));
        status = (
          await fetch(local.url, {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              'mcp-session-id': sessionId,
            },
            body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
          })
        ).status;
      }
      // Assess 2: gone, and room for a new session
      expect(status).toBe(404);
      const third = await connect(local.url);
      expect((await third.listTools()).tools.map((t) => t.name)).toEqual(['read_file']);
    } finally {
      await local.close();
    }
  });
});

async function readPem(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(rootPemFile, 'utf8');
}
