import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ZtError } from '../../core/errors/index.js';
import type { EvaluationResult, PolicyDiagnostic } from '../../core/gateway/index.js';
import {
  BUILTIN_DECLARATIONS,
  type Declarations,
  mergeDeclarations,
  parseDecisionRequest,
  parseDeclarations,
  parseRegisterAgentRequest,
} from '../../core/model/index.js';
import { assertPolicyId, type CedarPolicy, PolicyEngine } from '../../core/policy/index.js';

/**
 * Offline policy checks for `zt policies test` and `zt policies validate`: a folder of `*.cedar` files and a
 * declarations file, evaluated by core's own `PolicyEngine` and request parsers, exactly as the gateway
 * evaluates a decision (same request parsing, same declared-shape checks, same Cedar call), so a test that
 * passes here decides the same way there, for the same policies and declarations.
 */

/** A file or an entry that cannot be used as given: exit 2, naming the file (and entry). */
export class PolicyTestInputError extends Error {
  override readonly name = 'PolicyTestInputError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** One policy file that does not validate, with Cedar's diagnostics (1-based line and column). */
export interface PolicyFileProblem {
  file: string;
  policyId: string;
  diagnostics: PolicyDiagnostic[];
}

/** A policy folder, read and validated as the gateway validates a `PUT /policies/{id}`. */
export interface PolicyFolder {
  policies: CedarPolicy[];
  /** Where each policy came from, by id. */
  files: Record<string, string>;
  problems: PolicyFileProblem[];
}

/** One request of a test file, and what it should decide. */
export interface PolicyTestCase {
  /** `FILE: test N` or `FILE: test N (name)`, for messages. */
  label: string;
  name?: string;
  agent: string;
  attributes: Record<string, unknown>;
  action: string;
  resource: string;
  context: Record<string, unknown>;
  params: unknown;
  expect: 'allow' | 'deny';
  /** The reason must contain this text. */
  reason?: string;
  /** The determining policy ids, exactly (sorted). */
  policies?: string[];
}

/** The result of one case. */
export interface PolicyTestResult {
  test: PolicyTestCase;
  got: EvaluationResult;
  passed: boolean;
  /** What did not match, one line each (empty when passed). */
  mismatches: string[];
}

const CASE_KEYS = [
  'name',
  'agent',
  'attributes',
  'action',
  'resource',
  'params',
  'context',
  'expect',
  'reason',
  'policies',
] as const;

/** A fresh engine with the gateway's schema (the same `new PolicyEngine()` the gateway wires). */
export function offlineEngine(): PolicyEngine {
  return new PolicyEngine();
}

/**
 * The declarations a decision uses: the built-in ones with the file's over them, the file being what
 * `zt schema put` takes (a JSON object of action -> declaration), checked by the same parser as `PUT /schema`.
 * No file: the built-in ones alone (a gateway whose admin never put a schema).
 */
export function declarationsFrom(text: string | undefined, file: string, engine: PolicyEngine): Declarations {
  if (text === undefined) return BUILTIN_DECLARATIONS;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PolicyTestInputError(
      'INVALID_SCHEMA_FILE',
      `\`${file}\` is not valid JSON: ${(e as Error).message.toLowerCase()}`,
    );
  }
  try {
    return mergeDeclarations(
      BUILTIN_DECLARATIONS,
      parseDeclarations(value, Object.keys(engine.commonContext)),
    );
  } catch (e) {
    if (e instanceof ZtError)
      throw new PolicyTestInputError('INVALID_SCHEMA_FILE', `\`${file}\`: ${e.message}`);
    throw e;
  }
}

/**
 * Reads every `*.cedar` file of `dir` (not recursive, sorted by name) as the policy whose id is the file
 * name without `.cedar`, and validates each against `declarations` as the gateway does at write time.
 */
export async function readPolicyFolder(
  dir: string,
  engine: PolicyEngine,
  declarations: Declarations,
  /** How files are named in problems (the folder as the user gave it); default `dir`. */
  shownDir: string = dir,
): Promise<PolicyFolder> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.cedar')).sort();
  } catch (e) {
    throw new PolicyTestInputError(
      'INVALID_POLICY_FOLDER',
      `cannot read the policy folder \`${shownDir}\` (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  if (names.length === 0) {
    throw new PolicyTestInputError('INVALID_POLICY_FOLDER', `\`${shownDir}\` holds no \`*.cedar\` file`);
  }
  const folder: PolicyFolder = { policies: [], files: {}, problems: [] };
  for (const name of names) {
    const file = join(shownDir, name);
    const policyId = basename(name, '.cedar');
    try {
      assertPolicyId(policyId);
    } catch (e) {
      folder.problems.push({
        file,
        policyId,
        diagnostics: [
          {
            message: `the file name gives an invalid policy id: ${(e as Error).message}`,
            line: 1,
            column: 1,
          },
        ],
      });
      continue;
    }
    const cedar = await readFile(join(dir, name), 'utf8');
    const validation = engine.validate(policyId, cedar, declarations);
    if (!validation.ok) folder.problems.push({ file, policyId, diagnostics: validation.diagnostics });
    folder.policies.push({ policyId, cedar });
    folder.files[policyId] = file;
  }
  return folder;
}

