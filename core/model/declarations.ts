import builtinFile from '../../infra/cedar/builtin-actions.json' with { type: 'json' };
import { ValidationError } from '../errors/errors.js';
import { ACTION_PATTERN } from './validate.js';

/**
 * Declarations: the shape of an action's `params` and of its extra `context` attributes, so that
 * policies can read them (`context.params.amount <= 100`) and Cedar's validator can type-check those
 * policies when they are written. Cedar 4 has no open records: what a policy reads must be declared.
 *
 * A declaration document maps an action id, or a prefix written `<prefix>.*` (every action that starts
 * with `<prefix>.`), to `{params?, context?}` in Cedar's JSON schema type syntax:
 *
 * ```json
 * { "payments.refund": { "params": { "type": "Record", "attributes": {
 *     "amount": { "type": "Long" }, "currency": { "type": "String" },
 *     "note": { "type": "String", "required": false } } } } }
 * ```
 *
 * Pure: no I/O. The gateway keeps the built-in declarations (the brokers' actions) and the admin's
 * (`PUT /schema`), checks each request against the one that applies, and passes the params to Cedar.
 */

/** The Cedar types a declaration may use: the ones JSON can carry exactly. */
export type DeclaredType =
  | { type: 'String' }
  | { type: 'Long' }
  | { type: 'Boolean' }
  | { type: 'Set'; element: DeclaredType }
  | { type: 'Record'; attributes: Record<string, DeclaredAttribute> };

/** A record attribute: a type, required unless `required: false` (Cedar's default). */
export type DeclaredAttribute = DeclaredType & { required?: boolean };

export interface ActionDeclaration {
  /** The shape of the request's `params`, read by policies as `context.params`. */
  params?: DeclaredType;
  /** Extra `context` attributes for this action, beside the schema's common `Context` ones. */
  context?: Record<string, DeclaredAttribute>;
}

/** Action id or `<prefix>.*` -> its declaration. */
export type Declarations = Readonly<Record<string, ActionDeclaration>>;

/** Most actions (keys) one document may declare. */
export const MAX_DECLARED_ACTIONS = 1000;
/** Deepest nesting of types (a record in a set in a record ... counts one level each). */
export const MAX_TYPE_DEPTH = 8;
/** Most attributes one record type may declare. */
const MAX_ATTRIBUTES = 256;
const PREFIX_KEY = /^([A-Za-z0-9][A-Za-z0-9._:/-]{0,196})\.\*$/;
/** Cedar's escape keys: a declared attribute may not pose as an entity or extension value. */
const RESERVED_ATTRIBUTES = new Set(['__entity', '__extn', '__expr']);
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

type Obj = Record<string, unknown>;

const isObject = (value: unknown): value is Obj =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : `\`${value}\``;
  if (typeof value === 'number')
    return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `a ${typeof value}`;
}

/** `a.b`, or `a["weird key"]` when the name is not an identifier. */
function member(path: string, name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

function refuse(path: string, message: string): never {
  throw new ValidationError(`\`${path}\` ${message}`, { path });
}

function onlyKeys(value: Obj, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      refuse(path, `has an unknown field \`${key}\`; allowed: ${allowed.join(', ')}`);
    }
  }
}

