import { toolActionName } from '../helpers.js';
import {
  type GuardOptions,
  type ZeroTrustClient,
  ZeroTrustError,
  type ZeroTrustErrorCode,
} from '../ZeroTrustClient.js';

/**
 * What the framework adapters (`zt-infra/sdk/ai`, `zt-infra/sdk/openai-agents`, `zt-infra/sdk/langchain`)
 * share: one guarded run of one tool call, and the denial the model receives instead of the tool's output.
 *
 * A refusal is a result, not an exception: each framework handles a tool that throws in its own way (`ai`
 * turns it into a `tool-error` part, `@openai/agents` passes it to the tool's `errorFunction`, which an
 * application may replace or set to `null` to end the run, LangChain's `tool.invoke` rethrows it), so a
 * thrown denial would reach the model in three shapes, or stop the run. A {@link ToolDenial} returned as the
 * tool's output reaches the model in one shape in every framework, and the agent can answer or try
 * something else. Only the tool's own error (after an allow, recorded as `failed`) is thrown, as the tool
 * threw it.
 */

/** Options every adapter takes: who asks, and what else goes into each decision. */
export interface ToolGuardOptions {
  /**
   * The agent id bound to the client's credentials (the decision's `actor`); absent, the client asks the
   * gateway once whose agent they are (`ZeroTrustClient.agentId`).
   */
  actor?: string;
  /** The decision's `resource`, the same for every call of these tools. */
  resource?: string;
  /** Extra `context` for every decision (declare its attributes for policies to read them). */
  context?: Record<string, unknown>;
  /**
   * Called with each denial and the error behind it, before the model receives the denial: the model sees
   * only {@link ToolDenial.message}, the application can log the whole error here. An exception thrown
   * here is ignored (the tool still does not run and the model still gets the denial).
   */
  onDenial?: (denial: ToolDenial, error: ZeroTrustError) => void;
  /** Passed to {@link ZeroTrustClient.guard}: called when a final outcome could not be recorded. */
  onReportError?: GuardOptions['onReportError'];
}

/**
 * What the model receives instead of the tool's output when the tool did not run: a verified deny
 * (`code: 'DENIED'`, with the gateway's reason and the id of the signed deny record), or any failure to get
 * a verified allow (the gateway down, an answer that does not verify, ...), which fails closed the same way.
 */
export interface ToolDenial {
  /** Always true: the tool did not run. */
  denied: true;
  /** The tool's name, as the model called it. */
  tool: string;
  /** The action id asked for: `tool.<name>`. */
  action: string;
  /** The {@link ZeroTrustError} code: `DENIED` for a verified deny, otherwise why no allow was obtained. */
  code: ZeroTrustErrorCode;
  /** The gateway's reason for a verified deny; otherwise a short explanation without internal details. */
  reason: string;
  /** The id of the signed deny record (`DENIED` only), to quote when asking a human. */
  record_id: string | null;
  /** One sentence for the model, saying that the tool did not run and why. */
  message: string;
}

/** True when `value` has the shape of a {@link ToolDenial}. */
export function isToolDenial(value: unknown): value is ToolDenial {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['denied'] === true &&
    typeof v['tool'] === 'string' &&
    typeof v['action'] === 'string' &&
    typeof v['code'] === 'string' &&
    typeof v['reason'] === 'string' &&
    typeof v['message'] === 'string' &&
    (v['record_id'] === null || typeof v['record_id'] === 'string')
  );
}

/** The outcome of {@link runGuardedTool}: the tool's value after an allow, or the denial. */
export type GuardedToolResult<T> = { ran: true; value: T } | { ran: false; denial: ToolDenial };

/**
 * Asks for `tool.<toolName>` with `params` = `input` (what the tool receives, so policy reads exactly what
 * runs) and runs `run` only on a verified allow, claimed once (`started`), reporting `succeeded` or `failed`.
 * Resolves with a {@link ToolDenial} when there is no verified allow; rethrows the tool's own error.
 * `signal` is the framework's abort signal for this call (a tool timeout, a cancelled run): when it fired
 * while the gateway was deciding, the tool does not start, and the claimed allow is recorded as `failed`.
 *
 * INVARIANT: `run` is called at most once, and only inside {@link ZeroTrustClient.guard}.
 */
