import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { acknowledge } from '../nag.js';

/*
 * What every function of the stack shares: its role, log group, runtime, memory, environment and esbuild
 * bundling. Like the other parts in this folder it is a plain class, not a construct: it adds its resources
 * to the stack it is given, so their construct paths, and the logical ids derived from them, are the ones
 * the stack has always had (construct ids are a public contract).
 */

/** The repository root: where `package.json`, `package-lock.json` and `lambdas/` live. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'zt-infra') {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('could not find the zt-infra package root above cdk/');
    dir = parent;
  }
}

/**
 * ESM bundles have no `require`, `__filename` or `__dirname`; the Cedar nodejs build (CommonJS) reads its
 * wasm from `__dirname` at load, so the bundle defines them from `import.meta.url` and the wasm is copied
 * next to `index.mjs`.
 */
export const ESM_BANNER = [
  "import { createRequire as __ztCreateRequire } from 'node:module';",
  "import { fileURLToPath as __ztFileURLToPath } from 'node:url';",
  "import { dirname as __ztDirname } from 'node:path';",
  'const require = __ztCreateRequire(import.meta.url);',
  'const __filename = __ztFileURLToPath(import.meta.url);',
  'const __dirname = __ztDirname(__filename);',
].join(' ');

export const CEDAR_WASM = 'node_modules/@cedar-policy/cedar-wasm/nodejs/cedar_wasm_bg.wasm';

/**
 * The bundling options every function uses: local esbuild, minified ESM, source maps, and the Cedar wasm
 * copied beside `index.mjs` for a function that evaluates policy (`cedarWasm`, default true). The checkpoint
 * function imports nothing of the policy engine, so it ships without the wasm (4.2 MiB).
 */
export function bundlingOptions(options: { cedarWasm?: boolean } = {}): nodejs.BundlingOptions {
  const cedarWasm = options.cedarWasm ?? true;
  return {
    format: nodejs.OutputFormat.ESM,
    target: 'node22',
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: ESM_BANNER,
    // The SDK clients the code imports are bundled (tree-shaken, pinned by the lockfile) rather than
    // taken from the runtime, whose version moves under us.
    bundleAwsSDK: true,
    forceDockerBundling: false,
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (inputDir: string, outputDir: string) =>
        cedarWasm ? [`cp "${join(inputDir, CEDAR_WASM)}" "${join(outputDir, 'cedar_wasm_bg.wasm')}"`] : [],
    },
  };
}

/** The functions whose concurrency is reserved: one per route group, and the checkpoint function. */
export interface ReservedConcurrency {
  decisions: number;
  admin: number;
  audit: number;
  checkpoint: number;
}

/**
 * Reserved concurrency by default. Decisions: 32 instances, the largest fleet `npm run bench:cloud`
 * measured scaling linearly (one lane each, no contention, nothing lost); more is a setting, not a redesign
 * (no key of the table is shared by every decision). Admin: 2 (changes are serialised by the configuration
 * version anyway). Audit: 2. Checkpoint: 1, so two scheduled runs never overlap.
 */
export const DEFAULT_RESERVED_CONCURRENCY: Readonly<ReservedConcurrency> = Object.freeze({
  decisions: 32,
  admin: 2,
  audit: 2,
  checkpoint: 1,
});

/** The reserved concurrency of each function, or null for none; refuses what Lambda would. */
export function reservedConcurrencyOf(
  setting: Partial<ReservedConcurrency> | false | undefined,
): ReservedConcurrency | null {
  if (setting === false) return null;
  const merged = { ...DEFAULT_RESERVED_CONCURRENCY, ...setting };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1 || value > 10_000) {
      throw new Error(`reservedConcurrency.${name} must be an integer from 1 to 10000, got \`${value}\``);
    }
  }
  return merged;
}

/** One function made by {@link FunctionDefaults.make}, with the role it runs as. */
export interface MadeFunction {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
}

/** One function: its construct id prefix, entry, description, own environment, timeout and concurrency. */
export interface FunctionSpec {
  /** Construct id prefix: `<name>FunctionRole`, `<name>FunctionLogs`, `<name>Function`. */
  readonly name: string;
  /** Entry file relative to the project root (`lambdas/api.ts`). */
  readonly entry: string;
  readonly description: string;
  /** Added to the common environment (and to `GATEWAY_PRINCIPAL_ARN`, the function's own role). */
  readonly environment: Record<string, string>;
  readonly timeout: Duration;
  /** Reserved concurrency, or undefined for none. */
  readonly concurrency: number | undefined;
  /** Whether the function evaluates Cedar policy, so its bundle needs the wasm (default true). */
  readonly cedar?: boolean;
}

/**
 * Makes the stack's functions with what they all share: a role of their own, a retained log group, Node 22
 * on ARM, 1 GiB, the common environment, the bundling of {@link bundlingOptions}.
 */
export class FunctionDefaults {
  readonly #stack: Stack;
  readonly #root: string;
  readonly #logRetention: logs.RetentionDays;
  readonly #environment: Record<string, string>;

  constructor(
    stack: Stack,
    props: { root: string; logRetention: logs.RetentionDays; environment: Record<string, string> },
  ) {
    this.#stack = stack;
    this.#root = props.root;
    this.#logRetention = props.logRetention;
    this.#environment = props.environment;
  }

  /** Adds `<name>FunctionRole`, `<name>FunctionLogs` and `<name>Function` to the stack, in that order. */
  make(spec: FunctionSpec): MadeFunction {
    const { name, description } = spec;
    const role = new iam.Role(this.#stack, `${name}FunctionRole`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description,
    });
    const logGroup = new logs.LogGroup(this.#stack, `${name}FunctionLogs`, {
      retention: this.#logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    logGroup.grantWrite(role);
    const fn = new nodejs.NodejsFunction(this.#stack, `${name}Function`, {
      entry: join(this.#root, spec.entry),
      handler: 'handler',
      projectRoot: this.#root,
      depsLockFilePath: join(this.#root, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 1024,
      timeout: spec.timeout,
      role,
      logGroup,
      description,
      environment: { ...this.#environment, GATEWAY_PRINCIPAL_ARN: role.roleArn, ...spec.environment },
      bundling: bundlingOptions({ cedarWasm: spec.cedar ?? true }),
      ...(spec.concurrency !== undefined ? { reservedConcurrentExecutions: spec.concurrency } : {}),
    });
    acknowledge(
      fn,
      'AwsSolutions-L1',
      'nodejs22.x is the runtime this package is built and tested for (Node 22 in CI, ESM target node22); moving to a newer one is a tested change, not a default',
    );
    return { fn, role };
  }
}
