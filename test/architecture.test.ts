import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The layout table (README, "Architecture"; DESIGN.md's table plus the folders grown since): what each
 * folder's TypeScript may import from the project's other folders. Every folder holding TypeScript has a
 * row; a folder without one fails the check, so a new folder cannot slip past it.
 */
const ALLOWED: Record<string, readonly string[] | 'anything'> = {
  core: ['core', 'infra'],
  lambdas: ['core', 'lambdas'],
  local: ['core', 'lambdas', 'local'],
  sdk: ['core', 'sdk'],
  brokers: ['core', 'sdk', 'brokers', 'infra'],
  /** The offline audit toolkit: input readers, bundles, export, proving, the verifier's worker pool. */
  audit: ['core', 'sdk', 'audit'],
  mcp: ['core', 'sdk', 'mcp'],
  /** Handler entry paths, and the pure names the stack shares with the handlers (key layout, origin). */
  cdk: ['core', 'lambdas', 'cdk'],
  /** Terraform and the Cedar schema and sample policies (read as JSON by core and the brokers). */
  infra: [],
  /** The CLIs: thin shells over the library, so they may reach all of it. */
  bin: 'anything',
  bench: 'anything',
  test: 'anything',
};

/**
 * core/'s concern folders and which other concerns each may import, lowest first: a concern never imports
 * one above it, so the folders form layers (errors < model < ports, policy < approvals, keys < log < verify, gateway).
 * Inside core/ a file imports another concern's module directly; outside core/ only through a concern's
 * `index.ts` (its public surface) or core's own `index.ts`. Every folder in core/ needs a row here.
 */
const CORE_CONCERNS: Record<string, readonly string[]> = {
  errors: [],
  model: ['errors'],
  ports: ['errors', 'model'],
  policy: ['errors', 'model'],
  approvals: ['errors', 'model', 'ports'],
  keys: ['errors', 'model', 'ports'],
  log: ['errors', 'model', 'ports', 'keys'],
  verify: ['errors', 'model', 'ports', 'keys', 'log'],
  gateway: ['errors', 'model', 'ports', 'policy', 'approvals', 'keys', 'log'],
};
/** Folders whose files may reach core's internals (tests exercise them directly). */
const CORE_INTERNALS_OPEN = new Set(['test']);

/** Modules that do I/O or read the environment: never in core. */
const CORE_FORBIDDEN = [
  /^@aws-sdk\//,
  /^express$/,
  /^(node:)?fs(\/promises)?$/,
  /^(node:)?https?$/,
  /^(node:)?net$/,
  /^dynalite$/,
  /^better-sqlite3$/,
  /^(node:)?child_process$/,
];
/** Packages only the folder named may import: the CDK stays out of what ships to Lambda and to users. */
const PACKAGE_OWNERS: ReadonlyArray<{ pkg: RegExp; folders: readonly string[] }> = [
  { pkg: /^aws-cdk-lib(\/|$)|^constructs$|^cdk-nag$/, folders: ['cdk', 'test', 'bench'] },
  { pkg: /^vitest(\/|$)/, folders: ['test'] },
];
/** Folders that hold no TypeScript of the product (skipped when the tree is walked). */
const IGNORED = new Set(['node_modules', 'dist', '.git', '.zt', 'coverage']);

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
    if (IGNORED.has(name)) continue;
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

/** The break of core's rules by the import `spec` (resolving to `path`) of the file `at`, if any. */
function coreImport(at: string, spec: string, path: string[]): string[] {
  const from = at.split('/');
  const concern = path.length === 3 ? (path[1] as string) : null;
  if (from[0] === 'core') {
    const own = from.length === 3 ? (from[1] as string) : null;
    if (own === null || concern === null || own === concern) return [];
    const may = CORE_CONCERNS[own] ?? [];
    return may.includes(concern) ? [] : [`${at} -> ${spec} (core/${own}/ may not import core/${concern}/)`];
  }
  if (CORE_INTERNALS_OPEN.has(from[0] as string)) return [];
  const viaIndex = path[path.length - 1] === 'index.js' && path.length <= 3;
  return viaIndex ? [] : [`${at} -> ${spec} (outside core/, import a concern's index.js, not its modules)`];
}

/** Every break of the layout table under `tree`, as `file -> import (why)`. */
function checkLayout(tree: string): string[] {
  const violations: string[] = [];
  const folders = readdirSync(tree).filter(
    (name) => !IGNORED.has(name) && !name.startsWith('.') && statSync(join(tree, name)).isDirectory(),
  );
  for (const concern of readdirSync(join(tree, 'core'))) {
    if (statSync(join(tree, 'core', concern)).isDirectory() && !(concern in CORE_CONCERNS))
      violations.push(`core/${concern}/ has no row in the table of core's concerns`);
  }
  for (const file of readdirSync(join(tree, 'core')).filter((n) => n.endsWith('.ts'))) {
    if (file !== 'index.ts') violations.push(`core/${file} is outside every concern folder`);
  }
  for (const folder of folders) {
    const files = sources(join(tree, folder));
    const rule = ALLOWED[folder];
    if (rule === undefined) {
      if (files.length > 0) violations.push(`${folder}/ holds TypeScript but has no row in the layout table`);
      continue;
    }
    for (const file of files) {
      const at = relative(tree, file);
      if (folder === 'core' && /process\.env/.test(readFileSync(file, 'utf8')))
        violations.push(`${at} reads process.env`);
      // the Lambda functions read their environment once, in one place (lambdas/env.ts), at cold start
      if (
        folder === 'lambdas' &&
        at !== 'lambdas/env.ts' &&
        /process\.env\[/.test(readFileSync(file, 'utf8'))
      )
        violations.push(`${at} reads process.env outside lambdas/env.ts`);
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.')) {
          const path = relative(tree, join(file, '..', spec)).split('/');
          const target = path[0] as string;
          if (target.startsWith('..')) violations.push(`${at} -> ${spec} (outside the project)`);
          else if (rule !== 'anything' && !rule.includes(target))
            violations.push(`${at} -> ${spec} (${folder}/ may not import ${target}/)`);
          else if (target === 'core') violations.push(...coreImport(at, spec, path));
        } else {
          if (folder === 'core' && CORE_FORBIDDEN.some((re) => re.test(spec)))
            violations.push(`${at} -> ${spec} (core/ does no I/O)`);
          const owner = PACKAGE_OWNERS.find((o) => o.pkg.test(spec));
          if (owner && !owner.folders.includes(folder))
            violations.push(`${at} -> ${spec} (only ${owner.folders.join(', ')} may import it)`);
        }
      }
    }
  }
  return violations;
}

