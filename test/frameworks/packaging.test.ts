import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The framework adapters are subpath exports whose framework is an optional peer dependency: an SDK user
 * who uses no framework installs none, and `zt-infra/sdk` never loads one.
 */

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { types: string; default: string }>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

const ADAPTERS = [
  { subpath: './sdk/ai', source: 'sdk/frameworks/ai.ts', framework: 'ai' },
  { subpath: './sdk/openai-agents', source: 'sdk/frameworks/openai-agents.ts', framework: '@openai/agents' },
  { subpath: './sdk/langchain', source: 'sdk/frameworks/langchain.ts', framework: '@langchain/core' },
];
/** Bare specifiers that belong to a framework (or to what only the frameworks need). */
const FRAMEWORK_MODULE = /^(ai|ai\/.*|@ai-sdk\/.*|@openai\/.*|openai|@langchain\/.*|langchain|zod)$/;

/** The specifiers a source file imports or re-exports (type-only ones included); comments are not code. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  return [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => (m[1] ?? m[2]) as string);
}

/** Every bare specifier reachable from `entry` through relative imports, and the files visited. */
function reachable(entry: string): { files: string[]; bare: Set<string> } {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const queue = [join(root, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of importsOf(file)) {
      if (spec.startsWith('.')) queue.push(join(dirname(file), spec).replace(/\.js$/, '.ts'));
      else bare.add(spec);
    }
  }
  return { files: [...seen].map((f) => relative(root, f)), bare };
}

describe('when the package is used without any framework', () => {
  it('`zt-infra/sdk` reaches no framework module, however deep', () => {
    const { files, bare } = reachable('sdk/index.ts');
    expect(files.length).toBeGreaterThan(5);
    expect(files.filter((f) => f.startsWith('sdk/frameworks/'))).toEqual([]);
    expect([...bare].filter((s) => FRAMEWORK_MODULE.test(s))).toEqual([]);
  });

  it('no framework is a dependency: each is an optional peer, and a dev dependency for the tests', () => {
    for (const { framework } of ADAPTERS) {
      expect(pkg.dependencies[framework], framework).toBeUndefined();
      expect(pkg.peerDependencies?.[framework], framework).toBeDefined();
      expect(pkg.peerDependenciesMeta?.[framework]?.optional, framework).toBe(true);
      expect(pkg.devDependencies[framework], framework).toBeDefined();
    }
    expect(pkg.dependencies['zod']).toBeUndefined();
  });
});

describe('when an adapter is imported', () => {
  it.each(ADAPTERS)('$subpath is exported and built from $source', ({ subpath, source }) => {
    const target = pkg.exports[subpath];
    expect(existsSync(join(root, source))).toBe(true);
    const built = `./dist/${source.replace(/\.ts$/, '')}`;
    expect(target).toEqual({ types: `${built}.d.ts`, default: `${built}.js` });
  });

  it.each(ADAPTERS)('$source loads no other framework than $framework', ({ source, framework }) => {
    const { bare } = reachable(source);
    const frameworks = [...bare].filter((s) => FRAMEWORK_MODULE.test(s));
    expect(frameworks.length).toBeGreaterThan(0);
    for (const spec of frameworks)
      expect(spec === framework || spec.startsWith(`${framework}/`), spec).toBe(true);
  });
});
