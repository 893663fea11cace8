import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';

const work = mkdtempSync(join(tmpdir(), 'zt-cedar-v8-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Bundles the fixture from source (so it tests this tree, not a stale dist/), Cedar's glue left external. */
async function bundleFixture(): Promise<string> {
  const cedarGlue = createRequire(import.meta.url).resolve('@cedar-policy/cedar-wasm/nodejs');
  const outfile = join(work, 'cedarUnderGc.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, '..', 'fixtures', 'cedarUnderGc.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile,
    logLevel: 'silent',
    plugins: [
      {
        name: 'cedar-glue-external',
        setup(b) {
          b.onResolve({ filter: /^@cedar-policy\/cedar-wasm/ }, () => ({ path: cedarGlue, external: true }));
        },
      },
    ],
  });
  return outfile;
}

function run(
  args: string[],
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 80_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('when Cedar is called from optimized code and full GCs come between decisions (Node 20 V8)', () => {
  // Before the fix in core/policy/cedar.ts, Node 20.20.2 aborted here at the first GC after `evaluate` was
  // optimized ("unreachable code" in Deoptimizer::DoComputeBuiltinContinuation, SIGTRAP).
  it('keeps the process alive through every shape of Cedar answer', async () => {
    const fixture = await bundleFixture();
    const gcEvery = 1500;
    const result = await run(['--expose-gc', fixture, '4500', String(gcEvery), '30000']);
    const aborted = /unreachable code|Fatal error/.test(result.stderr);
    expect({ code: result.code, signal: result.signal, aborted }, result.stderr.slice(0, 2000)).toEqual({
      code: 0,
      signal: null,
      aborted: false,
    });
    const summary = JSON.parse(result.stdout.trim().split('\n').pop() as string) as {
      evaluations: number;
      outcomes: Record<string, number>;
    };
    // At least two full GCs after the engine was warm, and every outcome seen.
    expect(summary.evaluations).toBeGreaterThan(2 * gcEvery);
    expect(Object.keys(summary.outcomes).sort()).toEqual(['allow', 'deny', 'error', 'forbid']);
  }, 90_000);
});
