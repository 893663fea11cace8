import type { GuardContext, GuardOptions, ZeroTrustClient } from './ZeroTrustClient.js';
import { ZeroTrustError } from './ZeroTrustClient.js';

/**
 * One-line guards for the common cases, and the action naming conventions, stated once here and used
 * everywhere (policies, helpers, brokers, examples):
 *
 * | what runs | action id | `params` |
 * |---|---|---|
 * | an AWS API call | `aws.<service>.<operation_snake>`, e.g. `aws.ec2.terminate_instances` | the call's input |
 * | an MCP tool call | `mcp.<server>.<tool>`, e.g. `mcp.github.create_issue` | the tool's `arguments` |
 * | a function tool of an LLM (OpenAI / Anthropic style) | `tool.<name>`, e.g. `tool.send_email` | the parsed arguments |
 * | a plain function of an application | `<app>.<function>`, e.g. `billing.refund` | the call's arguments, as an array |
 *
 * Segments are lower-case `snake_case` where the name is ours to choose; names given by someone else (an
 * MCP server's tool name, an LLM tool's name) are used as they are. Every helper sends exactly what the
 * wrapped call receives as `params`, so the signed record approves exactly what runs.
 *
 * INVARIANT: two different calls never get the same action name. `.` separates segments, so only the last
 * segment may contain one (an MCP tool name, an LLM tool name); any other segment holding a `.` is refused
 * (`INVALID_REQUEST`). Otherwise server `a.b` with tool `c` and server `a` with tool `b.c` would both be
 * `mcp.a.b.c`, and an allow for one would run the other.
 */

/** The action-name separator: only the last segment of a name may contain it. */
const SEPARATOR = '.';

/** `TerminateInstances` / `terminateInstances` → `terminate_instances`. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[\s-]+/g, '_')
    .toLowerCase();
}

/**
 * `aws.<service>.<operation_snake>`: `awsActionName('EC2', 'TerminateInstances')` → `aws.ec2.terminate_instances`.
 * Neither may contain `.` (no AWS service or operation name does).
 */
export function awsActionName(service: string, operation: string): string {
  return `aws.${requireInnerSegment(service, 'service').toLowerCase()}.${toSnakeCase(requireInnerSegment(operation, 'operation'))}`;
}

/** `mcp.<server>.<tool>`: the server name (yours to choose) may not contain `.`; the tool name is used as it is. */
export function mcpActionName(server: string, tool: string): string {
  return `mcp.${requireInnerSegment(server, 'server')}.${requireSegment(tool, 'tool')}`;
}

/** `tool.<name>` */
export function toolActionName(name: string): string {
  return `tool.${requireSegment(name, 'name')}`;
}

/** An MCP `tools/call`: which server, which tool, which arguments. */
export interface McpToolCall {
  /** The agent id; absent, the client's own agent (`ZeroTrustClient.agentId`). */
  actor?: string;
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  resource?: string;
  context?: Record<string, unknown>;
  request_id?: string;
}

/**
 * Runs an MCP tool call only on a verified allow of `mcp.<server>.<tool>` with `params` = its arguments.
 *
 * ```ts
 * const result = await guardMcpToolCall(zt, { actor: 'ci', server: 'github', tool: 'create_issue', arguments: args },
 *   () => mcp.callTool({ name: 'create_issue', arguments: args }));
 * ```
 */
export function guardMcpToolCall<T>(
  client: ZeroTrustClient,
  call: McpToolCall,
  run: (ctx: GuardContext) => Promise<T> | T,
  options?: GuardOptions,
): Promise<T> {
  let action: string;
  try {
    action = mcpActionName(call.server, call.tool);
  } catch (err) {
    return Promise.reject(err);
  }
  return client.guard(
    {
      actor: call.actor,
      action,
      params: call.arguments ?? {},
      ...optional(call),
    },
    run,
    options,
  );
}

