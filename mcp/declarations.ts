import {
  ACTION_PATTERN,
  type DeclaredAttribute,
  type DeclaredType,
  MAX_TYPE_DEPTH,
  parseDeclarations,
} from '../core/model/index.js';
import { mcpActionName } from '../sdk/helpers.js';
import { assertServerName } from './serverName.js';

/**
 * Cedar declarations from MCP tools' `inputSchema` (JSON Schema), so policies can read a tool's
 * arguments as `context.params` (`zt schema put`). JSON Schema says far more than Cedar's types can; the
 * mapping keeps what Cedar can check exactly and reports the rest:
 *
 * | JSON Schema | Cedar | note |
 * |---|---|---|
 * | `string` (also `enum`/`const` of strings) | `String` | formats, patterns, lengths and the enum's values are not checked |
 * | `integer` | `Long` | bounds are not checked; values beyond 2^53 are refused by the gateway |
 * | `boolean` | `Boolean` | |
 * | `array` with one `items` schema | `Set` of its type | Cedar sets are unordered and drop repeats: a policy cannot see order or count |
 * | `object` with `properties` | `Record`, attributes required as `required` says | Cedar records are closed: an argument not in `properties` makes the call a deny |
 *
 * Not mappable, so the tool gets no declaration (its arguments are hashed into every record, not
 * evaluated): `number` (Cedar has no non-integers), `null` and nullable types, a list of types,
 * `anyOf`/`oneOf`/`allOf`/`not`, `$ref`, tuples (`items` as a list, `prefixItems`), an object without
 * `properties` (a map), a schema without `type`, nesting deeper than 8, a tool name that cannot be an action id.
 */

/** What {@link toolDeclarations} made of a server's tools. */
export interface ToolDeclarations {
  /** The declaration document: `mcp.<server>.<tool>` -> `{params}`, ready for `zt schema put`. */
  declarations: Record<string, { params: DeclaredType }>;
  /** Tools left undeclared, each with why. */
  skipped: Array<{ tool: string; reason: string }>;
  /** What the declarations of declared tools do not check (formats, bounds, order...). */
  notes: Array<{ tool: string; note: string }>;
}

/** An MCP tool as `tools/list` lists it (only what the mapping reads). */
export interface McpToolSchema {
  name: string;
  inputSchema?: unknown;
}

class Unmappable extends Error {}

