import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZt } from '../../bin/cli/runZt.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { ZeroTrustClient } from '../../sdk/index.js';

const ADMIN_KEY = 'AKIDZTADMIN0000';
const AGENT_KEY = 'AKIDZTAGENT0001';
const CREDENTIALS_FILE_TEXT = `[zt-admin]
aws_access_key_id = ${ADMIN_KEY}
aws_secret_access_key = admin-secret-value

[zt-agent-a1]
aws_access_key_id = ${AGENT_KEY}
aws_secret_access_key = agent-secret-value
`;

// Records as a gateway would store and serve them (canonical text), with escapes a re-serialization would change.
const RECORDS = [1, 2, 3, 4, 5].map(
  (seq) => `{"chain":"main","id":"main-${seq}","kind":"agent","note":"caf\\u00e9 \\/ ${seq}","seq":${seq}}`,
);
// A second lane, exported after main.
const W1_RECORD = '{"chain":"w-1","id":"w-1-1","kind":"agent","seq":1}';
const ROOT_B64 = Buffer.alloc(32, 1).toString('base64');
const LOG_CHECKPOINT = {
  origin: 'zt-infra/main',
  size: 5,
  root: ROOT_B64,
  note: 'n\n',
  epoch: {
    origin: 'zt-infra',
    epoch: 1,
    time: '2026-11-26T08:00:00.000Z',
    lanes: [
      { lane: 'main', size: 5, root: ROOT_B64 },
      { lane: 'w-1', size: 1, root: ROOT_B64 },
    ],
    note: 'e\n',
  },
  checkpoints: [],
};
const AUDIT_PAGES: Record<string, string> = {
  '': `{"records":[${RECORDS[0]},${RECORDS[1]}],"next":2}`,
  '2': `{"records": [ ${RECORDS[2]} ,\n ${RECORDS[3]} ], "next": 4}`,
  '4': `{"next":null,"records":[${RECORDS[4]}]}`,
};

/** The stub gateway's root key, listed by `GET /keys`. */
const STUB_ROOT = InMemoryP256Signer.generate();

interface Seen {
  method: string;
  url: string;
  authorization: string;
  body: string;
}

let server: Server;
let endpoint: string;
let dir: string;
let credentialsFile: string;
const seen: Seen[] = [];

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function stub(req: IncomingMessage, res: ServerResponse, body: string) {
  const url = new URL(req.url ?? '/', 'http://stub');
  const flaky = url.pathname.startsWith('/flaky/');
  if (flaky) url.pathname = url.pathname.slice('/flaky'.length);
  // `/lying/...`: a listing whose root key is not the key its id names.
  const lying = url.pathname.startsWith('/lying/');
  if (lying) url.pathname = url.pathname.slice('/lying'.length);
  const authorization = req.headers.authorization ?? '';
  seen.push({ method: req.method ?? '', url: req.url ?? '', authorization, body });
  if (url.pathname === '/health') return json(res, 200, { ok: true });
  const isAdmin = authorization.startsWith(`AWS4-HMAC-SHA256 Credential=${ADMIN_KEY}/`);
  const isAgent = authorization.startsWith(`AWS4-HMAC-SHA256 Credential=${AGENT_KEY}/`);
  if (!(isAdmin || isAgent) || req.headers['x-amz-date'] === undefined) {
    return json(res, 403, {
      ok: false,
      error: { code: 'SIGNATURE_INVALID', message: 'the request is not signed' },
    });
  }
  if (!isAdmin) {
    return json(res, 403, {
      ok: false,
      error: { code: 'FORBIDDEN', message: 'only admins may use `GET /agents`, the caller is agent `a1`' },
    });
  }
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /agents':
      return json(res, 200, {
        agents: [
          { agentId: 'a1', principalArn: 'arn:aws:iam::000000000000:user/zt-agent-a1', status: 'active' },
          { agentId: 'ops.bot', principalArn: 'arn:aws:iam::123456789012:role/ops', status: 'disabled' },
        ],
      });
    case 'POST /agents':
      return json(res, 201, {
        agentId: 'a2',
        principalArn: 'arn:aws:iam::000000000000:user/zt-agent-a2',
        credentials: { accessKeyId: 'AKIDNEWAGENT', secretAccessKey: 'minted-secret' },
      });
    case 'GET /keys':
      return json(res, 200, {
        keys: [
          {
            keyId: lying ? InMemoryP256Signer.generate().keyId : STUB_ROOT.keyId,
            role: 'root',
            publicKeyPem: STUB_ROOT.publicKeyPem,
          },
        ],
      });
    case 'PUT /policies/p%201':
      return json(res, 200, { policyId: 'p 1', sha256: 'ab'.repeat(32) });
    case 'PUT /policies/bad':
      return json(res, 400, {
        ok: false,
        error: {
          code: 'POLICY_INVALID',
          message: 'the Cedar text does not parse',
          details: { diagnostics: [{ message: 'unexpected token `permitt`', line: 1, column: 1 }] },
        },
      });
    case 'GET /audit/checkpoint':
      return json(res, 200, LOG_CHECKPOINT);
    case 'GET /audit': {
      if (url.searchParams.get('lane') === 'w-1') {
        return res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(`{"records":[${W1_RECORD}],"next":null}`);
      }
      if (flaky && url.searchParams.has('after')) {
        return json(res, 500, {
          ok: false,
          error: { code: 'INTERNAL', message: 'internal error', trace_id: 't-9' },
        });
      }
      const page = AUDIT_PAGES[url.searchParams.get('after') ?? ''];
      if (page === undefined)
        return json(res, 500, { ok: false, error: { code: 'INTERNAL', message: 'no page' } });
      res.writeHead(200, { 'content-type': 'application/json' }).end(page);
      return;
    }
    default:
      return json(res, 404, { ok: false, error: { code: 'NOT_FOUND', message: `no route \`${route}\`` } });
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'zt-cli-'));
  credentialsFile = join(dir, 'aws-credentials');
  await writeFile(credentialsFile, CREDENTIALS_FILE_TEXT, { mode: 0o600 });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => stub(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** Runs `zt` in-process against the stub, with the test credentials file. */
async function zt(
  args: string[],
  options: { env?: Record<string, string>; tty?: boolean; cwd?: string } = {},
) {
  let stdout = '';
  let stderr = '';
  const code = await runZt(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: options.tty ?? false },
    env: { ZT_ENDPOINT: endpoint, AWS_SHARED_CREDENTIALS_FILE: credentialsFile, ...options.env },
    cwd: options.cwd ?? dir,
  });
  return { code, stdout, stderr };
}