/**
 * Parses a test file (YAML, or JSON, which YAML reads too): either a list of cases or `{tests: [...]}`.
 * Every case must name `agent`, `action` and `expect` (allow or deny), may give `name`, `attributes` (the
 * agent's, as registered), `resource`, `params`, `context`, `reason` (text the reason must contain) and
 * `policies` (the determining policy ids), nothing else; the request must be one the gateway accepts
 * (`POST /actions` checks). Throws a {@link PolicyTestInputError} naming the file and the entry otherwise.
 */
export function parseTestFile(text: string, file: string): PolicyTestCase[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, prettyErrors: false });
  } catch (e) {
    throw new PolicyTestInputError(
      'INVALID_TEST_FILE',
      `\`${file}\` is not valid YAML or JSON: ${firstLine((e as Error).message)}`,
    );
  }
  const list =
    isObject(doc) && Object.keys(doc).length === 1 && Array.isArray(doc['tests']) ? doc['tests'] : doc;
  if (!Array.isArray(list) || list.length === 0) {
    throw new PolicyTestInputError(
      'INVALID_TEST_FILE',
      `\`${file}\` must hold a non-empty list of tests (or \`tests:\` with one)`,
    );
  }
  return list.map((entry, i) => parseCase(entry, `${file}: test ${i + 1}`));
}

function parseCase(entry: unknown, where: string): PolicyTestCase {
  const bad = (label: string, message: string) =>
    new PolicyTestInputError('INVALID_TEST_ENTRY', `${label}: ${message}`);
  if (!isObject(entry)) throw bad(where, 'expected an object with `agent`, `action` and `expect`');
  const name = typeof entry['name'] === 'string' ? entry['name'] : undefined;
  const label = name !== undefined ? `${where} (\`${name}\`)` : where;
  const unknown = Object.keys(entry).filter((k) => !(CASE_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw bad(
      label,
      `unknown field \`${unknown[0]}\`; expected ${CASE_KEYS.map((k) => `\`${k}\``).join(', ')}`,
    );
  }
  if (entry['name'] !== undefined && name === undefined) throw bad(label, '`name` must be a string');
  const expect = entry['expect'];
  if (expect !== 'allow' && expect !== 'deny') {
    throw bad(
      label,
      `\`expect\` must be \`allow\` or \`deny\`, got \`${JSON.stringify(expect) ?? 'nothing'}\``,
    );
  }
  const reason = entry['reason'];
  if (reason !== undefined && typeof reason !== 'string') throw bad(label, '`reason` must be a string');
  const policies = entry['policies'];
  if (policies !== undefined && (!Array.isArray(policies) || !policies.every((p) => typeof p === 'string'))) {
    throw bad(label, '`policies` must be a list of policy ids');
  }
  // The request as the gateway reads a `POST /actions` body: the same checks, the same defaults.
  let request: ReturnType<typeof parseDecisionRequest>;
  let attributes: Record<string, unknown>;
  try {
    if (entry['agent'] === undefined) throw new ZtError('VALIDATION_FAILED', '`agent` is required');
    request = parseDecisionRequest({
      actor: entry['agent'],
      action: entry['action'],
      ...(entry['resource'] !== undefined ? { resource: entry['resource'] } : {}),
      ...(entry['context'] !== undefined ? { context: entry['context'] } : {}),
      ...(entry['params'] !== undefined ? { params: entry['params'] } : {}),
    });
    attributes = parseRegisterAgentRequest({
      agentId: request.actor,
      ...(entry['attributes'] !== undefined ? { attributes: entry['attributes'] } : {}),
    }).attributes;
  } catch (e) {
    if (e instanceof ZtError) throw bad(label, e.message.replace(/`actor`/g, '`agent`'));
    throw e;
  }
  return {
    label,
    ...(name !== undefined ? { name } : {}),
    agent: request.actor,
    attributes,
    action: request.action,
    resource: request.resource,
    context: request.context,
    params: request.params,
    expect,
    ...(reason !== undefined ? { reason } : {}),
    ...(policies !== undefined ? { policies: [...(policies as string[])].sort() } : {}),
  };
}

/** Decides each case as the gateway would (an active agent, the folder as the enforced set) and compares. */
export function runPolicyTests(
  engine: PolicyEngine,
  policies: readonly CedarPolicy[],
  declarations: Declarations,
  tests: readonly PolicyTestCase[],
): PolicyTestResult[] {
  return tests.map((test) => {
    const got = engine.evaluate(
      policies,
      {
        agentId: test.agent,
        agentAttributes: test.attributes,
        action: test.action,
        resource: test.resource,
        context: test.context,
        params: test.params,
      },
      declarations,
    );
    const mismatches: string[] = [];
    if (got.decision !== test.expect)
      mismatches.push(`decision: expected ${test.expect}, got ${got.decision}`);
    if (test.reason !== undefined && !got.reason.includes(test.reason)) {
      mismatches.push(`reason: expected it to contain \`${test.reason}\`, got \`${got.reason}\``);
    }
    if (test.policies !== undefined && test.policies.join(',') !== got.policy_ids.join(',')) {
      mismatches.push(`policies: expected [${test.policies.join(', ')}], got [${got.policy_ids.join(', ')}]`);
    }
    return { test, got, passed: mismatches.length === 0, mismatches };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function firstLine(text: string): string {
  const line = (text.split('\n')[0] ?? text).replace(/\.$/, '');
  return line.charAt(0).toLowerCase() + line.slice(1);
}
