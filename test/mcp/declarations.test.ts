import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localRootPublicKey } from '../../bin/cli/rootPublicKey.js';
import { parseDeclarations } from '../../core/model/declarations.js';
import { toolDeclarations } from '../../mcp/declarations.js';
import { GatewayClient } from '../../sdk/index.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { bundleMcpBinaries } from './bundles.js';
import { type RecordedCall, TOOLS } from './fixtures/filesServer.js';

const run = promisify(execFile);

describe('when tool input schemas are mapped to Cedar declarations', () => {
  it('maps strings, integers, booleans, string arrays and objects, with `required` kept', () => {
    const { declarations, skipped } = toolDeclarations('files', [
      {
        name: 'write_file',
        inputSchema: {
          type: 'object',
          properties: {
            path: { type: 'string' },
            mode: { type: 'integer' },
            force: { type: 'boolean' },
            tags: { type: 'array', items: { type: 'string' } },
            owner: { type: 'object', properties: { uid: { type: 'integer' } }, required: ['uid'] },
            level: { enum: ['low', 'high'] },
          },
          required: ['path'],
        },
      },
    ]);
    expect(skipped).toEqual([]);
    expect(declarations).toEqual({
      'mcp.files.write_file': {
        params: {
          type: 'Record',
          attributes: {
            path: { type: 'String' },
            mode: { type: 'Long', required: false },
            force: { type: 'Boolean', required: false },
            tags: { type: 'Set', element: { type: 'String' }, required: false },
            owner: {
              type: 'Record',
              attributes: { uid: { type: 'Long' } },
              required: false,
            },
            level: { type: 'String', required: false },
          },
        },
      },
    });
    // what `PUT /schema` accepts
    expect(() => parseDeclarations(declarations)).not.toThrow();
  });

  it.each([
    ['a number', { width: { type: 'number' } }, /`arguments.width` is a `number`/],
    ['a nullable type', { name: { type: ['string', 'null'] } }, /may be any of `string`, `null`/],
    ['anyOf', { id: { anyOf: [{ type: 'string' }, { type: 'integer' }] } }, /uses `anyOf`/],
    ['a map', { env: { type: 'object', additionalProperties: { type: 'string' } } }, /is a map/],
    ['a tuple', { point: { type: 'array', items: [{ type: 'integer' }] } }, /without one `items` schema/],
    ['a schema without a type', { anything: {} }, /has no `type`/],
    ['a $ref', { node: { $ref: '#/$defs/node' } }, /uses `\$ref`/],
  ])('leaves a tool with %s undeclared and says why', (_name, properties, reason) => {
    const result = toolDeclarations('s', [{ name: 't', inputSchema: { type: 'object', properties } }]);
    expect(result.declarations).toEqual({});
    expect(result.skipped).toHaveLength(1);
    expect(result.skipped[0]?.reason).toMatch(reason);
  });

  it('leaves a tool whose name cannot be an action id undeclared, and refuses a server name with a dot', () => {
    expect(
      toolDeclarations('s', [{ name: 'has space', inputSchema: { type: 'object' } }]).skipped,
    ).toHaveLength(1);
    expect(() => toolDeclarations('a.b', [])).toThrow(
      expect.objectContaining({ code: 'INVALID_SERVER_NAME' }),
    );
  });

  it('notes what the declarations do not check (lengths, bounds, order, extra arguments)', () => {
    const { notes } = toolDeclarations('files', TOOLS);
    const forWrite = notes.filter((n) => n.tool === 'write_file').map((n) => n.note);
    expect(forWrite).toEqual(
      expect.arrayContaining([
        expect.stringContaining('`arguments.path`: only its being a string is checked'),
        expect.stringContaining('`arguments.mode`: only its being an integer is checked'),
        expect.stringContaining('`arguments.tags`: a Cedar set'),
      ]),
    );
    // additionalProperties: false -> no note about extra arguments for write_file, one for read_file
    expect(forWrite.some((n) => n.includes('not in its `properties`'))).toBe(false);
    expect(notes.some((n) => n.tool === 'read_file' && n.note.includes('not in its `properties`'))).toBe(
      true,
    );
  });
});

describe('when the printed declarations are put and a policy reads the arguments', () => {
  const AGENT = 'decl-agent';
  let emulator: TestEmulator;
  let bins: Awaited<ReturnType<typeof bundleMcpBinaries>>;
  let dir: string;
  let client: Client;
  let callsFile: string;

  beforeAll(async () => {
    bins = await bundleMcpBinaries();
    dir = await mkdtemp(join(tmpdir(), 'zt-mcp-decl-'));
    emulator = await startTestEmulator();
    callsFile = join(dir, 'calls.jsonl');
    const admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
    await admin.registerAgent({ agentId: AGENT });
    // Act 1: the CLI prints the declarations of the real server's tools
    const printed = await run(
      process.execPath,
      [
        bins.zt,
        'mcp-proxy',
        '--server',
        'files',
        '--print-declarations',
        '--',
        process.execPath,
        bins.filesServer,
        callsFile,
      ],
      { env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' } },
    );
    const declarations = JSON.parse(printed.stdout) as Record<string, unknown>;
    expect(Object.keys(declarations).sort()).toEqual([
      'mcp.files.delete_file',
      'mcp.files.fail',
      'mcp.files.read_file',
      'mcp.files.write_file',
    ]);
    expect(printed.stderr).toContain('not declared: `resize`');
    await admin.putSchema({ declarations });
    await admin.putPolicy('tmp-only', {
      cedar: `permit(principal == Agent::"${AGENT}", action == Action::"mcp.files.write_file", resource)
when { context.params.path like "/tmp/*" && !(context.params has mode) };`,
    });
    const pem = join(dir, 'root.pem');
    await writeFile(pem, (await localRootPublicKey(emulator.dataDir)).publicKeyPem);
    const env: Record<string, string> = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] ??= v;
    client = new Client({ name: 'decl-client', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [
          bins.zt,
          'mcp-proxy',
          '--endpoint',
          emulator.url,
          '--profile',
          `zt-agent-${AGENT}`,
          '--credentials-file',
          emulator.credentialsFile,
          '--public-key',
          pem,
          '--server',
          'files',
          '--',
          process.execPath,
          bins.filesServer,
          callsFile,
        ],
        env,
        stderr: 'pipe',
      }),
    );
  });

  afterAll(async () => {
    await client?.close();
    await emulator?.close();
    await bins?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the call whose arguments the policy permits and denies the others before the server sees them', async () => {
    const allowed = await client.callTool({
      name: 'write_file',
      arguments: { path: '/tmp/a', content: 'x' },
    });
    const outside = await client.callTool({
      name: 'write_file',
      arguments: { path: '/etc/a', content: 'x' },
    });
    const withMode = await client.callTool({
      name: 'write_file',
      arguments: { path: '/tmp/b', content: 'x', mode: 420 },
    });
    const undeclared = await client.callTool({
      name: 'write_file',
      arguments: { path: '/tmp/c', content: 'x', owner: 'root' },
    });
    expect(allowed.isError).toBeUndefined();
    expect([outside.isError, withMode.isError, undeclared.isError]).toEqual([true, true, true]);
    const calls = (await readFile(callsFile, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as RecordedCall);
    expect(calls).toEqual([{ name: 'write_file', arguments: { path: '/tmp/a', content: 'x' } }]);
  });
});