function parseType(value: unknown, path: string, depth: number, attribute: boolean): DeclaredAttribute {
  if (depth > MAX_TYPE_DEPTH) refuse(path, `is nested deeper than ${MAX_TYPE_DEPTH} levels`);
  if (!isObject(value)) refuse(path, `must be a type like {"type": "String"}, got ${describe(value)}`);
  const type = value['type'];
  const extra = attribute ? ['required'] : [];
  let parsed: DeclaredAttribute;
  switch (type) {
    case 'String':
    case 'Long':
    case 'Boolean':
      onlyKeys(value, ['type', ...extra], path);
      parsed = { type };
      break;
    case 'Set':
      onlyKeys(value, ['type', 'element', ...extra], path);
      parsed = { type, element: parseType(value['element'], `${path}.element`, depth + 1, false) };
      break;
    case 'Record': {
      onlyKeys(value, ['type', 'attributes', ...extra], path);
      const attributes = value['attributes'];
      if (!isObject(attributes))
        refuse(`${path}.attributes`, `must be an object, got ${describe(attributes)}`);
      const names = Object.keys(attributes);
      if (names.length > MAX_ATTRIBUTES)
        refuse(`${path}.attributes`, `has over ${MAX_ATTRIBUTES} attributes`);
      const parsedAttributes: Record<string, DeclaredAttribute> = {};
      for (const name of names) {
        const at = `${path}.attributes${member('', name)}`;
        if (name === '' || name.length > 128 || LONE_SURROGATE.test(name)) {
          refuse(at, 'must be named with 1 to 128 characters of valid Unicode');
        }
        if (RESERVED_ATTRIBUTES.has(name)) refuse(at, `uses the reserved Cedar key \`${name}\``);
        parsedAttributes[name] = parseType(attributes[name], at, depth + 1, true);
      }
      parsed = { type, attributes: parsedAttributes };
      break;
    }
    default:
      refuse(
        `${path}.type`,
        `must be one of String, Long, Boolean, Set, Record, got ${describe(type)} (JSON carries no other Cedar type exactly)`,
      );
  }
  if (attribute && value['required'] !== undefined) {
    if (typeof value['required'] !== 'boolean') {
      refuse(`${path}.required`, `must be true or false, got ${describe(value['required'])}`);
    }
    if (value['required'] === false) parsed.required = false;
  }
  return parsed;
}

/**
 * Parses a declaration document strictly: every failure names its path in the document.
 *
 * @param reservedContext context attribute names the action may not redeclare (the common `Context`).
 * @throws ValidationError with `details.path`.
 */
export function parseDeclarations(input: unknown, reservedContext: readonly string[] = []): Declarations {
  if (!isObject(input)) refuse('declarations', `must be an object of action ids, got ${describe(input)}`);
  const keys = Object.keys(input);
  if (keys.length > MAX_DECLARED_ACTIONS) {
    refuse('declarations', `declares ${keys.length} actions; at most ${MAX_DECLARED_ACTIONS}`);
  }
  const out: Record<string, ActionDeclaration> = {};
  for (const key of keys) {
    const path = `declarations[${JSON.stringify(key)}]`;
    if (!ACTION_PATTERN.test(key) && !PREFIX_KEY.test(key)) {
      refuse(path, 'must be named by an action id like `payments.refund` or a prefix like `mcp.github.*`');
    }
    const value = input[key];
    if (!isObject(value))
      refuse(path, `must be an object with \`params\` and/or \`context\`, got ${describe(value)}`);
    onlyKeys(value, ['params', 'context'], path);
    const declaration: ActionDeclaration = {};
    if (value['params'] !== undefined) {
      const params = parseType(value['params'], `${path}.params`, 1, false);
      declaration.params = params;
    }
    if (value['context'] !== undefined) {
      const context = value['context'];
      if (!isObject(context))
        refuse(`${path}.context`, `must be an object of attributes, got ${describe(context)}`);
      const attributes: Record<string, DeclaredAttribute> = {};
      for (const name of Object.keys(context)) {
        const at = `${path}.context${member('', name)}`;
        if (name === 'params') refuse(at, 'is reserved: declare the params shape under `params`');
        if (reservedContext.includes(name)) {
          refuse(at, 'is already a common context attribute (infra/cedar/schema.cedarschema.json)');
        }
        if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
          refuse(at, 'must be an identifier (letters, digits, _)');
        attributes[name] = parseType(context[name], at, 1, true);
      }
      declaration.context = attributes;
    }
    if (declaration.params === undefined && declaration.context === undefined) {
      refuse(path, 'declares nothing; give `params` and/or `context`');
    }
    out[key] = declaration;
  }
  return out;
}

/**
 * The declaration that applies to `action`: its own, else the one of its longest declared prefix
 * (`a.b.*` before `a.*`), else none.
 */