export async function runGuardedTool<T>(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  toolName: string,
  input: unknown,
  run: () => Promise<T> | T,
  signal?: AbortSignal,
): Promise<GuardedToolResult<T>> {
  let entered = false;
  let action = `tool.${toolName}`;
  try {
    action = toolActionName(toolName);
    const value = await client.guard(
      {
        actor: options.actor,
        action,
        params: input,
        ...(options.resource !== undefined ? { resource: options.resource } : {}),
        ...(options.context !== undefined ? { context: options.context } : {}),
      },
      () => {
        entered = true;
        // The framework gave up on this call while the gateway was deciding: nobody awaits its result.
        signal?.throwIfAborted();
        return run();
      },
      options.onReportError !== undefined ? { onReportError: options.onReportError } : {},
    );
    return { ran: true, value };
  } catch (err) {
    // The tool ran and failed: its error is the tool's, recorded as `failed`; the framework handles it.
    if (entered) throw err;
    // Anything else here is a bug, not a refusal: nothing ran, and hiding it behind a denial would mask it.
    if (!(err instanceof ZeroTrustError)) throw err;
    const denial = toolDenial(toolName, action, err);
    try {
      options.onDenial?.(denial, err);
    } catch {
      // A failing log hook must not turn a denial into a crash of the run, nor into a run of the tool.
    }
    return { ran: false, denial };
  }
}

const UNAVAILABLE = new Set<ZeroTrustErrorCode>([
  'TIMEOUT',
  'CONNECTION_FAILED',
  'DNS_FAILURE',
  'SERVER_ERROR',
]);
const UNVERIFIED = new Set<ZeroTrustErrorCode>([
  'NON_JSON_RESPONSE',
  'MISSING_RECORD',
  'RECORD_INVALID',
  'RECORD_MISMATCH',
  'RECORD_STALE',
  'UNTRUSTED_KEY',
  'SIGNATURE_INVALID',
]);

/**
 * The denial for `err`. Only a verified deny passes the gateway's own words on (its reason is about the
 * request the model made); for the other failures the model gets a fixed explanation, never the error
 * message, which may name endpoints or keys the model has no business seeing (`onDenial` has the error).
 */
export function toolDenial(toolName: string, action: string, err: ZeroTrustError): ToolDenial {
  let reason: string;
  let recordId: string | null = null;
  if (err.code === 'DENIED') {
    reason = err.reason ?? 'denied';
    recordId = err.record?.id ?? null;
  } else if (err.code === 'APPROVAL_REQUIRED' || err.code === 'APPROVAL_TIMEOUT') {
    // The call waits for a human: the approval id lets an operator find it (`zt approvals list`).
    reason = `this call needs a human approval first (approval \`${err.approvalId ?? 'unknown'}\`)`;
    recordId = err.record?.id ?? null;
  } else if (err.code === 'ALREADY_STARTED') {
    reason = 'this allow was already used';
  } else if (UNAVAILABLE.has(err.code)) {
    reason = 'the authorization gateway is unavailable';
  } else if (UNVERIFIED.has(err.code)) {
    reason = "the authorization gateway's answer could not be verified";
  } else if (err.code === 'CREDENTIALS_UNAVAILABLE') {
    reason = 'the agent has no credentials for the authorization gateway';
  } else if (err.code === 'INVALID_REQUEST') {
    reason = 'the tool call cannot be sent for authorization as it is';
  } else {
    reason = 'the authorization gateway refused the request';
  }
  const message =
    err.code === 'DENIED'
      ? `the authorization gateway denied \`${action}\` (record \`${recordId ?? 'unknown'}\`): ${reason}; the tool did not run`
      : `\`${action}\` was not authorized (${err.code}): ${reason}; the tool did not run`;
  return { denied: true, tool: toolName, action, code: err.code, reason, record_id: recordId, message };
}

/** True for an async iterable (a streaming tool's result), which must be consumed inside the guard. */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}