describe('when the source tree is checked against the layout table', () => {
  it('every folder keeps to its row, and every folder with TypeScript has one', () => {
    expect(checkLayout(root)).toEqual([]);
  });

  it('bin/ holds no worker pool or worker script: the CLIs are shells over the library', () => {
    const offenders = sources(join(root, 'bin')).filter((f) =>
      /node:worker_threads/.test(readFileSync(f, 'utf8')),
    );
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });

  it('no worker runs code evaluated from a string', () => {
    const offenders = ['core', 'audit', 'bin', 'lambdas', 'local', 'sdk', 'brokers', 'mcp']
      .flatMap((d) => sources(join(root, d)))
      .filter((f) => /eval:\s*true/.test(readFileSync(f, 'utf8')));
    expect(offenders.map((f) => relative(root, f))).toEqual([]);
  });
});

describe("when README's architecture section is read beside the folders", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Architecture'),
    readme.indexOf('\n## ', readme.indexOf('## Architecture') + 1),
  );
  const rows = [...section.matchAll(/^\| `([a-z]+)\/` \|/gm)].map((m) => m[1] as string);

  it('names every top-level folder of the layout table once, and no other', () => {
    const top = Object.keys(ALLOWED).sort();
    expect(rows.filter((r) => top.includes(r)).sort()).toEqual(top);
  });

  it('names every concern folder of core/ once, and no other', () => {
    const concerns = readdirSync(join(root, 'core')).filter((n) =>
      statSync(join(root, 'core', n)).isDirectory(),
    );
    expect(concerns.sort()).toEqual(Object.keys(CORE_CONCERNS).sort());
    expect(rows.filter((r) => !(r in ALLOWED)).sort()).toEqual(concerns.sort());
  });

  it("says what each concern may import exactly as the test's table does", () => {
    const said = Object.fromEntries(
      [...section.matchAll(/^\| `([a-z]+)\/` \|[^\n]*\| ([a-z, ]+) \|$/gm)]
        .filter((m) => (m[1] as string) in CORE_CONCERNS)
        .map((m) => [m[1], m[2] === 'nothing' ? [] : (m[2] as string).split(', ').sort()]),
    );
    const table = Object.fromEntries(Object.entries(CORE_CONCERNS).map(([k, v]) => [k, [...v].sort()]));
    expect(said).toEqual(table);
  });
});

