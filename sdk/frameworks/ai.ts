import type { InferToolInput, InferToolOutput, Tool, ToolExecutionOptions, ToolSet } from 'ai';
import { toolActionName } from '../helpers.js';
import { type ZeroTrustClient, ZeroTrustError } from '../ZeroTrustClient.js';
import {
  isAsyncIterable,
  isToolDenial,
  runGuardedTool,
  type ToolDenial,
  type ToolGuardOptions,
} from './toolGuard.js';

/**
 * `zt-infra/sdk/ai`: guards for the tools of the Vercel AI SDK (`ai`, an optional peer dependency of
 * zt-infra; this module imports only its types).
 *
 * ```ts
 * import { generateText, stepCountIs } from 'ai';
 * import { guardTools } from 'zt-infra/sdk/ai';
 *
 * const tools = guardTools(zt, { actor: 'support-bot' }, { lookup_order, refund });
 * const result = await generateText({ model, tools, stopWhen: stepCountIs(5), prompt });
 * ```
 *
 * Each call of a guarded tool asks for `tool.<name>` (`name` = its key in the tool set, the name the model
 * calls) with `params` = the validated input the tool receives; `execute` runs only on a verified allow,
 * claimed once. A refusal is the tool's output: a {@link ToolDenial} that the model receives as a tool
 * result of type `error-json` (the AI SDK's error output), and the step loop goes on.
 */

export type { ToolDenial, ToolGuardOptions } from './toolGuard.js';
export { isToolDenial } from './toolGuard.js';

/** A guarded `ai` tool: same input, and its output may be a {@link ToolDenial}. */
export type GuardedAiTool<T extends Tool> = Tool<InferToolInput<T>, InferToolOutput<T> | ToolDenial>;

/** The tool set {@link guardTools} returns: every tool guarded, same keys. */
export type GuardedToolSet<TOOLS extends ToolSet> = { [K in keyof TOOLS]: GuardedAiTool<TOOLS[K]> };

/**
 * Returns a copy of `tools` in which every `execute` runs only on its own verified allow of `tool.<key>`.
 * The originals are not changed. Refused (`INVALID_REQUEST`) when a tool has no `execute` (a tool the
 * application runs itself, or one the provider runs on its side): nothing here could stop it, so it must
 * not look guarded; add such tools to the set yourself, after this call, and guard them where they run.
 *
 * A streaming tool (`execute` returning an async iterable) runs to its end inside the guard: its last value
 * is the output the model receives and the one digested into the outcome record; its preliminary values
 * are not streamed.
 */
export function guardTools<TOOLS extends ToolSet>(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  tools: TOOLS,
): GuardedToolSet<TOOLS> {
  const guarded: Record<string, Tool> = {};
  for (const [name, tool] of Object.entries(tools)) {
    guarded[name] = guardTool(client, options, name, tool as Tool);
  }
  return guarded as GuardedToolSet<TOOLS>;
}

/** {@link guardTools} for one tool, called `name` by the model. */
export function guardTool<T extends Tool>(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  name: string,
  tool: T,
): GuardedAiTool<T> {
  toolActionName(name); // an empty name can never be allowed: refuse it now, not at each call
  const execute = tool.execute as
    | ((
        input: unknown,
        options: ToolExecutionOptions,
      ) => AsyncIterable<unknown> | PromiseLike<unknown> | unknown)
    | undefined;
  if (typeof execute !== 'function') {
    throw new ZeroTrustError(
      'INVALID_REQUEST',
      `tool \`${name}\` has no \`execute\`, so it does not run here and cannot be guarded here; add it after \`guardTools\` and guard it where it runs`,
    );
  }
  const toModelOutput = tool.toModelOutput as
    | ((o: { toolCallId: string; input: unknown; output: unknown }) => unknown)
    | undefined;
  const guarded = {
    ...tool,
    execute: async (input: unknown, executionOptions: ToolExecutionOptions) => {
      const result = await runGuardedTool(
        client,
        options,
        name,
        input,
        async () => {
          const output = execute.call(tool, input, executionOptions);
          if (!isAsyncIterable(output)) return await output;
          let last: unknown;
          for await (const value of output) last = value;
          return last;
        },
        executionOptions?.abortSignal,
      );
      return result.ran ? result.value : result.denial;
    },
    // The model receives a denial as an error result; anything else as the tool (or `ai` by default) says.
    toModelOutput: async (o: { toolCallId: string; input: unknown; output: unknown }) => {
      if (isToolDenial(o.output)) return { type: 'error-json', value: { ...o.output } };
      if (toModelOutput !== undefined) return toModelOutput.call(tool, o);
      return typeof o.output === 'string'
        ? { type: 'text', value: o.output }
        : { type: 'json', value: o.output === undefined ? null : o.output };
    },
  };
  return guarded as unknown as GuardedAiTool<T>;
}
