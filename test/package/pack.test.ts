import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmulatorProcess, spawnEmulator } from '../e2e/emulatorProcess.js';

// The package as a consumer gets it: `npm pack`, the tarball installed into a scratch project in a
// temp dir, then every export imported, every bin run, the emulator started from there and a
// consumer file type-checked. Nothing here reads this checkout's sources but to find what to expect.

const root = join(import.meta.dirname, '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, bounded by `timeoutMs`; never throws (a timeout is a null code). */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? consumerEnv(),
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const show = (r: RunResult) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * A consumer's environment: without what `npm test` exports about this checkout (its prefix, package and
 * script, which a child npm would take as its own), keeping the user's npm configuration (the cache), and
 * without the AWS SDK switch vitest sets, which the bins must set themselves.
 */
function consumerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    const fromNpmRun = /^npm_/i.test(name) && !/^npm_config_/i.test(name);
    if (fromNpmRun || /^npm_config_local_prefix$/i.test(name) || name === 'INIT_CWD') continue;
    if (name === 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports?: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
}

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readJson = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;

/**
 * The scratch project's lockfile: the packed tarball plus, for every dependency, the version this
 * checkout's package-lock.json holds (which `npm ci` put in the npm cache), walked from the package's
 * own dependencies the way node resolves them. So the install is the tested set of versions, offline,
 * and the same on every run; a fresh resolution would follow whatever the registry publishes next.
 */
function scratchLockfile(
  pkg: PackageJson,
  lock: Record<string, LockEntry>,
  tarball: string,
  extra: string[],
): { packages: Record<string, unknown>; dependencies: Record<string, string> } {
  const dependencies: Record<string, string> = { [pkg.name]: `file:${tarball}` };
  for (const name of extra) {
    const version = pkg.devDependencies?.[name] ?? pkg.dependencies?.[name];
    if (!version) throw new Error(`\`${name}\` is not a dependency of ${pkg.name}`);
    dependencies[name] = version;
  }
  const packages: Record<string, unknown> = {
    '': { name: 'zt-infra-consumer', dependencies },
    [`node_modules/${pkg.name}`]: {
      version: pkg.version,
      resolved: `file:${tarball}`,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  const find = (from: string, name: string): string | null => {
    for (let base = from; ; ) {
      const key = `${base ? `${base}/` : ''}node_modules/${name}`;
      if (lock[key]) return key;
      if (!base) return null;
      const at = base.lastIndexOf('/node_modules/');
      base = at < 0 ? '' : base.slice(0, at);
    }
  };
  const queue: Array<[string, string[], boolean]> = [
    ['', Object.keys(pkg.dependencies ?? {}), true],
    ['', extra, true],
  ];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [from, names, required] = next;
    for (const name of names) {
      const key = find(from, name);
      if (key === null) {
        if (required) throw new Error(`package-lock.json has no \`${name}\` for \`${from || 'the root'}\``);
        continue;
      }
      if (packages[key]) continue;
      const { dev: _dev, devOptional: _devOptional, ...entry } = lock[key] as LockEntry;
      packages[key] = entry;
      queue.push([key, Object.keys(entry.dependencies ?? {}), true]);
      queue.push([
        key,
        [...Object.keys(entry.optionalDependencies ?? {}), ...Object.keys(entry.peerDependencies ?? {})],
        false,
      ]);
    }
  }
  return { packages, dependencies };
}

/** Source folders whose compiled output ships (tsconfig.build.json's, less bench and cdk). */
async function shippedSourceFiles(): Promise<string[]> {
  const build = await readJson<{ include: string[] }>(join(root, 'tsconfig.build.json'));
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (/(?<!\.d|\.test)\.ts$/.test(entry.name)) out.push(path);
    }
  };
  for (const dir of build.include) if (dir !== 'bench' && dir !== 'cdk') await walk(dir);
  return out;
}

