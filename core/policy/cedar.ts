import { setFlagsFromString } from 'node:v8';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import schemaFile from '../../infra/cedar/schema.cedarschema.json' with { type: 'json' };
import { type Declarations, type DeclaredAttribute, declarationFor } from '../model/declarations.js';

// Node 20 V8: every Cedar export takes and returns a JS value (wasm `externref`), and TurboFan inlines
// that JS-to-Wasm call into the optimized code of its caller (PolicyEngine.evaluate, via the wasm-bindgen
// glue). V8 11.3's deoptimizer cannot rebuild an `externref` result: a lazy deoptimization of that caller
// while Cedar runs aborts the process ("unreachable code" in Deoptimizer::DoComputeBuiltinContinuation).
// Cedar builds every answer with JSON.parse inside that call, and after a full GC a fresh answer map can
// invalidate the caller's field-type dependencies right there, so sustained load hits it. Turning off that
// one inlining removes the pattern (a Cedar call is tens of µs; the inlined wrapper saved nanoseconds).
// Set before any caller is optimized; also on Node 22, which could not be checked here. Reproduction:
// bench/v8-repro/; guarded by test/core/cedarV8.test.ts and `npm run bench:soak`.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

/**
 * Thin, pure helpers over `@cedar-policy/cedar-wasm`: splitting stored policy text into statements,
 * reading their scope, building the validation schema, turning Cedar's byte offsets into line/column,
 * and converting request JSON into Cedar values. No I/O (the wasm module is loaded by the import).
 */

export { cedar };

/** A Cedar schema in its JSON form (the only form we augment with actions). */
export type CedarSchema = cedar.SchemaJson<string>;

/**
 * The schema in `infra/cedar/schema.cedarschema.json`: entity types `Agent` and `Resource` and the
 * common type `Context`, with no actions (those come from the policies, see {@link schemaWithActions}).
 */
export const DEFAULT_SCHEMA: CedarSchema = deepFreeze(schemaFile) as unknown as CedarSchema;