/** A function tool call of an LLM: OpenAI sends `arguments` as a JSON string, Anthropic `input` as an object. */
export interface ToolCall {
  /** The agent id; absent, the client's own agent (`ZeroTrustClient.agentId`). */
  actor?: string;
  name: string;
  /** The arguments object, or its JSON text (parsed before hashing, so the hash is of what the tool gets). */
  arguments?: string | Record<string, unknown>;
  resource?: string;
  context?: Record<string, unknown>;
  request_id?: string;
}

/**
 * Runs an OpenAI/Anthropic-style function tool call only on a verified allow of `tool.<name>` with
 * `params` = its arguments. `run` receives the parsed arguments: run the tool with those, not with the text.
 *
 * ```ts
 * const out = await guardToolCall(zt, { actor: 'ci', name: call.function.name, arguments: call.function.arguments },
 *   (args) => tools[call.function.name](args));
 * ```
 */
export function guardToolCall<T>(
  client: ZeroTrustClient,
  call: ToolCall,
  run: (args: Record<string, unknown>, ctx: GuardContext) => Promise<T> | T,
  options?: GuardOptions,
): Promise<T> {
  let args: Record<string, unknown>;
  let action: string;
  try {
    args = parseToolArguments(call.arguments);
    action = toolActionName(call.name);
  } catch (err) {
    return Promise.reject(err);
  }
  return client.guard(
    { actor: call.actor, action, params: args, ...optional(call) },
    (ctx) => run(args, ctx),
    options,
  );
}

/** What {@link protect} needs to ask for each call. */
export interface ProtectTarget {
  /** The agent id; absent, the client's own agent (`ZeroTrustClient.agentId`). */
  actor?: string;
  /** By convention `<app>.<function>`. */
  action: string;
  resource?: string;
  context?: Record<string, unknown>;
}

/**
 * Wraps an async function so that each call runs only on its own verified allow, with `params` = the
 * call's arguments as an array (they must be JSON-serialisable).
 *
 * ```ts
 * const refund = protect(zt, { actor: 'support-bot', action: 'billing.refund' }, billing.refund);
 * await refund('order-42', 1999); // asks for billing.refund with params ["order-42", 1999]
 * ```
 */
export function protect<A extends unknown[], R>(
  client: ZeroTrustClient,
  target: ProtectTarget,
  fn: (...args: A) => Promise<R> | R,
  options?: GuardOptions,
): (...args: A) => Promise<R> {
  return (...args: A) =>
    client.guard(
      {
        actor: target.actor,
        action: target.action,
        params: args,
        ...(target.resource !== undefined ? { resource: target.resource } : {}),
        ...(target.context !== undefined ? { context: target.context } : {}),
      },
      () => fn(...args),
      options,
    );
}

function optional(call: { resource?: string; context?: Record<string, unknown>; request_id?: string }) {
  return {
    ...(call.resource !== undefined ? { resource: call.resource } : {}),
    ...(call.context !== undefined ? { context: call.context } : {}),
    ...(call.request_id !== undefined ? { request_id: call.request_id } : {}),
  };
}

function parseToolArguments(value: string | Record<string, unknown> | undefined): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'string') return value;
  let parsed: unknown;
  try {
    parsed = value.trim() === '' ? {} : JSON.parse(value);
  } catch {
    throw new ZeroTrustError('INVALID_REQUEST', 'tool call `arguments` is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ZeroTrustError('INVALID_REQUEST', 'tool call `arguments` must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function requireSegment(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new ZeroTrustError('INVALID_REQUEST', `\`${what}\` of an action name must be a non-empty string`);
  }
  return value;
}

/** A segment that is not the last one: it may not hold the separator, or two names could collide. */
function requireInnerSegment(value: string, what: string): string {
  requireSegment(value, what);
  if (value.includes(SEPARATOR)) {
    throw new ZeroTrustError(
      'INVALID_REQUEST',
      `\`${what}\` of an action name must not contain \`${SEPARATOR}\` (it separates the segments, so the name could be another's), got \`${value}\``,
    );
  }
  return value;
}