describe('when a violation is planted in a copy of the tree', () => {
  const copy = mkdtempSync(join(tmpdir(), 'zt-layout-'));
  for (const folder of Object.keys(ALLOWED)) {
    if (folder === 'test') continue;
    try {
      cpSync(join(root, folder), join(copy, folder), { recursive: true });
    } catch {
      // a folder of the table that does not exist (yet) has nothing to copy
    }
  }
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  /** Adds `text` as a new file, checks the copy, and removes the file again. */
  function plant(file: string, text: string): string[] {
    writeFileSync(join(copy, file), text);
    try {
      return checkLayout(copy);
    } finally {
      rmSync(join(copy, file));
    }
  }

  it('the unchanged copy passes (so what follows is the planted file alone)', () => {
    expect(checkLayout(copy)).toEqual([]);
  });

  it.each([
    ['core/log/planted.ts', "import { readFileSync } from 'node:fs';\n", 'core/ does no I/O'],
    [
      'core/log/planted.ts',
      // (joined so this file's own scan does not read it as an import that leaves the project)
      'export { handler } from ' + "'../../lambdas/api.js';\n",
      'core/ may not import lambdas/',
    ],
    ['core/keys/planted.ts', 'export const region = process.env.AWS_REGION;\n', 'reads process.env'],
    [
      'core/log/planted.ts',
      "export type { Gateway } from '../gateway/Gateway.js';\n",
      'core/log/ may not import core/gateway/',
    ],
    [
      'core/model/planted.ts',
      "export { PolicyEngine } from '../policy/PolicyEngine.js';\n",
      'core/model/ may not import core/policy/',
    ],
    [
      'lambdas/planted.ts',
      "import { LaneWriter } from '../core/log/LaneWriter.js';\n",
      "import a concern's index.js, not its modules",
    ],
    ['core/planted.ts', 'export const x = 1;\n', 'is outside every concern folder'],
    [
      'lambdas/planted.ts',
      "export const table = process.env['TABLE_NAME'];\n",
      'reads process.env outside lambdas/env.ts',
    ],
    ['sdk/planted.ts', "import { startEmulator } from '../local/index.js';\n", 'sdk/ may not import local/'],
    ['lambdas/planted.ts', "const m = await import('../bin/zt.js');\n", 'lambdas/ may not import bin/'],
    [
      'cdk/planted.ts',
      "import { SqliteKeyValueStore } from '../local/index.js';\n",
      'cdk/ may not import local/',
    ],
    ['lambdas/planted.ts', "import { Stack } from 'aws-cdk-lib';\n", 'only cdk, test, bench may import it'],
    ['mcp/planted.ts', "import { describe } from 'vitest';\n", 'only test may import it'],
  ])('%s importing %j is caught', (file, text, why) => {
    const found = plant(file, text);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(file);
    expect(found[0]).toContain(why);
  });

  it('an import through a concern index from outside core passes (the rule is not a blanket ban)', () => {
    expect(plant('lambdas/planted.ts', "import { LaneWriter } from '../core/log/index.js';\n")).toEqual([]);
  });

  it('a new concern folder in core without a row is caught', () => {
    cpSync(join(copy, 'core', 'keys'), join(copy, 'core', 'extra'), { recursive: true });
    try {
      expect(checkLayout(copy)).toContain("core/extra/ has no row in the table of core's concerns");
    } finally {
      rmSync(join(copy, 'core', 'extra'), { recursive: true });
    }
  });

  it('a new folder with TypeScript and no row is caught', () => {
    cpSync(join(copy, 'sdk'), join(copy, 'newfolder'), { recursive: true });
    try {
      expect(checkLayout(copy)).toEqual(['newfolder/ holds TypeScript but has no row in the layout table']);
    } finally {
      rmSync(join(copy, 'newfolder'), { recursive: true });
    }
  });
});