/** The attributes of the schema's common `Context` type (empty when it has none). */
export function commonContextOf(schema: CedarSchema): Readonly<Record<string, DeclaredAttribute>> {
  const context = schema['']?.commonTypes?.['Context'] as
    | { type?: string; attributes?: Record<string, DeclaredAttribute> }
    | undefined;
  return context?.type === 'Record' && context.attributes ? context.attributes : {};
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** A diagnostic with a 1-based line and column (in characters) into the policy text. */
export interface PolicyDiagnostic {
  message: string;
  line: number;
  column: number;
}

/** One `permit`/`forbid` statement of a stored policy, with its source text and Cedar's JSON form. */
export interface ParsedStatement {
  text: string;
  json: cedar.PolicyJson;
}

export type ParseResult =
  | { ok: true; statements: ParsedStatement[] }
  | { ok: false; errors: cedar.DetailedError[]; templates: boolean };

/**
 * Splits policy text into its static statements, in source order. Templates (slots) are refused.
 * The common case (one statement) costs one Cedar call.
 */
export function parseStatements(text: string): ParseResult {
  const single = cedar.policyToJson(text);
  if (single.type === 'success') return { ok: true, statements: [{ text, json: single.json }] };
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return { ok: false, errors: parts.errors, templates: false };
  if (parts.policy_templates.length > 0) return { ok: false, errors: single.errors, templates: true };
  const statements: ParsedStatement[] = [];
  for (const part of sourceOrder(parts.policies)) {
    const parsed = cedar.policyToJson(part);
    if (parsed.type === 'failure') return { ok: false, errors: parsed.errors, templates: false };
    statements.push({ text: part, json: parsed.json });
  }
  return { ok: true, statements };
}

/**
 * `policySetTextToParts` returns statements sorted by the ids Cedar gave them (`policy0`, `policy1`,
 * `policy10`, ..., `policy2`: string order); undo that so statement `#n` is the n-th in the text.
 * Only the numbering depends on this; any permutation would still be a deterministic bijection.
 */
function sourceOrder(parts: string[]): string[] {
  const ids = parts.map((_, i) => `policy${i}`).sort();
  const ordered = new Array<string>(parts.length);
  parts.forEach((part, k) => {
    ordered[Number((ids[k] as string).slice('policy'.length))] = part;
  });
  return ordered;
}

/** What a statement's scope says about the principal and the action of requests it can match. */
export interface StatementScope {
  effect: cedar.Effect;
  /** `any`: every agent; `never`: no agent (another entity type); otherwise exactly that agent id. */
  principal: 'any' | 'never' | { agentId: string };
  /** `any`: every action; `never`: no action of ours; otherwise one of these action ids. */
  actions: 'any' | 'never' | string[];
}

function uidOf(uid: cedar.EntityUidJson): { type: string; id: string } {
  return '__entity' in uid ? uid.__entity : uid;
}

/**
 * Reads a statement's scope for slicing.
 *
 * INVARIANT: requests are `Agent::"<id>"` / `Action::"<id>"` and the entities we pass give neither
 * agents nor actions any parents, so `in E` is the same as `== E`. Anything unexpected maps to `any`:
 * slicing may keep a statement that cannot match, never drop one that can.
 */
export function scopeOf(json: cedar.PolicyJson): StatementScope {
  return {
    effect: json.effect,
    principal: principalScope(json.principal),
    actions: actionScope(json.action),
  };
}

function principalScope(c: cedar.PrincipalConstraint): StatementScope['principal'] {
  if (c.op === '==' && 'entity' in c) {
    const uid = uidOf(c.entity);
    return uid.type === 'Agent' ? { agentId: uid.id } : 'never';
  }
  if (c.op === 'in' && 'entity' in c) {
    const uid = uidOf(c.entity);
    return uid.type === 'Agent' ? { agentId: uid.id } : 'any';
  }
  if (c.op === 'is') {
    if (c.entity_type !== 'Agent') return 'never';
    if (c.in && 'entity' in c.in) {
      const uid = uidOf(c.in.entity);
      return uid.type === 'Agent' ? { agentId: uid.id } : 'any';
    }
    return 'any';
  }
  return 'any';
}

function actionScope(c: cedar.ActionConstraint): StatementScope['actions'] {
  if (c.op === 'All') return 'any';
  let uids: cedar.EntityUidJson[];
  if ('entity' in c) uids = [c.entity];
  else if ('entities' in c) uids = c.entities;
  else return 'any';
  const ids = uids.map(uidOf).flatMap((uid) => (uid.type === 'Action' ? [uid.id] : []));
  return ids.length === 0 ? 'never' : ids;
}

/** Every `Action::"..."` a statement names, in its scope or its conditions. */
export function actionsNamed(json: cedar.PolicyJson, into: Set<string>): void {
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item);
    } else if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (o['type'] === 'Action' && typeof o['id'] === 'string') into.add(o['id']);
      for (const value of Object.values(o)) walk(value);
    }
  };
  walk(json.action);
  walk(json.conditions);
}

/**
 * An action id no request can carry (request actions start with a letter or digit): declared so that
 * a statement with an unconstrained `action` still has an action to be type-checked against.
 */
export const PLACEHOLDER_ACTION = '*';

/**
 * The schema with `actions` declared: each applies to principal `Agent`, resource `Resource` and
 * context `Context` (the common type, when the schema has one; an empty record otherwise). An action
 * with a declaration (see `declarations.ts`) gets the common attributes plus its declared context
 * attributes and, when it declares params, a required `params` attribute of the declared shape.
 * Actions the schema already declares are kept as they are.
 */
