import type { CallbackManagerForToolRun } from '@langchain/core/callbacks/manager';
import { ToolMessage } from '@langchain/core/messages';
import { StructuredTool, type ToolRunnableConfig } from '@langchain/core/tools';
import { toolActionName } from '../helpers.js';
import { type ZeroTrustClient, ZeroTrustError } from '../ZeroTrustClient.js';
import { runGuardedTool, type ToolDenial, type ToolGuardOptions } from './toolGuard.js';

/**
 * `zt-infra/sdk/langchain`: guards for LangChain.js tools (`@langchain/core`, an optional peer dependency
 * of zt-infra).
 *
 * ```ts
 * import { guardTools } from 'zt-infra/sdk/langchain';
 *
 * const tools = guardTools(zt, { actor: 'support-bot' }, [lookupOrder, refund]);
 * const model = chatModel.bindTools(tools);
 * // ... each tool call of the model: messages.push(await byName[call.name].invoke(call));
 * ```
 *
 * A guarded tool has the original's name, description, schema and response format. LangChain validates
 * the model's arguments against the schema once; the call then asks for `tool.<name>` with `params` = the
 * parsed arguments, and the original tool's body (`_call`) runs on them only on a verified allow, claimed
 * once. A refusal is the tool's output, never an exception: invoked with a tool call, the guarded tool
 * returns a `ToolMessage` with `status: 'error'` whose content is the {@link ToolDenial} as JSON (and its
 * `artifact` the denial itself); with `responseFormat: 'content_and_artifact'`, the pair
 * `[JSON text, denial]`; invoked with plain arguments, the JSON text. The tool's own error after an allow
 * is recorded as `failed` and thrown as LangChain throws it.
 */

export type { ToolDenial, ToolGuardOptions } from './toolGuard.js';
export { isToolDenial } from './toolGuard.js';

// biome-ignore lint/suspicious/noExplicitAny: any tool, whatever its schema and output types
type AnyStructuredTool = StructuredTool<any, any, any, any, any>;
type ToolBody = (
  arg: unknown,
  runManager?: CallbackManagerForToolRun,
  config?: ToolRunnableConfig,
) => Promise<unknown> | AsyncGenerator<unknown, unknown>;

/** Returns guarded copies of `tools` (see the module's comment); the originals are not changed. */
export function guardTools(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  tools: readonly AnyStructuredTool[],
): StructuredTool[] {
  return tools.map((tool) => guardTool(client, options, tool));
}

/**
 * A guarded copy of one tool. Refused (`INVALID_REQUEST`) for anything but a `StructuredTool` (e.g. a
 * runnable turned into a tool with `asTool()`): its body is not reachable here without parsing its input
 * twice, so wrap the function it runs with `tool()` first.
 */
export function guardTool(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  tool: AnyStructuredTool,
): StructuredTool {
  const body = (tool as unknown as { _call?: unknown })._call;
  if (!(tool instanceof StructuredTool) || typeof body !== 'function') {
    throw new ZeroTrustError(
      'INVALID_REQUEST',
      `tool \`${String((tool as { name?: unknown }).name)}\` is not a LangChain \`StructuredTool\`, so its body cannot be guarded; make it one with \`tool()\``,
    );
  }
  toolActionName(tool.name); // an empty name can never be allowed: refuse it now, not at each call
  return new GuardedTool(client, options, tool, body as ToolBody);
}

class GuardedTool extends StructuredTool {
  name: string;
  description: string;
  schema: AnyStructuredTool['schema'];
  readonly #client: ZeroTrustClient;
  readonly #options: ToolGuardOptions;
  readonly #inner: AnyStructuredTool;
  readonly #body: ToolBody;

  constructor(client: ZeroTrustClient, options: ToolGuardOptions, inner: AnyStructuredTool, body: ToolBody) {
    super({
      verboseParsingErrors: inner.verboseParsingErrors,
      ...(inner.responseFormat !== undefined ? { responseFormat: inner.responseFormat } : {}),
      ...(inner.defaultConfig !== undefined ? { defaultConfig: inner.defaultConfig } : {}),
      ...(inner.metadata !== undefined ? { metadata: inner.metadata } : {}),
      ...(inner.extras !== undefined ? { extras: inner.extras } : {}),
      ...(inner.tags !== undefined ? { tags: inner.tags } : {}),
      ...(inner.callbacks !== undefined ? { callbacks: inner.callbacks } : {}),
      verbose: inner.verbose,
    });
    this.name = inner.name;
    this.description = inner.description;
    this.schema = inner.schema;
    this.returnDirect = inner.returnDirect;
    this.#client = client;
    this.#options = options;
    this.#inner = inner;
    this.#body = body;
  }

  protected override async _call(
    arg: unknown,
    runManager?: CallbackManagerForToolRun,
    config?: ToolRunnableConfig,
  ): Promise<unknown> {
    const result = await runGuardedTool(
      this.#client,
      this.#options,
      this.name,
      arg,
      async () => {
        const raw = await this.#body.call(this.#inner, arg, runManager, config);
        // A streaming body runs to its end inside the guard; its events go out as LangChain sends them.
        return isAsyncGenerator(raw) ? consume(raw, runManager) : raw;
      },
      config?.signal,
    );
    return result.ran ? result.value : this.#denialOutput(result.denial, config);
  }

  #denialOutput(denial: ToolDenial, config?: ToolRunnableConfig): unknown {
    const content = JSON.stringify(denial);
    if (this.responseFormat === 'content_and_artifact') return [content, denial];
    const toolCallId = config?.toolCall?.id;
    if (typeof toolCallId !== 'string') return content;
    return new ToolMessage({
      status: 'error',
      content,
      artifact: denial,
      tool_call_id: toolCallId,
      name: this.name,
      ...(this.metadata !== undefined ? { metadata: this.metadata } : {}),
    });
  }
}

function isAsyncGenerator(value: unknown): value is AsyncGenerator<unknown, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AsyncGenerator).next === 'function' &&
    typeof (value as AsyncGenerator)[Symbol.asyncIterator] === 'function'
  );
}

/** What `StructuredTool.call` does with a streaming body: forward each event, return the final value. */
async function consume(generator: AsyncGenerator<unknown, unknown>, runManager?: CallbackManagerForToolRun) {
  try {
    let step = await generator.next();
    while (!step.done) {
      try {
        await runManager?.handleToolEvent(step.value);
      } catch (err) {
        await runManager?.handleToolError(err);
      }
      step = await generator.next();
    }
    return step.value;
  } finally {
    await generator.return?.(undefined);
  }
}
