import { readFile } from 'node:fs/promises';
import type { Declarations } from '../../core/model/index.js';
import { type CommandContext, EXIT, LocalFileError, UsageError } from './commands.js';
import {
  declarationsFrom,
  offlineEngine,
  type PolicyFileProblem,
  type PolicyTestCase,
  PolicyTestInputError,
  parseTestFile,
  readPolicyFolder,
  runPolicyTests,
} from './policyTests.js';

/** `zt policies validate DIR [--schema FILE]`: every policy file, validated as `PUT /policies` would. */
export async function policiesValidate(ctx: CommandContext): Promise<number> {
  const dir = ctx.positionals[0] as string;
  const { folder } = await load(ctx, dir);
  if (ctx.json) {
    ctx.out(
      `${JSON.stringify(
        { ok: folder.problems.length === 0, policies: folder.policies.length, problems: folder.problems },
        null,
        2,
      )}\n`,
    );
  } else {
    ctx.out(problemLines(folder.problems));
    const bad = new Set(folder.problems.map((p) => p.policyId)).size;
    ctx.out(
      `${folder.policies.length - bad} of ${folder.policies.length} ${folder.policies.length === 1 ? 'policy' : 'policies'} valid\n`,
    );
  }
  return folder.problems.length === 0 ? EXIT.OK : EXIT.REFUSED;
}

/** `zt policies test FILE... --policies DIR [--schema FILE]`: decides each test's request offline. */
export async function policiesTest(ctx: CommandContext): Promise<number> {
  const dir = typeof ctx.values['policies'] === 'string' ? ctx.values['policies'] : undefined;
  if (dir === undefined) throw new UsageError('`--policies DIR` is required: the folder of *.cedar files');
  if (ctx.positionals.length === 0) throw new UsageError('missing <FILE>: a test file (YAML or JSON)');
  const { folder, declarations, engine } = await load(ctx, dir);
  if (folder.problems.length > 0) {
    // The gateway would have refused these policies: no decision could be made with them.
    throw new LocalFileError(
      `${folder.problems.length === 1 ? 'a policy does' : `${folder.problems.length} policies do`} not validate, so no test can run:\n${problemLines(folder.problems).trimEnd()}`,
      'INVALID_POLICY',
    );
  }
  const tests: PolicyTestCase[] = [];
  for (const file of ctx.positionals) {
    let text: string;
    try {
      text = await readFile(ctx.resolvePath(file), 'utf8');
    } catch (e) {
      throw new LocalFileError(
        `cannot read the test file \`${file}\` (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        'INVALID_TEST_FILE',
      );
    }
    tests.push(...wrap(() => parseTestFile(text, file)));
  }
  const results = runPolicyTests(engine, folder.policies, declarations, tests);
  const failed = results.filter((r) => !r.passed);
  if (ctx.json) {
    ctx.out(
      `${JSON.stringify(
        {
          passed: results.length - failed.length,
          failed: failed.length,
          results: results.map((r) => ({
            test: r.test.label,
            passed: r.passed,
            expected: {
              decision: r.test.expect,
              ...(r.test.reason !== undefined ? { reason: r.test.reason } : {}),
              ...(r.test.policies !== undefined ? { policy_ids: r.test.policies } : {}),
            },
            got: {
              decision: r.got.decision,
              reason: r.got.reason,
              policy_ids: r.got.policy_ids,
              errors: r.got.errors,
            },
            mismatches: r.mismatches,
          })),
        },
        null,
        2,
      )}\n`,
    );
  } else {
    for (const r of results) {
      if (r.passed) {
        ctx.out(`ok    ${r.test.label}\n`);
        continue;
      }
      ctx.out(
        `FAIL  ${r.test.label}\n` +
          `      request   agent ${r.test.agent}, action ${r.test.action}${r.test.resource !== '' ? `, resource ${r.test.resource}` : ''}\n` +
          `      expected  ${r.test.expect}${r.test.reason !== undefined ? `, reason containing \`${r.test.reason}\`` : ''}${r.test.policies !== undefined ? `, policies [${r.test.policies.join(', ')}]` : ''}\n` +
          `      got       ${r.got.decision}: ${r.got.reason}\n` +
          `      policies  [${r.got.policy_ids.join(', ')}]\n` +
          r.got.errors.map((e) => `      error     ${e}\n`).join('') +
          r.mismatches.map((m) => `      mismatch  ${m}\n`).join(''),
      );
    }
    ctx.out(`${results.length - failed.length} passed, ${failed.length} failed\n`);
  }
  return failed.length === 0 ? EXIT.OK : EXIT.REFUSED;
}

async function load(ctx: CommandContext, dir: string) {
  const engine = offlineEngine();
  const schemaFile = typeof ctx.values['schema'] === 'string' ? ctx.values['schema'] : undefined;
  let schemaText: string | undefined;
  if (schemaFile !== undefined) {
    try {
      schemaText = await readFile(ctx.resolvePath(schemaFile), 'utf8');
    } catch (e) {
      throw new LocalFileError(
        `cannot read the schema file \`${schemaFile}\` (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
        'INVALID_SCHEMA_FILE',
      );
    }
  }
  const declarations: Declarations = wrap(() => declarationsFrom(schemaText, schemaFile ?? '', engine));
  const folder = await wrapAsync(() => readPolicyFolder(ctx.resolvePath(dir), engine, declarations, dir));
  return { engine, declarations, folder };
}

function problemLines(problems: readonly PolicyFileProblem[]): string {
  return problems
    .flatMap((p) => p.diagnostics.map((d) => `${p.file}:${d.line}:${d.column}: ${d.message}\n`))
    .join('');
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PolicyTestInputError) throw new LocalFileError(e.message, e.code);
    throw e;
  }
}

async function wrapAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof PolicyTestInputError) throw new LocalFileError(e.message, e.code);
    throw e;
  }
}