describe('zt', () => {
  describe('when the command line is wrong', () => {
    it.each([
      [[]],
      [['frobnicate']],
      [['agents']],
      [['agents', 'get']],
      [['agents', 'list', '--bogus']],
      [['agents', 'list', '--out', 'x']],
      [['audit', 'export']],
    ])('exits 2 with usage for %j', async (args) => {
      // Act
      const { code, stdout, stderr } = await zt(args);
      // Assess
      expect(code).toBe(2);
      expect(stderr).toMatch(/^zt: /);
      expect(stderr).toContain('usage: zt');
      expect(stdout).toBe('');
    });
  });

  describe('when asked for help', () => {
    it.each([[['--help']], [['agents', '--help']], [['policies', 'put', '-h']], [['health', '--help']]])(
      'prints usage and exits 0 for %j',
      async (args) => {
        const { code, stdout } = await zt(args);
        expect(code).toBe(0);
        expect(stdout).toContain('usage: zt');
      },
    );
  });

  describe('when listing agents with --json', () => {
    it('signs with the profile key and prints the JSON', async () => {
      // Act
      const { code, stdout } = await zt(['agents', 'list', '--json']);
      // Assess
      expect(code).toBe(0);
      expect(JSON.parse(stdout).agents.map((a: { agentId: string }) => a.agentId)).toEqual(['a1', 'ops.bot']);
      expect(seen.at(-1)?.authorization).toMatch(
        new RegExp(`^AWS4-HMAC-SHA256 Credential=${ADMIN_KEY}/\\d{8}/us-east-1/execute-api/aws4_request, `),
      );
    });
  });

  describe('when listing agents for humans', () => {
    it('prints a table', async () => {
      const { code, stdout } = await zt(['agents', 'list']);
      expect(code).toBe(0);
      expect(stdout.split('\n')[0]).toMatch(/^AGENT\s+PRINCIPAL\s+STATUS\s+CREATED$/);
      expect(stdout).toMatch(/ops\.bot\s+arn:aws:iam::123456789012:role\/ops\s+disabled/);
    });
  });

  describe('when the gateway refuses with 403', () => {
    it('exits 1 and prints the server code and message', async () => {
      // Act: an agent profile on an admin route
      const { code, stderr } = await zt(['agents', 'list', '--profile', 'zt-agent-a1']);
      // Assess
      expect(code).toBe(1);
      expect(stderr).toBe('zt: FORBIDDEN: only admins may use `GET /agents`, the caller is agent `a1`\n');
    });
  });

  describe('when the gateway cannot be reached', () => {
    it('exits 3', async () => {
      // Prepare: a port nothing listens on
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));
      // Act
      const { code, stderr } = await zt(['agents', 'list', '--endpoint', `http://127.0.0.1:${port}`]);
      // Assess
      expect(code).toBe(3);
      expect(stderr).toMatch(/^zt: CONNECTION_FAILED: /);
    });
  });

  describe('when the credentials profile does not exist', () => {
    it('exits 3 with a message naming the profile and the file, without calling the gateway', async () => {
      // Prepare
      const before = seen.length;
      // Act
      const { code, stderr } = await zt(['agents', 'list', '--profile', 'nobody']);
      // Assess
      expect(code).toBe(3);
      expect(stderr).toContain('zt: CREDENTIALS_UNAVAILABLE: no credentials for profile `nobody`');
      expect(stderr).toContain(credentialsFile);
      expect(seen.length).toBe(before);
    });
  });

  describe('when exporting the audit log', () => {
    it('pages through every page of every lane and writes each record exactly as served, one per line', async () => {
      // Prepare
      const out = join(dir, 'export', 'audit.jsonl');
      await rm(join(dir, 'export'), { recursive: true, force: true });
      await mkdir(join(dir, 'export'));
      const before = seen.length;
      // Act
      const { code, stdout, stderr } = await zt(['audit', 'export', '--out', out], { tty: true });
      // Assess
      expect(code).toBe(0);
      expect(await readFile(out, 'utf8')).toBe([...RECORDS, W1_RECORD].map((r) => `${r}\n`).join(''));
      expect(await readdir(join(dir, 'export'))).toEqual(['audit.jsonl']);
      expect(seen.slice(before).map((s) => s.url)).toEqual([
        '/audit/checkpoint',
        '/audit?lane=main',
        '/audit?lane=main&after=2',
        '/audit?lane=main&after=4',
        '/audit?lane=w-1',
      ]);
      expect(stdout).toBe(`exported 6 records to ${out}\n`);
      expect(stderr).toContain('exported 6 records');
    });

    it('leaves no file under the final name when a page fails', async () => {
      // Prepare: under `/flaky` the first page is served, the second fails
      const out = join(dir, 'broken', 'audit.jsonl');
      await mkdir(join(dir, 'broken'));
      // Act
      const { code, stderr } = await zt(['audit', 'export', '--out', out, '--page-size', '2'], {
        env: { ZT_ENDPOINT: `${endpoint}/flaky` },
      });
      // Assess
      expect(code).toBe(1);
      expect(stderr).toBe('zt: INTERNAL: internal error (trace id t-9)\n');
      expect(await readdir(join(dir, 'broken'))).toEqual([]);
    });
  });

  describe('when registering an agent', () => {
    it('sends the attributes and prints the minted credentials once with where the profile is', async () => {
      // Prepare
      const before = seen.length;
      // Act
      const { code, stdout } = await zt([
        'agents',
        'register',
        'a2',
        '--attr',
        'team=ops',
        '--attr',
        'env=dev',
      ]);
      // Assess
      expect(code).toBe(0);
      expect(JSON.parse(seen[before]!.body)).toEqual({
        agentId: 'a2',
        attributes: { team: 'ops', env: 'dev' },
      });
      expect(stdout.match(/minted-secret/g)).toHaveLength(1);
      expect(stdout).toContain('zt-agent-a2');
    });
  });

  describe('when putting a policy from a file', () => {
    it('sends the Cedar text to the escaped policy path', async () => {
      // Prepare
      const cedar = 'permit(principal, action == Action::"x", resource);\n';
      await writeFile(join(dir, 'p.cedar'), cedar);
      const before = seen.length;
      // Act
      const { code, stdout } = await zt([
        'policies',
        'put',
        'p 1',
        '--file',
        'p.cedar',
        '--description',
        'd',
      ]);
      // Assess
      expect(code).toBe(0);
      expect(seen[before]).toMatchObject({ method: 'PUT', url: '/policies/p%201' });
      expect(JSON.parse(seen[before]!.body)).toEqual({ cedar, description: 'd' });
      expect(stdout).toContain('stored policy `p 1`');
    });
  });

  describe('when the gateway rejects a policy', () => {
    it('exits 1 and prints the Cedar diagnostics with line and column', async () => {
      // Prepare
      await writeFile(join(dir, 'bad.cedar'), 'permitt(principal, action, resource);');
      // Act
      const { code, stderr } = await zt(['policies', 'put', 'bad', '--file', 'bad.cedar']);
      // Assess
      expect(code).toBe(1);
      expect(stderr).toBe(
        'zt: POLICY_INVALID: the Cedar text does not parse\n  1:1: unexpected token `permitt`\n',
      );
    });
  });

  describe('when no credentials file is configured but ./.zt/aws-credentials exists', () => {
    it('uses it and says so with --verbose', async () => {
      // Prepare
      const cwd = await mkdtemp(join(tmpdir(), 'zt-cwd-'));
      await mkdir(join(cwd, '.zt'));
      await writeFile(join(cwd, '.zt', 'aws-credentials'), CREDENTIALS_FILE_TEXT);
      // Act
      const { code, stderr } = await zt(['agents', 'list', '--verbose'], {
        cwd,
        env: { AWS_SHARED_CREDENTIALS_FILE: '' },
      });
      // Assess
      expect(code).toBe(0);
      expect(stderr).toContain(join(cwd, '.zt', 'aws-credentials'));
      await rm(cwd, { recursive: true, force: true });
    });
  });

  describe('when printing the root public key to pin (keys --root-pem)', () => {
    it('reads the local key file of the data dir, without asking the gateway, in a form the SDK pins', async () => {
      // Prepare: a data dir as the emulator leaves it (ZT_DATA_DIR), and one at the default ./.zt
      const root = InMemoryP256Signer.generate();
      const dataDir = await mkdtemp(join(tmpdir(), 'zt-data-'));
      await writeFile(join(dataDir, 'signing-key.pem'), root.exportPrivateKeyPem(), { mode: 0o600 });
      const cwd = await mkdtemp(join(tmpdir(), 'zt-cwd-'));
      await mkdir(join(cwd, '.zt'));
      await writeFile(join(cwd, '.zt', 'signing-key.pem'), root.exportPrivateKeyPem(), { mode: 0o600 });
      const before = seen.length;
      // Act
      const fromEnv = await zt(['keys', '--root-pem'], { env: { ZT_DATA_DIR: dataDir } });
      const fromDefault = await zt(['keys', '--root-pem'], { cwd });
      const asJson = await zt(['keys', '--root-pem', '--json'], { env: { ZT_DATA_DIR: dataDir } });
      // Assess
      expect(fromEnv).toEqual({ code: 0, stdout: root.publicKeyPem, stderr: '' });
      expect(fromDefault).toEqual({ code: 0, stdout: root.publicKeyPem, stderr: '' });
      expect(JSON.parse(asJson.stdout)).toMatchObject({ source: 'local', keyId: root.keyId });
      expect(seen.length).toBe(before);
      const pinned = new ZeroTrustClient({
        endpoint,
        credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
        trustedKeys: [fromEnv.stdout],
      });
      expect(pinned.endpoint).toBe(endpoint);
      await rm(dataDir, { recursive: true, force: true });
      await rm(cwd, { recursive: true, force: true });
    });

    it('takes it from GET /keys with --remote or --endpoint, and warns on stderr to compare it out of band', async () => {
      // Act
      const remote = await zt(['keys', '--root-pem', '--remote']);
      const byEndpoint = await zt(['keys', '--root-pem', '--endpoint', endpoint]);
      // Assess
      for (const result of [remote, byEndpoint]) {
        expect(result.code).toBe(0);
        expect(result.stdout).toBe(STUB_ROOT.publicKeyPem);
        expect(result.stderr).toMatch(/^zt: warning: /);
        expect(result.stderr).toContain(STUB_ROOT.keyId);
        expect(result.stderr).toContain('out of band');
      }
    });

    it('exits 2 when the data dir holds no key file, and 1 when the listing lies about its root key id', async () => {
      // Prepare
      const empty = await mkdtemp(join(tmpdir(), 'zt-empty-'));
      // Act
      const missing = await zt(['keys', '--root-pem'], { env: { ZT_DATA_DIR: empty } });
      const lying = await zt(['keys', '--root-pem', '--remote'], {
        env: { ZT_ENDPOINT: `${endpoint}/lying` },
      });
      const stray = await zt(['keys', '--remote']);
      // Assess
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('ENOENT');
      expect(missing.stdout).toBe('');
      expect(lying.code).toBe(1);
      expect(lying.stderr).toMatch(/INVALID_RESPONSE/);
      expect(lying.stdout).toBe('');
      expect(stray.code).toBe(2);
      await rm(empty, { recursive: true, force: true });
    });
  });
});
