import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** DESIGN.md's layout table: what each folder may import from the others. */
const ALLOWED: Record<string, string[]> = {
  core: ['core'],
  lambdas: ['core', 'lambdas'],
  local: ['core', 'lambdas', 'local'],
  sdk: ['core', 'sdk'],
  brokers: ['core', 'sdk', 'brokers'],
  /** The offline audit toolkit: input readers, bundles, export, proving, the verifier's worker pool. */
  audit: ['core', 'sdk', 'audit'],
  mcp: ['core', 'sdk', 'mcp'],
};
const LAYERS = ['core', 'lambdas', 'local', 'sdk', 'brokers', 'audit', 'mcp', 'bin', 'cdk', 'bench', 'test'];
/** Modules that do I/O or read the environment: never in core. */
const CORE_FORBIDDEN = [
  /^@aws-sdk\//,
  /^express$/,
  /^(node:)?fs(\/promises)?$/,
  /^(node:)?https?$/,
  /^(node:)?net$/,
  /^dynalite$/,
  /^(node:)?child_process$/,
];

const root = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  let out: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(sources(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => (m[1] ?? m[2]) as string);
}

describe('when the source tree is checked against the layout table', () => {
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${allowed.join(', ')}`, () => {
      const violations: string[] = [];
      for (const file of sources(join(root, layer))) {
        for (const spec of importsOf(file)) {
          if (spec.startsWith('.')) {
            const target = relative(root, join(file, '..', spec)).split('/')[0] as string;
            if (LAYERS.includes(target) && !allowed.includes(target))
              violations.push(`${relative(root, file)} -> ${spec}`);
            if (layer === 'core' && target === 'infra') continue;
          } else if (layer === 'core' && CORE_FORBIDDEN.some((re) => re.test(spec))) {
            violations.push(`${relative(root, file)} -> ${spec}`);
          }
        }
      }
      expect(violations).toEqual([]);
    });
  }

  it('core/ reads no environment', () => {
    const offenders = sources(join(root, 'core')).filter((f) => /process\.env/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('bin/ holds no worker pool or worker script: the CLIs are shells over the library', () => {
    const offenders = sources(join(root, 'bin')).filter((f) =>
      /node:worker_threads/.test(readFileSync(f, 'utf8')),
    );
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('no worker runs code evaluated from a string', () => {
    const offenders = ['core', 'audit', 'bin', 'lambdas', 'local', 'sdk', 'brokers']
      .flatMap((d) => sources(join(root, d)))
      .filter((f) => /eval:\s*true/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('catches a violation (the check itself can fail)', () => {
    expect(importsOf(join(root, 'lambdas', 'api.ts'))).toContain('@aws-sdk/client-dynamodb');
    expect(CORE_FORBIDDEN.some((re) => re.test('node:fs'))).toBe(true);
  });
});