/** The consumer a type check compiles: each subpath used, and one wrong use each that must not compile. */
const CONSUMER = `import { Broker, DEFAULT_MAX_DECISION_AGE_MS } from 'zt-infra/brokers';
import { BWRAP_ACTION } from 'zt-infra/brokers/bwrap-local';
import { DOCKER_ACTION } from 'zt-infra/brokers/docker-local';
import { NONO_ACTION } from 'zt-infra/brokers/nono-cli';
import { type AuditRecord, canonicalSha256, parseAuditRecord, verifyChain } from 'zt-infra/core';
import { ADMIN_PROFILE, type Emulator, startEmulator } from 'zt-infra/local';
import { ZeroTrustClient, type ZeroTrustClientOptions } from 'zt-infra/sdk';

export const options: ZeroTrustClientOptions = { endpoint: 'http://127.0.0.1:8787', trustedKeys: [] };
export const client = new ZeroTrustClient(options);
export const broker: typeof Broker = Broker;
export const names: string[] = [BWRAP_ACTION, DOCKER_ACTION, NONO_ACTION, ADMIN_PROFILE];
export function seqOf(text: string): number {
  const record: AuditRecord = parseAuditRecord(text);
  return record.seq;
}
export const verified: boolean = verifyChain([], { trustedRootKeys: [] }).ok;
export async function endpoint(): Promise<string> {
  const emulator: Emulator = await startEmulator({ port: 0, dataDir: '.zt' });
  return emulator.url;
}

// Each line below compiles only because the subpath's types are real: were they \`any\`, the
// directive above it would be unused, which is itself an error.
// @ts-expect-error \`endpoint\` is a string
export const badOptions: ZeroTrustClientOptions = { endpoint: 8787 };
// @ts-expect-error a number
export const badAge: string = DEFAULT_MAX_DECISION_AGE_MS;
// @ts-expect-error a string
export const badBwrap: number = BWRAP_ACTION;
// @ts-expect-error a string
export const badDocker: number = DOCKER_ACTION;
// @ts-expect-error a string
export const badNono: number = NONO_ACTION;
// @ts-expect-error a string
export const badHash: number = canonicalSha256({});
// @ts-expect-error a string
export const badProfile: number = ADMIN_PROFILE;
`;

/** The fenced block of README.md whose first line is `first` (the Install section's example). */
async function readmeBlock(fence: 'js' | 'sh', first: string): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const block = readme.split(`\`\`\`${fence}\n${first}\n`)[1]?.split('\n```')[0];
  if (block === undefined)
    throw new Error(`README.md has no \`\`\`${fence} block starting with \`${first}\``);
  return `${first}\n${block}\n`;
}