export function declarationFor(declarations: Declarations, action: string): ActionDeclaration | undefined {
  if (Object.hasOwn(declarations, action)) return declarations[action];
  for (let dot = action.lastIndexOf('.'); dot > 0; dot = action.lastIndexOf('.', dot - 1)) {
    const key = `${action.slice(0, dot)}.*`;
    if (Object.hasOwn(declarations, key)) return declarations[key];
  }
  return undefined;
}

/** `later` over `earlier`, key by key (an admin's declaration replaces a built-in one of the same key). */
export function mergeDeclarations(earlier: Declarations, later: Declarations): Declarations {
  return { ...earlier, ...later };
}

/**
 * Checks a JSON value against a declared type. Returns null when it fits, or one sentence naming the
 * first field that does not (`params.amount must be a Long (an integer), got a string`).
 * Extra record fields are refused: a field policy cannot see must not reach what runs.
 */
export function checkValue(type: DeclaredType, value: unknown, path: string): string | null {
  switch (type.type) {
    case 'String':
      if (typeof value !== 'string') return `\`${path}\` must be a String, got ${describe(value)}`;
      if (LONE_SURROGATE.test(value)) return `\`${path}\` is not valid Unicode`;
      return null;
    case 'Long':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return `\`${path}\` must be a Long (an integer within 2^53), got ${describe(value)}`;
      }
      return null;
    case 'Boolean':
      return typeof value === 'boolean' ? null : `\`${path}\` must be a Boolean, got ${describe(value)}`;
    case 'Set': {
      if (!Array.isArray(value)) return `\`${path}\` must be a Set (a JSON array), got ${describe(value)}`;
      for (let i = 0; i < value.length; i++) {
        const error = checkValue(type.element, value[i], `${path}[${i}]`);
        if (error) return error;
      }
      return null;
    }
    case 'Record': {
      if (!isObject(value)) return `\`${path}\` must be a Record (a JSON object), got ${describe(value)}`;
      for (const [name, attribute] of Object.entries(type.attributes)) {
        const at = member(path, name);
        if (!Object.hasOwn(value, name)) {
          if (attribute.required === false) continue;
          return `\`${at}\` is required`;
        }
        const error = checkValue(attribute, value[name], at);
        if (error) return error;
      }
      for (const name of Object.keys(value)) {
        if (!Object.hasOwn(type.attributes, name)) {
          return `\`${member(path, name)}\` is not declared (declared: ${Object.keys(type.attributes).join(', ') || 'none'})`;
        }
      }
      return null;
    }
  }
}

/**
 * Checks a request's `params` and `context` against the declaration for its action. Context
 * attributes the declaration (or the common `Context`) types must have that type; others pass through
 * unread. Returns null or the sentence naming the first field that does not fit.
 */
export function checkRequest(
  declaration: ActionDeclaration,
  commonContext: Readonly<Record<string, DeclaredAttribute>>,
  request: { params: unknown; context: Record<string, unknown> },
): string | null {
  if (declaration.params !== undefined) {
    if (request.params === null || request.params === undefined) return '`params` are required';
    const error = checkValue(declaration.params, request.params, 'params');
    if (error) return error;
  }
  const typed = { ...commonContext, ...declaration.context };
  for (const [name, value] of Object.entries(request.context)) {
    const attribute = typed[name];
    if (attribute === undefined) continue;
    const error = checkValue(attribute, value, `context.${name}`);
    if (error) return error;
  }
  if (declaration.context) {
    for (const [name, attribute] of Object.entries(declaration.context)) {
      if (attribute.required !== false && !Object.hasOwn(request.context, name)) {
        return `\`context.${name}\` is required`;
      }
    }
  }
  return null;
}

/**
 * The declarations that ship with the project (`infra/cedar/builtin-actions.json`: the brokers'
 * actions), so policies can constrain a broker's spec without an admin declaring it first.
 */
export const BUILTIN_DECLARATIONS: Declarations = Object.freeze(parseDeclarations(builtinFile));
