import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltBundle, synthBundles } from '../../cdk/bundles.js';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'zt-bundle-'));

/** Imports a bundle in a fresh `node` (no vitest, no node_modules next to it) and prints its exports. */
async function importInFreshNode(entry: string, env: Record<string, string> = {}, invoke?: unknown) {
  const lines = await runInFreshNode(entry, env, invoke);
  return JSON.parse(lines.pop() as string);
}

/** As `importInFreshNode`, but every stdout line: the function's own log lines, then the result. */
async function runInFreshNode(entry: string, env: Record<string, string> = {}, invoke?: unknown) {
  const script = [
    `const m = await import(${JSON.stringify(entry)});`,
    invoke === undefined
      ? 'console.log(JSON.stringify(Object.keys(m).sort()));'
      : `console.log(JSON.stringify(await m.handler(${JSON.stringify(invoke)})));`,
  ].join('\n');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: work, // nothing to resolve from here: the bundle must be self-contained
    env: {
      PATH: process.env['PATH'] ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
    timeout: 30_000,
  });
  return stdout.trim().split('\n');
}

describe('when the functions are bundled for real (local esbuild, as cdk synth does)', () => {
  let bundles: Record<string, BuiltBundle>;
  beforeAll(() => {
    bundles = synthBundles(join(work, 'cdk.out'));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds minified ESM with a source map, and the Cedar wasm next to each API function', () => {
    expect(Object.keys(bundles).sort()).toEqual(['Admin', 'Audit', 'Checkpoint', 'Decisions']);
    for (const b of Object.values(bundles)) expect(existsSync(join(b.dir, 'index.mjs.map'))).toBe(true);
    for (const name of ['Admin', 'Audit', 'Decisions']) {
      const b = bundles[name] as BuiltBundle;
      expect(statSync(join(b.dir, 'cedar_wasm_bg.wasm')).size).toBeGreaterThan(1_000_000);
      expect(readFileSync(b.entry, 'utf8')).toContain('cedar_wasm_bg.wasm');
    }
  });

  it('ships the checkpoint function without the policy engine: no Cedar wasm, no wasm glue, no use cases', () => {
    const b = bundles['Checkpoint'] as BuiltBundle;
    expect(readdirSync(b.dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
    const code = readFileSync(b.entry, 'utf8');
    // the wasm-bindgen glue and the file it loads, and texts of the policy engine and the decision service
    for (const mark of [
      'cedar_wasm_bg.wasm',
      '__wbindgen',
      'policy evaluation failed',
      'the recorded decision could not be read',
    ]) {
      expect(code).not.toContain(mark);
    }
    // what it is made of is there (so the absence above is not an empty file's)
    expect(code).toContain('CHECKPOINT_CONTENTION');
  });

  it('loads the decision bundle in a fresh node process (Cedar wasm found)', async () => {
    const exports = await importInFreshNode((bundles['Decisions'] as BuiltBundle).entry);
    expect(exports).toContain('handler');
    const checkpoint = await importInFreshNode((bundles['Checkpoint'] as BuiltBundle).entry);
    expect(checkpoint).toContain('handler');
  });

  it('fails to load without the wasm beside it (so the load above really read it)', async () => {
    const bare = join(work, 'bare');
    rmSync(bare, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(bare);
    copyFileSync((bundles['Decisions'] as BuiltBundle).entry, join(bare, 'index.mjs'));
    await expect(importInFreshNode(join(bare, 'index.mjs'))).rejects.toThrow(/cedar_wasm_bg\.wasm/);
  });

  it('answers a 503 deny in the contract shape when KMS cannot be reached at cold start', async () => {
    const reply = await importInFreshNode(
      (bundles['Decisions'] as BuiltBundle).entry,
      {
        TABLE_NAME: 'zt',
        ROOT_KEY_ARN: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
        ADMIN_PRINCIPAL_ARNS: 'arn:aws:iam::111122223333:role/Admin',
        CHECKPOINT_ORIGIN: 'zt-infra/aws/111122223333/us-east-1/ZtInfra/main',
        ROUTE_GROUP: 'decisions',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'secret',
        AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
        AWS_MAX_ATTEMPTS: '1',
      },
      {
        resource: '/actions',
        path: '/actions',
        httpMethod: 'POST',
        headers: {},
        queryStringParameters: null,
        pathParameters: null,
        requestContext: {
          requestId: 'r-1',
          identity: { userArn: 'arn:aws:sts::111122223333:assumed-role/A/s' },
        },
        body: '{"actor":"a","action":"b"}',
        isBase64Encoded: false,
      },
    );
    expect(reply.statusCode).toBe(503);
    expect(JSON.parse(reply.body)).toMatchObject({
      ok: false,
      error: { code: 'SERVICE_UNAVAILABLE', trace_id: 'r-1' },
    });
  });

  it('refuses to start without CHECKPOINT_ORIGIN rather than sign under an origin every deployment shares', async () => {
    for (const name of ['Decisions', 'Checkpoint']) {
      const lines = await runInFreshNode(
        (bundles[name] as BuiltBundle).entry,
        {
          TABLE_NAME: 'zt',
          ROOT_KEY_ARN: 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          ADMIN_PRINCIPAL_ARNS: 'arn:aws:iam::111122223333:role/Admin',
          CHECKPOINT_BUCKET: 'bucket',
          CHECKPOINT_RETENTION_DAYS: '1',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9',
          AWS_MAX_ATTEMPTS: '1',
        },
        name === 'Decisions'
          ? {
              resource: '/keys',
              path: '/keys',
              httpMethod: 'GET',
              headers: {},
              requestContext: { requestId: 'r-2' },
            }
          : {},
      ).catch((error: { stdout?: string; stderr?: string }) => [
        `${error.stdout ?? ''}${error.stderr ?? ''}`,
      ]);
      // the decisions function answers 503 and logs why; the checkpoint function's invocation fails
      expect(lines.join('\n'), name).toMatch(/CHECKPOINT_ORIGIN is required/);
      expect(lines.join('\n'), name).not.toMatch(/127\.0\.0\.1:9|ECONNREFUSED/);
    }
  });
});
