import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../sdk/GatewayClient.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';

/**
 * The CLIs as people run them: `zt`, `zt-audit` and `zt-local` bundled from bin/ (as the package builds
 * them, dependencies left as imports) and run as child processes against a real emulator over loopback.
 */

const root = join(import.meta.dirname, '..', '..');
const VERSION = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

let emulator: TestEmulator;
let work: string;
let bundleDir: string;
let rootPem: string;
let forgedPem: string;
let agentKeys: { accessKeyId: string; secretAccessKey: string };
const bins: Record<'zt' | 'zt-audit' | 'zt-local', string> = { zt: '', 'zt-audit': '', 'zt-local': '' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ZT_ENDPOINT: emulator.url,
    ZT_DATA_DIR: emulator.dataDir,
    AWS_SHARED_CREDENTIALS_FILE: emulator.credentialsFile,
    AWS_PROFILE: '',
    ...extra,
  };
}

/** Runs a bundled CLI to its end (at most 30 s). */
function run(bin: keyof typeof bins, args: string[], extra: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bins[bin], ...args], { cwd: work, env: env(extra) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const zt = (...args: string[]) => run('zt', args);

beforeAll(async () => {
  bundleDir = join(root, 'node_modules', '.cache', 'zt-test-cli', randomUUID());
  for (const name of Object.keys(bins) as Array<keyof typeof bins>) {
    bins[name] = join(bundleDir, `${name}.mjs`);
    await build({
      entryPoints: [join(root, 'bin', `${name}.ts`)],
      outfile: bins[name],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
  }
  emulator = await startTestEmulator();
  work = await mkdtemp(join(tmpdir(), 'zt-cli-e2e-'));
  rootPem = join(work, 'root.pem');
  const pem = await zt('keys', '--root-pem');
  expect(pem.code).toBe(0);
  await writeFile(rootPem, pem.stdout);
  forgedPem = join(work, 'forged.pem');
  await writeFile(
    forgedPem,
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }),
  );
  const registered = await zt('agents', 'register', 'ci', '--json');
  expect(registered.code).toBe(0);
  agentKeys = (JSON.parse(registered.stdout) as { credentials: typeof agentKeys }).credentials;
  expect((await zt('policies', 'allow', '--action', 'hello.say', '--agent', 'ci')).code).toBe(0);
}, 120_000);

afterAll(async () => {
  await emulator?.close();
  if (work) await rm(work, { recursive: true, force: true });
  if (bundleDir) await rm(bundleDir, { recursive: true, force: true });
});

describe('when an agent asks from the shell (zt decide)', () => {
  it('prints a verified allow with its reason, policies and record, and exits 0', async () => {
    const { code, stdout } = await zt('decide', 'hello.say', '--as', 'zt-agent-ci', '--public-key', rootPem);

    expect(code).toBe(0);
    expect(stdout).toMatch(/^allow: permitted by policy `allow-hello\.say-ci/);
    expect(stdout).toMatch(/policies {2}allow-hello\.say-ci/);
    expect(stdout).toMatch(/record {4}\S+-\d+ \(lane \S+, seq \d+\)/);
    expect(stdout).toContain('verified  yes');
  });

  it('exits 4 on a deny, and --json prints the answer (the agent learned from the credentials)', async () => {
    const { code, stdout } = await zt(
      'decide',
      'other.act',
      '--as',
      'zt-agent-ci',
      '--params',
      '{"n":1}',
      '--public-key',
      rootPem,
      '--json',
    );

    expect(code).toBe(4);
    const answer = JSON.parse(stdout) as Record<string, unknown>;
    expect(answer).toMatchObject({
      decision: 'deny',
      reason: 'no policy permits `other.act` for agent `ci`',
      policy_ids: [],
      actor: 'ci',
      verified: true,
    });
    expect(answer['record_id']).toBe(`${answer['lane']}-${answer['seq']}`);
  });

  it('records a deny when --actor names another agent than the credentials', async () => {
    const { code, stdout } = await zt(
      'decide',
      'hello.say',
      '--as',
      'zt-agent-ci',
      '--actor',
      'someone-else',
      '--public-key',
      rootPem,
      '--json',
    );

    expect(code).toBe(4);
    expect(JSON.parse(stdout)).toMatchObject({
      decision: 'deny',
      reason: 'actor does not match the authenticated principal',
      actor: 'someone-else',
    });
  });

  it('fails closed (exit 5, no decision printed) when the answer does not chain to the --public-key given', async () => {
    const human = await zt('decide', 'hello.say', '--as', 'zt-agent-ci', '--public-key', forgedPem);
    const json = await zt('decide', 'hello.say', '--as', 'zt-agent-ci', '--public-key', forgedPem, '--json');

    expect(human.code).toBe(5);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(/^zt: (UNTRUSTED_KEY|SIGNATURE_INVALID): the answer was not believed/);
    expect(json.code).toBe(5);
    expect((JSON.parse(json.stdout) as { error: { code: string } }).error.code).toMatch(
      /^(UNTRUSTED_KEY|SIGNATURE_INVALID)$/,
    );
  });

  it('refuses a --public-key file that holds no key (exit 2) before asking anything', async () => {
    await writeFile(join(work, 'not-a-key.pem'), 'hello');

    const { code, stderr } = await zt(
      'decide',
      'hello.say',
      '--as',
      'zt-agent-ci',
      '--public-key',
      'not-a-key.pem',
    );

    expect(code).toBe(2);
    expect(stderr).toMatch(/^zt: PUBLIC_KEY_UNUSABLE: /);
  });

  it('says on stderr that the signature is not checked without --public-key', async () => {
    const { code, stdout, stderr } = await zt('decide', 'hello.say', '--as', 'zt-agent-ci');

    expect(code).toBe(0);
    expect(stdout).toContain('verified  no (no --public-key)');
    expect(stderr).toContain('zt: warning: no --public-key');
  });

  it('is a usage error (exit 2) without --as', async () => {
    const { code, stderr } = await zt('decide', 'hello.say');

    expect(code).toBe(2);
    expect(stderr).toContain('usage: zt decide ACTION --as PROFILE');
  });
});

describe('when a narrow policy is written for an agent (zt policies allow)', () => {
  it('refuses an unregistered agent unless --allow-unregistered, and writes nothing', async () => {
    const refused = await zt('policies', 'allow', '--action', 'x.y', '--agent', 'ghost');
    const listed = await zt('policies', 'list', '--json');
    const forced = await zt(
      'policies',
      'allow',
      '--action',
      'x.y',
      '--agent',
      'ghost',
      '--allow-unregistered',
    );

    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^zt: AGENT_NOT_REGISTERED: agent `ghost` is not registered/);
    expect(listed.stdout).not.toContain('ghost');
    expect(forced.code).toBe(0);
  });

  it('refuses to permit every agent unless --all-agents says so', async () => {
    const refused = await zt('policies', 'allow', '--action', 'every.one');
    const both = await zt('policies', 'allow', '--action', 'every.one', '--agent', 'ci', '--all-agents');
    const asked = await zt('policies', 'allow', '--action', 'every.one', '--all-agents');

    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('`--all-agents`');
    expect(both.code).toBe(2);
    expect(asked.code).toBe(0);
  });
});

describe('when the CLIs are used as scripts use them', () => {
  it('prints the package version with --version', async () => {
    const results = await Promise.all([
      run('zt', ['--version']),
      run('zt-audit', ['--version']),
      run('zt-local', ['--version']),
    ]);

    expect(results.map((r) => [r.code, r.stdout])).toEqual([
      [0, `zt ${VERSION}\n`],
      [0, `zt-audit ${VERSION}\n`],
      [0, `zt-local ${VERSION}\n`],
    ]);
  });

  it('prints errors as JSON with --json, carrying the server code and message', async () => {
    const missing = await zt('agents', 'get', 'nobody', '--json');
    const usage = await zt('agents', 'list', '--bogus', '--json');

    expect(missing.code).toBe(1);
    const error = (JSON.parse(missing.stdout) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toContain('nobody');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({
      error: { code: 'USAGE', message: expect.stringContaining('--bogus') },
    });
  });

  it("shows the failing command's usage on a usage error, not the whole help", async () => {
    const zt1 = await zt('agents', 'list', '--bogus');
    const audit = await run('zt-audit', ['prove', '--bogus']);
    const local = await run('zt-local', ['--bogus']);

    expect(zt1.code).toBe(2);
    expect(zt1.stderr).toContain('usage: zt agents list [global options]');
    expect(zt1.stderr).not.toContain('commands:');
    expect(audit.code).toBe(2);
    expect(audit.stderr).toContain('usage: zt-audit prove');
    expect(audit.stderr).not.toContain('zt-audit verify-receipt');
    expect(local.code).toBe(2);
    expect(local.stderr).not.toContain('Starts the zt-infra emulator');
    for (const r of [zt1, audit, local]) expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('names a credentials file that does not exist (exit 3)', async () => {
    const path = join(work, 'no-such-dir', 'credentials');

    const { code, stderr } = await run('zt', ['agents', 'list'], { AWS_SHARED_CREDENTIALS_FILE: path });

    expect(code).toBe(3);
    expect(stderr).toContain(`CREDENTIALS_FILE_MISSING: the credentials file \`${path}\` does not exist`);
  });
});

describe('when policies are tested offline (zt policies test, validate)', () => {
  const SCHEMA = {
    'payments.refund': { params: { type: 'Record', attributes: { amount: { type: 'Long' } } } },
  };
  const REFUND =
    'permit(principal == Agent::"ci", action == Action::"payments.refund", resource)\nwhen { context.params.amount <= 100 };\n';
  let policyDir: string;

  beforeAll(async () => {
    policyDir = join(work, 'policies');
    await mkdir(policyDir);
    await writeFile(join(policyDir, 'refund.cedar'), REFUND);
    await writeFile(join(work, 'schema.json'), JSON.stringify(SCHEMA));
    expect((await zt('schema', 'put', 'schema.json')).code).toBe(0);
    expect((await zt('policies', 'put', 'refund', '--file', 'policies/refund.cedar')).code).toBe(0);
  });

  it('decides as the gateway does: the gateway answers become passing expectations', async () => {
    // Prepare: what the gateway decides for an allow, a plain deny and params that do not fit
    const cases = [{ amount: 5 }, { amount: 500 }, { amount: '5' }];
    const tests: unknown[] = [];
    for (const params of cases) {
      const asked = await zt(
        'decide',
        'payments.refund',
        '--as',
        'zt-agent-ci',
        '--params',
        JSON.stringify(params),
        '--public-key',
        rootPem,
        '--json',
      );
      const answer = JSON.parse(asked.stdout) as { decision: string; reason: string; policy_ids: string[] };
      tests.push({
        agent: 'ci',
        action: 'payments.refund',
        params,
        expect: answer.decision,
        reason: answer.reason,
        policies: answer.policy_ids,
      });
    }
    await writeFile(join(work, 'gateway.json'), JSON.stringify({ tests }));
    // Act
    const { code, stdout } = await zt(
      'policies',
      'test',
      'gateway.json',
      '--policies',
      'policies',
      '--schema',
      'schema.json',
    );
    // Assess
    expect(tests.map((t) => (t as { expect: string }).expect)).toEqual(['allow', 'deny', 'deny']);
    expect((tests[2] as { reason: string }).reason).toMatch(/does not fit the shape declared/);
    expect(code).toBe(0);
    expect(stdout).toContain('3 passed, 0 failed');
  });

  it('shows expected vs got on a failure and exits 1', async () => {
    await writeFile(
      join(work, 'failing.yaml'),
      'tests:\n  - name: big refund\n    agent: ci\n    action: payments.refund\n    params: {amount: 500}\n    expect: allow\n',
    );

    const { code, stdout } = await zt(
      'policies',
      'test',
      'failing.yaml',
      '--policies',
      'policies',
      '--schema',
      'schema.json',
    );

    expect(code).toBe(1);
    expect(stdout).toContain('FAIL  failing.yaml: test 1 (`big refund`)');
    expect(stdout).toContain('expected  allow');
    expect(stdout).toContain('got       deny: no policy permits `payments.refund` for agent `ci`');
    expect(stdout).toContain('0 passed, 1 failed');
  });

  it('exits 2 naming the file and the entry for a malformed request', async () => {
    await writeFile(
      join(work, 'malformed.yaml'),
      '- {agent: ci, action: payments.refund, expect: deny}\n- {agent: ci, action: "not an action!", expect: deny}\n',
    );

    const { code, stdout, stderr } = await zt(
      'policies',
      'test',
      'malformed.yaml',
      '--policies',
      'policies',
      '--schema',
      'schema.json',
    );

    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^zt: INVALID_TEST_ENTRY: malformed\.yaml: test 2: .*`action`/);
  });

  it('validates a folder offline with line and column, as the gateway does at write time', async () => {
    const dir = join(work, 'broken');
    await mkdir(dir);
    await writeFile(join(dir, 'refund.cedar'), REFUND);
    await writeFile(
      join(dir, 'typo.cedar'),
      'permit(principal, action, resource)\nwhen { context.params.amount <= 100 };\n',
    );

    const withSchema = await zt('policies', 'validate', 'broken', '--schema', 'schema.json');
    const gateway = await zt('policies', 'put', 'typo', '--file', 'broken/typo.cedar');

    expect(withSchema.code).toBe(1);
    expect(withSchema.stdout).toMatch(/^broken\/typo\.cedar:2:\d+: /m);
    expect(withSchema.stdout).toContain('1 of 2 policies valid');
    expect(gateway.code).toBe(1); // the gateway refuses it too
    expect((await zt('policies', 'validate', 'policies', '--schema', 'schema.json')).code).toBe(0);
  });
});