export function schemaWithActions(
  base: CedarSchema,
  actions: Iterable<string>,
  declarations: Declarations = {},
): CedarSchema {
  const schema = structuredClone(base) as CedarSchema;
  const ns = schema[''] ?? { entityTypes: {}, actions: {} };
  schema[''] = ns;
  ns.actions ??= {};
  const context: cedar.Type<string> =
    ns.commonTypes && 'Context' in ns.commonTypes ? { type: 'Context' } : { type: 'Record', attributes: {} };
  const common = commonContextOf(base);
  for (const action of [PLACEHOLDER_ACTION, ...actions]) {
    if (Object.hasOwn(ns.actions, action)) continue;
    const declared = action === PLACEHOLDER_ACTION ? undefined : declarationFor(declarations, action);
    const actionContext: cedar.Type<string> = declared
      ? ({
          type: 'Record',
          attributes: {
            ...common,
            ...declared.context,
            ...(declared.params ? { params: { ...declared.params, required: true } } : {}),
          },
        } as cedar.Type<string>)
      : context;
    ns.actions[action] = {
      appliesTo: { principalTypes: ['Agent'], resourceTypes: ['Resource'], context: actionContext },
    };
  }
  return schema;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Cedar's source offsets count UTF-8 bytes; diagnostics count lines and characters from 1. */
export function lineColumn(text: string, byteOffset: number, bytes = encoder.encode(text)): PolicyDiagnostic {
  const prefix = decoder.decode(bytes.subarray(0, Math.max(0, Math.min(byteOffset, bytes.length))));
  const lastBreak = prefix.lastIndexOf('\n');
  let line = 1;
  for (let i = prefix.indexOf('\n'); i !== -1; i = prefix.indexOf('\n', i + 1)) line++;
  const column = [...prefix.slice(lastBreak + 1)].length + 1;
  return { message: '', line, column };
}

const NOISE = [
  /^for policy `policy\d+`, /,
  /^failed to parse polic(?:y|ies)(?: with id `[^`]*`)? from string: /,
  /, for policy `policy\d+`/,
];

function clean(message: string): string {
  let text = message;
  for (const pattern of NOISE) text = text.replace(pattern, '');
  return text;
}

/** Cedar errors on `text` as diagnostics, sorted by position, duplicates dropped. */
export function toDiagnostics(text: string, errors: readonly cedar.DetailedError[]): PolicyDiagnostic[] {
  const bytes = encoder.encode(text);
  const seen = new Set<string>();
  const out: PolicyDiagnostic[] = [];
  for (const error of errors) {
    const location = error.sourceLocations?.[0];
    let message = clean(error.message);
    if (location?.label) message += `: ${clean(location.label)}`;
    if (error.help) message += ` (${clean(error.help)})`;
    const at = location ? lineColumn(text, location.start, bytes) : { line: 1, column: 1 };
    const key = `${at.line}:${at.column}:${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ message, line: at.line, column: at.column });
  }
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

const MAX_DEPTH = 32;
const RESERVED_KEYS = new Set(['__entity', '__extn', '__expr']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Converts request JSON (context, agent attributes) into a Cedar record, or says why it cannot be.
 * Cedar has no floats and no null; integers must be exact (safe); strings must be valid Unicode; and
 * Cedar's escape keys (`__entity`, `__extn`) are refused so caller data stays plain data (a context
 * value cannot pose as an entity reference).
 */
export function toCedarRecord(
  value: unknown,
  path: string,
): { ok: true; value: Record<string, cedar.CedarValueJson> } | { ok: false; error: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, error: `\`${path}\` must be a JSON object` };
  }
  try {
    return { ok: true, value: convert(value, path, 0) as Record<string, cedar.CedarValueJson> };
  } catch (error) {
    if (error instanceof NotRepresentable) return { ok: false, error: error.message };
    throw error;
  }
}

class NotRepresentable extends Error {}

function convert(value: unknown, path: string, depth: number): cedar.CedarValueJson {
  if (depth > MAX_DEPTH) throw new NotRepresentable(`\`${path}\` is nested deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new NotRepresentable(`\`${path}\` is not valid Unicode`);
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new NotRepresentable(`\`${path}\` is ${value}; Cedar numbers are integers (within 2^53)`);
      }
      return value;
    case 'object': {
      if (value === null) throw new NotRepresentable(`\`${path}\` is null; Cedar has no null`);
      if (Array.isArray(value)) return value.map((v, i) => convert(v, `${path}[${i}]`, depth + 1));
      const out: Record<string, cedar.CedarValueJson> = {};
      for (const [key, v] of Object.entries(value)) {
        if (RESERVED_KEYS.has(key))
          throw new NotRepresentable(`\`${path}.${key}\` uses a reserved Cedar key`);
        if (LONE_SURROGATE.test(key)) throw new NotRepresentable(`a key in \`${path}\` is not valid Unicode`);
        out[key] = convert(v, `${path}.${key}`, depth + 1);
      }
      return out;
    }
    default:
      throw new NotRepresentable(`\`${path}\` is ${typeof value}, which is not JSON`);
  }
}
