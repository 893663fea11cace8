import { ValidationError } from '../errors/errors.js';
import { canonicalize, sha256Hex } from '../model/canonical.js';
import { ACTION_PATTERN, ID_PATTERN } from '../model/validate.js';
import { type CedarPolicy, LONE_SURROGATE } from './storedPolicy.js';

/**
 * The allow shorthand (`POST /policies/allow`): its input checks, and the one `permit` it compiles to,
 * written with Cedar string and value literals.
 */

/** `POST /policies/allow`: the narrow-policy shorthand. */
export interface AllowPolicyInput {
  action: string;
  agentId?: string;
  resource?: string;
  reason?: string;
  /** Exact values the request's params must carry: each becomes `context.params.<name> == <value>`. */
  params?: Record<string, unknown>;
}

const MAX_RESOURCE = 1024;
const MAX_REASON = 512;

/** A Cedar string literal: quotes, backslashes and control or line-separator characters escaped. */
export function cedarString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp === 0x2028 || cp === 0x2029) {
      out += `\\u{${cp.toString(16)}}`;
    } else out += ch;
  }
  return `${out}"`;
}

function readOptional(input: Record<string, unknown>, field: string, max: number): string | undefined {
  const value = input[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw new ValidationError(`\`${field}\` must be a string, got a ${typeof value}`);
  if (value.length > max) throw new ValidationError(`\`${field}\` must be at most ${max} characters`);
  if (LONE_SURROGATE.test(value)) throw new ValidationError(`\`${field}\` is not valid Unicode`);
  return value;
}

/**
 * The narrow-policy shorthand of `POST /policies/allow`: one `permit` for exactly `action`, and for
 * exactly `agentId` / `resource` when given (any agent / any resource otherwise), with the reason as
 * a `@reason("...")` annotation. The id is `allow-<action>[-<agentId>]`, sanitized to
 * {@link POLICY_ID_PATTERN} and cut to fit, then `-` and 12 hex digits of the SHA-256 of
 * `{action, agentId, resource}`: the readable part alone is ambiguous (`a-b` + no agent vs `a` +
 * agent `b`), the suffix makes distinct grants distinct ids, and the same grant the same id (a
 * repeat with a new reason replaces it).
 *
 * @throws ValidationError on a malformed action, agent id, resource or reason.
 */
export function allowPolicy(input: AllowPolicyInput): CedarPolicy {
  if (input === null || typeof input !== 'object') throw new ValidationError('input must be an object');
  const fields = input as unknown as Record<string, unknown>;
  const action = fields['action'];
  if (typeof action !== 'string' || !ACTION_PATTERN.test(action)) {
    throw new ValidationError(
      `\`action\` must be an action id like \`aws.ec2.terminate_instances\` (1-200 letters, digits, \`.\`, \`_\`, \`:\`, \`/\` or \`-\`, starting with a letter or digit), got ${describe(action)}`,
    );
  }
  const agentId = fields['agentId'];
  if (agentId !== undefined && (typeof agentId !== 'string' || !ID_PATTERN.test(agentId))) {
    throw new ValidationError(
      `\`agentId\` must be 1-64 letters, digits, \`.\`, \`_\` or \`-\`, starting with a letter or digit, got ${describe(agentId)}`,
    );
  }
  const resource = readOptional(fields, 'resource', MAX_RESOURCE);
  const reason = readOptional(fields, 'reason', MAX_REASON);
  const params = fields['params'];
  if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
    throw new ValidationError(`\`params\` must be an object of exact values, got ${describe(params)}`);
  }
  const conditions =
    params === undefined
      ? []
      : Object.entries(params as Record<string, unknown>).map(([name, value]) => {
          const at = paramPath(name);
          return `context.params has ${cedarString(name)} && ${at} == ${cedarLiteral(value, `params.${name}`)}`;
        });

  const digest = sha256Hex(
    canonicalize({
      action,
      agentId: agentId ?? null,
      resource: resource ?? null,
      // absent from the hash when not given, so ids of allows made before params existed do not change
      ...(params === undefined ? {} : { params }),
    }),
  ).slice(0, 12);
  const readable = `allow-${action}${agentId === undefined ? '' : `-${agentId}`}`
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 128 - 1 - digest.length);
  const policyId = `${readable}-${digest}`;

  const lines: string[] = [];
  if (reason !== undefined) lines.push(`@reason(${cedarString(reason)})`);
  lines.push(
    'permit (',
    `  principal${agentId === undefined ? '' : ` == Agent::${cedarString(agentId)}`},`,
    `  action == Action::${cedarString(action)},`,
    `  resource${resource === undefined ? '' : ` == Resource::${cedarString(resource)}`}`,
    conditions.length === 0 ? ');' : ')',
  );
  if (conditions.length > 0) lines.push(`when {\n  ${conditions.join(' &&\n  ')}\n};`);
  return { policyId, cedar: `${lines.join('\n')}\n` };
}

/** `context.params.name`, or `context.params["name"]` when the name is not an identifier. */
function paramPath(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
    ? `context.params.${name}`
    : `context.params[${cedarString(name)}]`;
}

/**
 * A JSON value as a Cedar literal: strings, safe integers, booleans, arrays as sets, objects as
 * records. Null and non-integers have no Cedar form and are refused.
 */
function cedarLiteral(value: unknown, path: string, depth = 0): string {
  if (depth > 8) throw new ValidationError(`\`${path}\` is nested deeper than 8 levels`);
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new ValidationError(`\`${path}\` is not valid Unicode`);
    return cedarString(value);
  }
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new ValidationError(`\`${path}\` must be an integer (Cedar has no other numbers), got ${value}`);
    }
    return String(value);
  }
  if (Array.isArray(value))
    return `[${value.map((v, i) => cedarLiteral(v, `${path}[${i}]`, depth + 1)).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(
      ([k, v]) => `${cedarString(k)}: ${cedarLiteral(v, `${path}.${k}`, depth + 1)}`,
    );
    return `{${entries.join(', ')}}`;
  }
  throw new ValidationError(`\`${path}\` is ${describe(value)}, which has no Cedar form`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 60 ? 'a long string' : `\`${value}\``;
  return value === null ? 'null' : `a ${typeof value}`;
}