describe('when the audit log is tailed (zt audit tail)', () => {
  it('shows the newest records, filtered', async () => {
    const newest = await zt('audit', 'tail', '-n', '3');
    const denies = await zt('audit', 'tail', '--decision', 'deny', '--action', 'other.act');

    expect(newest.code).toBe(0);
    expect(newest.stdout.trim().split('\n')).toHaveLength(3);
    expect(denies.code).toBe(0);
    const lines = denies.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/ ci +other\.act +deny +no policy permits/);
  });

  it('--shadow-diff shows only decisions a shadow policy would change, with a count', async () => {
    const file = join(work, 'shadow-no-hello.cedar');
    await writeFile(file, 'forbid(principal, action == Action::"hello.say", resource);\n');
    const put = await zt('policies', 'put', 'shadow-no-hello', '--file', file, '--shadow');
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout).toMatch(/^stored shadow policy `shadow-no-hello`/);
    const admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.adminCredentials });
    expect(await admin.getPolicy('shadow-no-hello')).toMatchObject({ mode: 'shadow' });
    // the shadow forbid never decides: the agent is still allowed
    expect((await zt('decide', 'hello.say', '--as', 'zt-agent-ci')).code).toBe(0);

    const { code, stdout } = await zt('audit', 'tail', '--shadow-diff');

    expect(code).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines.slice(0, -1)).toHaveLength(1);
    expect(lines[0]).toMatch(
      /hello\.say +allow +permitted by .*\(shadow: deny: forbidden by policy `shadow-no-hello`\)/,
    );
    expect(lines.at(-1)).toMatch(/^1 of \d+ decisions read differs from its shadow decision$/);
  });

  it('--follow prints new records as they come and exits 0 on SIGINT', async () => {
    const child: ChildProcess = spawn(
      process.execPath,
      [bins.zt, 'audit', 'tail', '--follow', '--interval', '200', '--action', 'follow.me'],
      { cwd: work, env: env() },
    );
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await sleep(1000); // its first read of the log
      expect((await zt('decide', 'follow.me', '--as', 'zt-agent-ci')).code).toBe(4);
      for (let i = 0; i < 100 && !stdout.includes('follow.me'); i++) await sleep(100);
      child.kill('SIGINT');

      expect(await exited).toBe(0);
      expect(stdout).toMatch(/ ci +follow\.me +deny/);
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('when a plain curl signs a request (curl --aws-sigv4)', () => {
  const curl = spawnSync('curl', ['--version'], { encoding: 'utf8' });
  const hasCurl =
    curl.status === 0 &&
    /AWS-SigV4|aws-sigv4/i.test(
      `${curl.stdout}${spawnSync('curl', ['--help', 'all'], { encoding: 'utf8' }).stdout ?? ''}`,
    );

  it('gets a decision from the emulator with the README command', async (ctx) => {
    if (!hasCurl) {
      ctx.skip('needs the Debian package `curl` (7.75 or later, for --aws-sigv4)');
      return;
    }
    // the README's command, with this emulator's address and the agent's keys; run asynchronously, since
    // the emulator answering it lives in this process
    const result = await new Promise<{ status: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn('curl', [
        '-s',
        '--aws-sigv4',
        'aws:amz:us-east-1:execute-api',
        '--user',
        `${agentKeys.accessKeyId}:${agentKeys.secretAccessKey}`,
        '-H',
        'content-type: application/json',
        '-d',
        '{"actor":"ci","action":"hello.say"}',
        `${emulator.url}/actions`,
      ]);
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString('utf8');
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout });
      });
    });

    expect(result.status).toBe(0);
    const body = JSON.parse(result.stdout) as { decision: string; audit: { actor: string } };
    expect(body.decision).toBe('allow');
    expect(body.audit.actor).toBe('ci');
  });
});
