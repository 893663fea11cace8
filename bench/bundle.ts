import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { synthBundles } from '../cdk/bundles.js';

/**
 * Size and init time of the built Lambda bundles (the decision/"authorize" function first), bundled
 * exactly as `cdk synth` does. Init = `import()` of `index.mjs` in a fresh `node` (module evaluation,
 * Cedar wasm compile and instantiate, SDK clients loaded), excluding the network calls of the first
 * invocation (KMS GetPublicKey, the session-key certificate). Prints figures; never pass/fail.
 *
 *     npm run -s build && node dist/bench/bundle.js [runs]
 */
const runs = Number(process.argv[2] ?? 15);
const work = mkdtempSync(join(tmpdir(), 'zt-bench-bundle-'));

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function initTimes(entry: string, flags: string[]): number[] {
  const script = `const t = performance.now(); await import(${JSON.stringify(entry)}); console.log(performance.now() - t);`;
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
      cwd: work,
      env: { PATH: process.env['PATH'] ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      encoding: 'utf8',
    });
    times.push(Number(out.trim()));
  }
  return times.sort((a, b) => a - b);
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

try {
  const bundles = synthBundles(join(work, 'cdk.out'));
  console.log(`node ${process.version}, ${runs} fresh processes per figure`);
  for (const name of ['Decisions', 'Admin', 'Audit', 'Checkpoint']) {
    const b = bundles[name];
    if (!b) continue;
    // every file of the asset: the checkpoint function ships no Cedar wasm
    const files = readdirSync(b.dir).sort();
    const sizes = files.map((f) => statSync(join(b.dir, f)).size);
    const zipped = files.map((f) => gzipSync(readFileSync(join(b.dir, f))).length);
    console.log(`\n${name} function (${b.logicalId})`);
    files.forEach((f, i) => {
      console.log(
        `  ${f.padEnd(20)} ${kib(sizes[i] as number).padStart(11)}  (gzip ${kib(zipped[i] as number)})`,
      );
    });
    console.log(
      `  ${'total'.padEnd(20)} ${kib(sizes.reduce((a, b) => a + b, 0)).padStart(11)}  (gzip ${kib(zipped.reduce((a, b) => a + b, 0))})`,
    );
    for (const [label, flags] of [
      ['init (import), --enable-source-maps as deployed', ['--enable-source-maps']],
      ['init (import), without source maps', []],
    ] as const) {
      const t = initTimes(b.entry, [...flags]);
      console.log(
        `  ${label}: median ${pct(t, 50).toFixed(1)} ms, p90 ${pct(t, 90).toFixed(1)} ms, min ${t[0]?.toFixed(1)} ms`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