/** Maps each tool's `inputSchema` to a Cedar declaration of `mcp.<server>.<tool>` (see the module doc). */
export function toolDeclarations(server: string, tools: readonly McpToolSchema[]): ToolDeclarations {
  assertServerName(server);
  const out: ToolDeclarations = { declarations: {}, skipped: [], notes: [] };
  for (const tool of tools) {
    let action: string;
    try {
      action = mcpActionName(server, tool.name);
    } catch {
      out.skipped.push({ tool: String(tool.name), reason: 'the tool has no name' });
      continue;
    }
    if (!ACTION_PATTERN.test(action)) {
      out.skipped.push({
        tool: tool.name,
        reason: `\`${action}\` is not an action id (1-200 letters, digits, \`.\`, \`_\`, \`:\`, \`/\` or \`-\`)`,
      });
      continue;
    }
    if (Object.hasOwn(out.declarations, action)) {
      out.skipped.push({ tool: tool.name, reason: 'the server lists this tool name twice' });
      continue;
    }
    const notes: string[] = [];
    try {
      const params = mapObject(tool.inputSchema ?? { type: 'object' }, 'arguments', 1, notes);
      const declaration = { [action]: { params } };
      parseDeclarations(declaration); // what `PUT /schema` will check: never print what it would refuse
      out.declarations[action] = { params };
      for (const note of notes) out.notes.push({ tool: tool.name, note });
    } catch (error) {
      out.skipped.push({ tool: tool.name, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return out;
}

function mapObject(schema: unknown, path: string, depth: number, notes: string[]): DeclaredType {
  if (!isObject(schema)) throw new Unmappable(`\`${path}\` has no schema object`);
  const type = mapType(schema, path, depth, notes);
  if (type.type !== 'Record') throw new Unmappable(`\`${path}\` is not an object schema`);
  return type;
}

function mapType(schema: unknown, path: string, depth: number, notes: string[]): DeclaredType {
  if (depth > MAX_TYPE_DEPTH)
    throw new Unmappable(`\`${path}\` is nested deeper than ${MAX_TYPE_DEPTH} levels`);
  if (!isObject(schema)) throw new Unmappable(`\`${path}\` has a boolean or missing schema`);
  for (const keyword of ['anyOf', 'oneOf', 'allOf', 'not', '$ref', 'if', 'prefixItems']) {
    if (schema[keyword] !== undefined) throw new Unmappable(`\`${path}\` uses \`${keyword}\``);
  }
  let type = schema['type'];
  if (type === undefined) type = impliedType(schema);
  if (Array.isArray(type)) {
    throw new Unmappable(`\`${path}\` may be any of ${type.map((t) => `\`${String(t)}\``).join(', ')}`);
  }
  switch (type) {
    case 'string':
      if (
        ['format', 'pattern', 'minLength', 'maxLength', 'enum', 'const'].some((k) => schema[k] !== undefined)
      ) {
        notes.push(
          `\`${path}\`: only its being a string is checked, not its format, pattern, length or values`,
        );
      }
      return { type: 'String' };
    case 'integer':
      if (
        ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'].some(
          (k) => schema[k] !== undefined,
        )
      ) {
        notes.push(`\`${path}\`: only its being an integer is checked, not its bounds`);
      }
      return { type: 'Long' };
    case 'boolean':
      return { type: 'Boolean' };
    case 'number':
      throw new Unmappable(`\`${path}\` is a \`number\`: Cedar has no non-integer numbers`);
    case 'null':
      throw new Unmappable(`\`${path}\` is \`null\`: Cedar has no null`);
    case 'array': {
      const items = schema['items'];
      if (!isObject(items)) throw new Unmappable(`\`${path}\` is an array without one \`items\` schema`);
      notes.push(`\`${path}\`: a Cedar set, so a policy sees neither the order nor repeated items`);
      return { type: 'Set', element: mapType(items, `${path}[]`, depth + 1, notes) };
    }
    case 'object': {
      const properties = schema['properties'];
      if (
        properties === undefined &&
        schema['additionalProperties'] !== undefined &&
        schema['additionalProperties'] !== false
      ) {
        throw new Unmappable(
          `\`${path}\` is a map (\`additionalProperties\` without \`properties\`): Cedar records are closed`,
        );
      }
      if (properties !== undefined && !isObject(properties))
        throw new Unmappable(`\`${path}.properties\` is not an object`);
      const required = Array.isArray(schema['required']) ? (schema['required'] as unknown[]) : [];
      const attributes: Record<string, DeclaredAttribute> = {};
      for (const [name, property] of Object.entries(properties ?? {})) {
        const mapped: DeclaredAttribute = mapType(property, member(path, name), depth + 1, notes);
        if (!required.includes(name)) mapped.required = false;
        attributes[name] = mapped;
      }
      if (schema['additionalProperties'] !== false) {
        notes.push(
          `\`${path}\`: an argument not in its \`properties\` makes the call a deny (Cedar records are closed)`,
        );
      }
      return { type: 'Record', attributes };
    }
    default:
      throw new Unmappable(
        type === undefined
          ? `\`${path}\` has no \`type\``
          : `\`${path}\` has the unknown type \`${String(type)}\``,
      );
  }
}

/** `enum`/`const` of strings alone mean a string. */
function impliedType(schema: Record<string, unknown>): string | undefined {
  const values = schema['enum'] ?? (schema['const'] !== undefined ? [schema['const']] : undefined);
  if (Array.isArray(values) && values.length > 0 && values.every((v) => typeof v === 'string'))
    return 'string';
  return undefined;
}

function member(path: string, name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