describe('when the package is packed and installed into a scratch project', () => {
  let scratch: string;
  let pkg: PackageJson;
  let packed: string[];
  let install: RunResult;
  let installed: string;
  let emulator: EmulatorProcess | undefined;

  beforeAll(async () => {
    // dist/ is what `npm ci` (prepare) or `npm run build` made; packing does not rebuild it (with
    // --ignore-scripts), since other tests run node from dist/ meanwhile. Refuse an older dist/.
    const stale: string[] = [];
    for (const source of await shippedSourceFiles()) {
      const built = await stat(join(root, 'dist', source.replace(/\.ts$/, '.js'))).catch(() => null);
      if (!built || built.mtimeMs < (await stat(join(root, source))).mtimeMs) stale.push(source);
    }
    if (stale.length > 0)
      throw new Error(
        `dist/ is missing or older than ${stale.slice(0, 5).join(', ')}: run \`npm run build\``,
      );

    scratch = await mkdtemp(join(tmpdir(), 'zt-package-'));
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], {
      cwd: root,
    });
    if (pack.code !== 0) throw new Error(`npm pack failed\n${show(pack)}`);
    const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    if (!info) throw new Error(`npm pack printed no package\n${show(pack)}`);
    packed = info.files.map((file) => file.path).sort();

    pkg = await readJson<PackageJson>(join(root, 'package.json'));
    const lock = await readJson<{ packages: Record<string, LockEntry> }>(join(root, 'package-lock.json'));
    const { packages, dependencies } = scratchLockfile(pkg, lock.packages, info.filename, ['@types/node']);
    await writeFile(
      join(scratch, 'package.json'),
      `${JSON.stringify({ name: 'zt-infra-consumer', private: true, type: 'module', dependencies }, null, 2)}\n`,
    );
    await writeFile(
      join(scratch, 'package-lock.json'),
      `${JSON.stringify({ name: 'zt-infra-consumer', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
    );
    // From the npm cache `npm ci` filled. --ignore-scripts: better-sqlite3 would compile its addon
    // again (minutes, no prebuilt binary offline); the addon this checkout built is copied in below.
    install = await run('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: scratch,
      timeoutMs: 240_000,
    });
    if (install.code !== 0) throw new Error(`npm ci in the scratch project failed\n${show(install)}`);
    installed = join(scratch, 'node_modules', pkg.name);

    // The same better-sqlite3 version (the lockfile's), the same Node: the same addon `npm ci` built here.
    const sqlite = (dir: string) => join(dir, 'node_modules', 'better-sqlite3');
    const ours = await readJson<PackageJson>(join(sqlite(root), 'package.json'));
    const theirs = await readJson<PackageJson>(join(sqlite(scratch), 'package.json'));
    if (ours.version !== theirs.version)
      throw new Error(`better-sqlite3 is \`${ours.version}\` here but \`${theirs.version}\` in the scratch`);
    const addon = join('build', 'Release', 'better_sqlite3.node');
    await mkdir(join(sqlite(scratch), 'build', 'Release'), { recursive: true });
    await copyFile(join(sqlite(root), addon), join(sqlite(scratch), addon));
  }, 300_000);

  afterAll(async () => {
    await emulator?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('packs built code and types, README, licence, the Cedar schema and example policies: no tests, benches or sources', () => {
    const allowed = (path: string) =>
      ['package.json', 'README.md', 'LICENSE'].includes(path) ||
      /^infra\/cedar\/([^/]+\.json|policies\/[^/]+\.cedar)$/.test(path) ||
      /^local\/console\/static\/(index\.html|console\.css|console\.js)$/.test(path) ||
      /^dist\/infra\/cedar\/[^/]+\.json$/.test(path) ||
      (/^dist\/.+(?<!\.d)\.js$|^dist\/.+\.d\.ts$/.test(path) &&
        !/^dist\/(bench|cdk|test)\//.test(path) &&
        !path.startsWith('dist/bin/zt-demo.'));
    expect(packed.filter((path) => !allowed(path))).toEqual([]);
    expect(packed).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'infra/cedar/schema.cedarschema.json',
        'infra/cedar/builtin-actions.json',
        'infra/cedar/policies/hello-world.cedar',
        'local/console/static/index.html',
        'local/console/static/console.css',
        'local/console/static/console.js',
      ]),
    );
    // Every export and bin target is in the tarball.
    const targets = [
      ...Object.values(pkg.exports ?? {}).flatMap((target) =>
        typeof target === 'string' ? [target] : Object.values(target),
      ),
      ...Object.values(pkg.bin ?? {}),
    ].map((target) => posix.normalize(target));
    for (const target of targets) {
      const [before, after] = target.split('*').map((part) => part.replace(/[.+?^$()|[\]\\]/g, '\\$&'));
      const pattern = new RegExp(after === undefined ? `^${before}$` : `^${before}[^/]+${after}$`);
      expect(
        packed.some((path) => pattern.test(path)),
        `${target} is not in the tarball`,
      ).toBe(true);
    }
  });

  it('resolves every relative import of the packed code (JSON included) inside the package', async () => {
    const files = new Set(packed);
    const missing: string[] = [];
    for (const path of packed.filter((p) => p.endsWith('.js') || p.endsWith('.d.ts'))) {
      const text = await readFile(join(installed, path), 'utf8');
      const specs = text.matchAll(
        /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|new URL\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g,
      );
      for (const [, spec] of specs) {
        const target = posix.join(posix.dirname(path), spec as string);
        const candidates = path.endsWith('.d.ts') ? [target, target.replace(/\.js$/, '.d.ts')] : [target];
        if (!candidates.some((candidate) => files.has(candidate))) missing.push(`${path} -> ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('installs on this Node with no engine warning for its dependencies', () => {
    const warnings = `${install.stdout}\n${install.stderr}`
      .split('\n')
      .filter((line) => /EBADENGINE/.test(line));
    expect(warnings, 'see README.md, Install: what to do about an engine warning').toEqual([]);
  });

  it('imports every export from a plain node process in the scratch project', async () => {
    const brokers = packed.flatMap((path) => /^dist\/brokers\/([^/]+)\/index\.js$/.exec(path)?.[1] ?? []);
    expect(brokers).toEqual(expect.arrayContaining(['bwrap-local', 'docker-local', 'nono-cli']));
    const specifiers = Object.keys(pkg.exports ?? {}).flatMap((key) =>
      key.includes('*')
        ? brokers.map((name) => `${pkg.name}/${key.slice(2).replace('*', name)}`)
        : [`${pkg.name}/${key.slice(2)}`],
    );
    expect(specifiers).toEqual(expect.arrayContaining(['zt-infra/core', 'zt-infra/local', 'zt-infra/sdk']));
    const script = `
      const out = {};
      for (const spec of ${JSON.stringify(specifiers)}) {
        try {
          const m = spec.endsWith('.json') ? await import(spec, { with: { type: 'json' } }) : await import(spec);
          out[spec] = Object.keys(m).sort();
        } catch (error) {
          out[spec] = \`\${error.code ?? 'ERROR'}: \${error.message}\`;
        }
      }
      try { await import('zt-infra/dist/core/index.js'); out.deep = 'imported'; } catch (error) { out.deep = error.code; }
      console.log(JSON.stringify(out));`;
    const result = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: scratch });
    expect(result.code, show(result)).toBe(0);
    const out = JSON.parse(result.stdout) as Record<string, string[] | string>;
    // The framework guards need their framework, an optional peer the scratch project does not install:
    // importing one without it fails naming the missing package, and nothing else needs it.
    const frameworkPeers: Record<string, string> = {
      'zt-infra/sdk/ai': 'ai',
      'zt-infra/sdk/openai-agents': '@openai/agents',
      'zt-infra/sdk/langchain': '@langchain/core',
    };
    expect(Object.values(frameworkPeers).sort()).toEqual(Object.keys(pkg.peerDependencies ?? {}).sort());
    for (const spec of specifiers) {
      const peer = frameworkPeers[spec];
      if (peer !== undefined && !Array.isArray(out[spec])) {
        expect(out[spec], spec).toMatch(/^ERR_MODULE_NOT_FOUND: /);
        expect(out[spec], spec).toContain(`'${peer}`);
        continue;
      }
      expect(Array.isArray(out[spec]), `${spec}: ${out[spec]}`).toBe(true);
      expect(out[spec]?.length, spec).toBeGreaterThan(0);
    }
    expect(out['zt-infra/core']).toEqual(expect.arrayContaining(['verifyChain', 'PolicyEngine', 'ZtError']));
    expect(out['zt-infra/local']).toEqual(expect.arrayContaining(['startEmulator', 'ADMIN_PROFILE']));
    expect(out['zt-infra/sdk']).toEqual(expect.arrayContaining(['ZeroTrustClient']));
    // Only the exports map is public: files behind it are not importable by path.
    expect(out['deep']).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  }, 60_000);

  it('runs every bin (zt, zt-audit, zt-local) with --help', async () => {
    expect(Object.keys(pkg.bin ?? {}).sort()).toEqual(['zt', 'zt-audit', 'zt-local']);
    for (const name of Object.keys(pkg.bin ?? {})) {
      const result = await run(join(scratch, 'node_modules', '.bin', name), ['--help'], { cwd: scratch });
      expect(result.code, `${name}: ${show(result)}`).toBe(0);
      expect(result.stdout, name).toContain(`usage: ${name}`);
    }
  }, 60_000);

  it('starts the emulator with zt-local and runs the README example against it', async () => {
    const dataDir = join(scratch, '.zt');
    expect(pkg.bin?.['zt-local'], 'package.json has no zt-local bin').toBeDefined();
    emulator = await spawnEmulator(join(scratch, 'node_modules', '.bin', 'zt-local'), [
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--quiet',
    ]);
    // The console (on a free port, see spawnEmulator) serves its page from the installed package's files.
    const login = /console\s+(http:\/\/127\.0\.0\.1:\d+\/)\?token=(\S+)/.exec(emulator.stderr());
    expect(login, emulator.stderr()).not.toBeNull();
    for (const path of ['', 'console.js', 'console.css']) {
      const page = await fetch(`${login?.[1]}${path}`, {
        headers: { authorization: `Bearer ${login?.[2]}` },
      });
      expect(page.status, path).toBe(200);
    }
    // The README's commands as written, through npx, but for the port (0 here: never a fixed one).
    await writeFile(join(scratch, 'guard.mjs'), await readmeBlock('js', '// guard.mjs'));
    const commands = await readmeBlock('sh', '# terminal 2, same directory');
    expect(commands).toContain('http://127.0.0.1:8787');
    const example = await run(
      'bash',
      ['-euo', 'pipefail', '-c', commands.replaceAll('http://127.0.0.1:8787', emulator.url)],
      {
        cwd: scratch,
        timeoutMs: 90_000,
      },
    );
    expect(example.code, show(example)).toBe(0);
    expect(example.stdout.split('\n'), show(example)).toContain('hello');
    expect(example.stdout, show(example)).toMatch(/^verified \d+ records/m);

    await emulator.stop();
    expect(await emulator.exited).toBe(0);
  }, 120_000);

  it('type-checks a consumer under moduleResolution node16, nodenext and bundler', async () => {
    await writeFile(join(scratch, 'consumer.ts'), CONSUMER);
    const settings = { node16: 'node16', nodenext: 'nodenext', bundler: 'esnext' } as const;
    const results = await Promise.all(
      Object.entries(settings).map(async ([moduleResolution, module]) => {
        const config = `tsconfig.${moduleResolution}.json`;
        // skipLibCheck off: the package's .d.ts files are checked too, so a type they name from a
        // package the consumer does not get (a devDependency's @types) is an error, not a silent `any`.
        const compilerOptions = {
          target: 'ES2022',
          lib: ['ES2022'],
          module,
          moduleResolution,
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        };
        await writeFile(join(scratch, config), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
        const result = await run(process.execPath, [tsc, '-p', config], { cwd: scratch, timeoutMs: 280_000 });
        return { moduleResolution, result };
      }),
    );
    for (const { moduleResolution, result } of results)
      expect(result.code, `${moduleResolution}: ${show(result)}`).toBe(0);
  }, 300_000);
});
