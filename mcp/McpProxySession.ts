import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  ErrorCode,
  isJSONRPCErrorResponse,
  isJSONRPCNotification,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCErrorResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type JSONRPCResultResponse,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { canonicalSha256 } from '../core/model/index.js';
import { guardMcpToolCall, mcpActionName } from '../sdk/helpers.js';
import { isZeroTrustError, type ZeroTrustClient, ZeroTrustError } from '../sdk/ZeroTrustClient.js';
import { assertServerName } from './serverName.js';

/** Options of {@link McpProxySession}. */
export interface McpProxySessionOptions {
  /** Decides every call and answers the "what may I do" query, verifying every answer against its pinned root. */
  zt: ZeroTrustClient;
  /** The agent the proxy acts for: the agent bound to `zt`'s credentials. */
  actor: string;
  /** The server's name in action ids, `mcp.<server>.<tool>`: chosen by the operator, never by the server. */
  server: string;
  /** Diagnostics (never the MCP channel). Default: none. */
  log?: (message: string) => void;
}

/** The `_meta` key under which a refused call's tool error result says why. */
export const DECISION_META_KEY = 'zt-infra/decision';

/** Most action ids per `POST /actions/allowed` query (the gateway's limit). */
const QUERY_CHUNK = 256;

type Response = JSONRPCResultResponse | JSONRPCErrorResponse;

interface Forwarded {
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
}

/** A call cancelled by the client (`notifications/cancelled`): it gets no response. */
class CancelledError extends Error {}

/**
 * One MCP connection through the gateway: JSON-RPC messages are relayed between a client-facing
 * transport (`downstream`, e.g. stdio or Streamable HTTP server) and a server-facing one (`upstream`,
 * e.g. a spawned server's stdio or a Streamable HTTP client), unchanged, except:
 *
 * - `tools/call` is decided first (`mcp.<server>.<tool>`, the tool `arguments` as `params`) through the
 *   SDK's fail-closed guard: on anything but a verified allow, claimed with `started`, the client gets a
 *   tool error result saying why (with the decision record's id on a deny) and the server never sees the
 *   call. On an allow the call is forwarded as the client sent it, the server's response goes back
 *   unchanged, and its outcome is chained: `succeeded`, or `failed` for a JSON-RPC error or a result with
 *   `isError`, with the SHA-256 of the canonical JSON of the result (or error).
 * - the result of `tools/list` keeps only the tools the agent may be allowed (`POST /actions/allowed`,
 *   verified); when that answer cannot be had or believed, the client gets an error and no tool.
 *
 * INVARIANT: a `tools/call` reaches upstream only inside the SDK's guard, i.e. after a verified allow of
 * exactly its tool and arguments was claimed with `started`.
 */
export class McpProxySession {
  readonly #downstream: Transport;
  readonly #upstream: Transport;
  readonly #options: McpProxySessionOptions;
  readonly #log: (message: string) => void;
  /** `tools/list` requests forwarded, by id key. */
  readonly #lists = new Set<string>();
  /** `initialize` requests forwarded, by id key: their result sets the upstream protocol version. */
  readonly #initializes = new Set<string>();
  /** Calls being decided, by id key; `true` once the client cancelled one. */
  readonly #deciding = new Map<string, boolean>();
  /** Calls forwarded and waiting for the server's response, by id key. */
  readonly #forwarded = new Map<string, Forwarded>();
  /** Cancelled forwarded calls whose late response must not reach the client. */
  readonly #dropResponses = new Set<string>();
  /** Progress tokens of the client's requests in flight, so the server's progress goes with its request. */
  readonly #progress = new Map<string, RequestId>();
  /** The progress token of each request in flight that has one, by id key (to forget it with the response). */
  readonly #tokenOf = new Map<string, string>();
  readonly #work = new Set<Promise<void>>();
  #closing: Promise<void> | null = null;
  #resolveClosed!: () => void;
  /** Settles once both sides are closed and every outcome report has settled. */
  readonly closed: Promise<void> = new Promise((resolve) => {
    this.#resolveClosed = resolve;
  });

