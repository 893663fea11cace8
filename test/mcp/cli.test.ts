import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZt } from '../../bin/cli/runZt.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { parseListenAddress } from '../../mcp/httpProxy.js';

/** `zt mcp-proxy`'s command line: what it refuses before anything starts (exit 2, one line on stderr). */

let dir: string;
let pem: string;

async function zt(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runZt(args, {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env: {},
    cwd: dir,
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zt-mcp-cli-'));
  pem = join(dir, 'root.pem');
  await writeFile(pem, InMemoryP256Signer.generate().publicKeyPem);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const base = () => ['mcp-proxy', '--profile', 'zt-agent-a1', '--public-key', pem];

describe('when `zt mcp-proxy` is given a command line it cannot run', () => {
  it.each([
    ['no --server', () => [...base(), '--', 'node', 'server.js'], /`--server NAME` is required/],
    ['a server name with a dot', () => [...base(), '--server', 'a.b', '--', 'node'], /INVALID_SERVER_NAME/],
    [
      'no --public-key',
      () => ['mcp-proxy', '--profile', 'zt-agent-a1', '--server', 's', '--', 'node'],
      /--public-key FILE` is required/,
    ],
    [
      'a key file without a key',
      () => [...base().slice(0, 3), '--public-key', dir, '--server', 's', '--', 'node'],
      /cannot read|holds no/,
    ],
    ['no server at all', () => [...base(), '--server', 's'], /one of them/],
    [
      'a command and --upstream',
      () => [...base(), '--server', 's', '--upstream', 'http://127.0.0.1:1/mcp', '--', 'node'],
      /one of them/,
    ],
    [
      'the command before `--`',
      () => [...base(), '--server', 's', 'node', 'server.js'],
      /put the server's command after `--`/,
    ],
    [
      'no agent',
      () => ['mcp-proxy', '--public-key', pem, '--server', 's', '--', 'node'],
      /`--agent ID` is required/,
    ],
    [
      'a non-loopback --listen',
      () => [...base(), '--server', 's', '--listen', '0.0.0.0:8931', '--', 'node'],
      /INVALID_LISTEN_ADDRESS/,
    ],
  ])('exits 2 for %s', async (_name, args, message) => {
    const result = await zt(args());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('prints its usage with --help, and is listed in the main usage', async () => {
    const help = await zt(['mcp-proxy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: zt mcp-proxy --server NAME --public-key FILE');
    expect((await zt(['--help'])).stdout).toContain('mcp-proxy --server NAME');
  });
});

describe('when the server command cannot be started', () => {
  it('exits 1 with MCP_SERVER_UNAVAILABLE and writes nothing on the MCP channel', async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let written = '';
    stdout.on('data', (chunk: Buffer) => {
      written += chunk.toString();
    });
    let stderr = '';
    const code = await runZt([...base(), '--server', 's', '--', join(dir, 'no-such-server')], {
      stdout,
      stderr: { write: (t: string) => (stderr += t) },
      stdin,
      env: {},
      cwd: dir,
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(/MCP_SERVER_UNAVAILABLE/);
    expect(written).toBe('');
  });
});

describe('when a listen address is read', () => {
  it('accepts loopback addresses only', () => {
    expect(parseListenAddress('127.0.0.1:8931')).toEqual({ host: '127.0.0.1', port: 8931 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('localhost:1')).toEqual({ host: 'localhost', port: 1 });
    for (const bad of [
      '0.0.0.0:1',
      '10.0.0.1:1',
      '127.0.0.300:1',
      '[::]:1',
      'example.com:1',
      '127.0.0.1:70000',
      '127.0.0.1',
    ]) {
      expect(() => parseListenAddress(bad), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_LISTEN_ADDRESS' }),
      );
    }
  });
});