  constructor(downstream: Transport, upstream: Transport, options: McpProxySessionOptions) {
    assertServerName(options.server);
    this.#downstream = downstream;
    this.#upstream = upstream;
    this.#options = options;
    this.#log = options.log ?? (() => {});
  }

  /** Starts the server side first (a spawned server), then listens to the client. */
  async start(): Promise<void> {
    this.#upstream.onmessage = (message) => this.#fromServer(message);
    this.#upstream.onerror = (error) => this.#log(`mcp server transport: ${error.message}`);
    this.#upstream.onclose = () => void this.close();
    this.#downstream.onmessage = (message) => this.#fromClient(message);
    this.#downstream.onerror = (error) => this.#log(`mcp client transport: ${error.message}`);
    this.#downstream.onclose = () => void this.close();
    await this.#upstream.start();
    await this.#downstream.start();
  }

  /**
   * Closes both sides. Calls still being decided are not forwarded; calls forwarded and not answered are
   * reported `failed`; pending outcome reports are awaited (each bounded by the SDK's timeouts).
   */
  close(): Promise<void> {
    // Assigned before anything runs: closing a transport calls its `onclose`, which calls this again.
    this.#closing ??= Promise.resolve().then(async () => {
      for (const waiter of this.#forwarded.values()) waiter.reject(new Error('the mcp connection closed'));
      this.#forwarded.clear();
      await Promise.allSettled([this.#upstream.close(), this.#downstream.close()]);
      await Promise.allSettled([...this.#work]);
      this.#resolveClosed();
    });
    return this.#closing;
  }

  #fromClient(message: JSONRPCMessage): void {
    if (isJSONRPCRequest(message)) {
      const key = idKey(message.id);
      const token = progressTokenOf(message);
      if (token !== undefined) {
        this.#progress.set(idKey(token), message.id);
        this.#tokenOf.set(key, idKey(token));
      }
      if (message.method === 'tools/call') {
        this.#track(this.#call(message));
        return;
      }
      if (message.method === 'tools/list') this.#lists.add(key);
      if (message.method === 'initialize') this.#initializes.add(key);
    } else if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
      const requestId = (message.params as { requestId?: RequestId } | undefined)?.requestId;
      if (requestId !== undefined) this.#cancel(idKey(requestId));
    }
    this.#send(this.#upstream, message);
  }

  #fromServer(message: JSONRPCMessage): void {
    if (isJSONRPCResultResponse(message) || isJSONRPCErrorResponse(message)) {
      const key = idKey(message.id as RequestId);
      const token = this.#tokenOf.get(key);
      if (token !== undefined) {
        this.#tokenOf.delete(key);
        this.#progress.delete(token);
      }
      const waiter = this.#forwarded.get(key);
      if (waiter) {
        this.#forwarded.delete(key);
        waiter.resolve(message);
        return;
      }
      if (this.#dropResponses.delete(key)) return;
      if (this.#lists.delete(key)) {
        this.#track(this.#filterList(message));
        return;
      }
      if (this.#initializes.delete(key) && isJSONRPCResultResponse(message)) {
        const version = message.result['protocolVersion'];
        // what the SDK's Client does after initialize: later HTTP requests carry the negotiated version
        if (typeof version === 'string') this.#upstream.setProtocolVersion?.(version);
      }
      this.#send(this.#downstream, message);
      return;
    }
    const token = isJSONRPCNotification(message)
      ? (message.params as { progressToken?: string | number } | undefined)?.progressToken
      : undefined;
    const related = token === undefined ? undefined : this.#progress.get(idKey(token));
    this.#send(this.#downstream, message, related === undefined ? undefined : { relatedRequestId: related });
  }

  /** Decides a `tools/call`, then forwards it and chains its outcome, or answers it with why not. */
  async #call(request: JSONRPCRequest): Promise<void> {
    const key = idKey(request.id);
    const params = (request.params ?? {}) as { name?: unknown; arguments?: unknown };
    if (typeof params.name !== 'string' || params.name === '') {
      return this.#reply(
        errorResponse(request.id, ErrorCode.InvalidParams, '`tools/call` needs a tool `name`'),
      );
    }
    if (params.arguments !== undefined && !isPlainObject(params.arguments)) {
      return this.#reply(
        errorResponse(request.id, ErrorCode.InvalidParams, '`tools/call` `arguments` must be an object'),
      );
    }
    const tool = params.name;
    const action = actionName(this.#options.server, tool);
    let recordId: string | undefined;
    this.#deciding.set(key, false);
    let response: Response;
    try {
      response = await guardMcpToolCall(
        this.#options.zt,
        {
          actor: this.#options.actor,
          server: this.#options.server,
          tool,
          arguments: (params.arguments ?? {}) as Record<string, unknown>,
        },
        ({ decision }) => {
          // Here the allow is verified and claimed (`started`): only now may the server see the call.
          recordId = decision.recordId;
          const cancelled = this.#deciding.get(key) === true;
          this.#deciding.delete(key);
          if (cancelled) throw new CancelledError('the client cancelled the call');
          return new Promise<Response>((resolve, reject) => {
            this.#forwarded.set(key, { resolve, reject });
            this.#upstream.send(request).catch((error: unknown) => {
              this.#forwarded.delete(key);
              reject(error instanceof Error ? error : new Error(String(error)));
            });
          });
        },
        { reportOutcome: false },
      );
    } catch (error) {
      const cancelled = this.#deciding.get(key) === true || error instanceof CancelledError;
      this.#deciding.delete(key);
      if (recordId !== undefined) {
        // It was allowed and claimed, then never answered: chain that it failed.
        await this.#report(recordId, 'failed', null);
        if (cancelled) return;
        const why = error instanceof Error ? error.message : String(error);
        return this.#reply(
          errorResponse(request.id, ErrorCode.InternalError, `the mcp server did not answer: ${why}`),
        );
      }
      if (cancelled) return;
      return this.#reply(refusal(request.id, action, error));
    }
    const failed = isJSONRPCErrorResponse(response) || response.result['isError'] === true;
    const output = isJSONRPCErrorResponse(response) ? response.error : response.result;
    await this.#report(recordId as string, failed ? 'failed' : 'succeeded', digestOf(output));
    // The server's response, unchanged.
    this.#send(this.#downstream, response);
  }

  /** The client cancelled request `key`: undecided calls are not forwarded, forwarded ones are abandoned. */
  #cancel(key: string): void {
    if (this.#deciding.has(key)) this.#deciding.set(key, true);
    const waiter = this.#forwarded.get(key);
    if (waiter) {
      this.#forwarded.delete(key);
      this.#dropResponses.add(key);
      waiter.reject(new CancelledError('the client cancelled the call'));
    }
  }

  /** Keeps only the tools the agent may be allowed; no answer (or no verified one) offers none. */
  async #filterList(response: Response): Promise<void> {
    if (isJSONRPCErrorResponse(response)) return this.#send(this.#downstream, response);
    const tools = response.result['tools'];
    if (!Array.isArray(tools)) {
      return this.#reply(
        errorResponse(
          response.id,
          ErrorCode.InternalError,
          'the mcp server answered `tools/list` without `tools`',
        ),
      );
    }
    const byAction = new Map<string, unknown[]>();
    for (const tool of tools) {
      const name = isPlainObject(tool) ? tool['name'] : undefined;
      const action = typeof name === 'string' ? actionName(this.#options.server, name) : null;
      if (action === null) {
        this.#log(`tool ${JSON.stringify(name)} cannot be named as an action; it is not offered`);
        continue;
      }
      byAction.set(action, [...(byAction.get(action) ?? []), tool]);
    }
    const allowed = new Set<string>();
    try {
      const actions = [...byAction.keys()];
      for (let i = 0; i < actions.length; i += QUERY_CHUNK) {
        const answer = await this.#options.zt.allowedActions(
          this.#options.actor,
          actions.slice(i, i + QUERY_CHUNK),
        );
        for (const action of answer.allowed) allowed.add(action);
      }
    } catch (error) {
      const code = isZeroTrustError(error) ? error.code : 'INTERNAL';
      const why = error instanceof Error ? error.message : String(error);
      return this.#reply(
        errorResponse(
          response.id,
          ErrorCode.InternalError,
          `zt-infra could not tell which tools this agent may call (${code}: ${why}); no tool is offered`,
          { [DECISION_META_KEY]: { code } },
        ),
      );
    }
    const kept = tools.filter((tool) => {
      const name = isPlainObject(tool) ? tool['name'] : undefined;
      const action = typeof name === 'string' ? actionName(this.#options.server, name) : null;
      return action !== null && allowed.has(action);
    });
    this.#send(this.#downstream, { ...response, result: { ...response.result, tools: kept } });
  }

  async #report(recordId: string, status: 'succeeded' | 'failed', output: string | null): Promise<void> {
    try {
      await this.#options.zt.reportOutcome(recordId, {
        status,
        exit_code: status === 'succeeded' ? 0 : 1,
        output_sha256: output,
      });
    } catch (error) {
      this.#log(
        `the outcome of \`${recordId}\` was not recorded: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  #reply(message: JSONRPCMessage): void {
    this.#send(this.#downstream, message);
  }

  #send(transport: Transport, message: JSONRPCMessage, options?: TransportSendOptions): void {
    // A send can throw synchronously (a transport that is not connected) or reject.
    try {
      transport.send(message, options).catch((error: unknown) => this.#sendFailed(transport, error));
    } catch (error) {
      this.#sendFailed(transport, error);
    }
  }

  #sendFailed(transport: Transport, error: unknown): void {
    const side = transport === this.#upstream ? 'server' : 'client';
    this.#log(`could not send to the mcp ${side}: ${error instanceof Error ? error.message : String(error)}`);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) =>
      this.#log(`internal error: ${error instanceof Error ? error.message : String(error)}`),
    );
    this.#work.add(tracked);
    void tracked.finally(() => this.#work.delete(tracked));
  }
}

/** `mcp.<server>.<tool>`, or null when the tool's name cannot be one. */
function actionName(server: string, tool: string): string | null {
  try {
    return mcpActionName(server, tool);
  } catch {
    return null;
  }
}

/** JSON-RPC ids may be strings or numbers, and `1` is not `"1"`. */
function idKey(id: RequestId): string {
  return JSON.stringify(id);
}

function progressTokenOf(request: JSONRPCRequest): string | number | undefined {
  const meta = (request.params as { _meta?: { progressToken?: unknown } } | undefined)?._meta;
  const token = meta?.progressToken;
  return typeof token === 'string' || typeof token === 'number' ? token : undefined;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The canonical SHA-256 of what the server answered, or null when it cannot be canonicalized. */
function digestOf(value: unknown): string | null {
  try {
    return canonicalSha256(value);
  } catch {
    return null;
  }
}

function errorResponse(
  id: RequestId,
  code: number,
  message: string,
  data?: Record<string, unknown>,
): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined ? { data } : {}) } };
}

/**
 * The tool error result of a call that was not run: a verified deny names its reason and decision record;
 * anything else (no answer, an answer that does not verify, an allow already claimed) names its code.
 */
function refusal(id: RequestId, action: string | null, error: unknown): JSONRPCResultResponse {
  const named = action === null ? 'this tool call' : `\`${action}\``;
  let text: string;
  let meta: Record<string, unknown>;
  if (error instanceof ZeroTrustError && error.code === 'DENIED' && error.record !== undefined) {
    text = `zt-infra denied ${named}: ${error.reason ?? error.record.reason} (decision record \`${error.record.id}\`); the tool was not called`;
    meta = {
      decision: 'deny',
      code: 'DENIED',
      reason: error.reason ?? error.record.reason,
      record_id: error.record.id,
    };
  } else {
    const code = isZeroTrustError(error) ? error.code : 'INTERNAL';
    const why = error instanceof Error ? error.message : String(error);
    text = `zt-infra could not get a verified allow for ${named} (${code}: ${why}); the tool was not called`;
    meta = { decision: 'none', code };
    // `approval_required` is no allow: the call is refused like any other, naming the approval to give.
    if (isZeroTrustError(error) && error.approvalId !== undefined) meta['approval_id'] = error.approvalId;
  }
  return {
    jsonrpc: '2.0',
    id,
    result: { content: [{ type: 'text', text }], isError: true, _meta: { [DECISION_META_KEY]: meta } },
  };
}
