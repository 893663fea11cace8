import {
  type FunctionTool,
  type RunContext,
  type ToolInputParameters,
  type ToolOptions,
  tool,
} from '@openai/agents';
import { type ZeroTrustClient, ZeroTrustError } from '../ZeroTrustClient.js';
import { runGuardedTool, type ToolDenial, type ToolGuardOptions } from './toolGuard.js';

/**
 * `zt-infra/sdk/openai-agents`: guarded function tools for the OpenAI Agents SDK (`@openai/agents`, an
 * optional peer dependency of zt-infra).
 *
 * ```ts
 * import { Agent, run } from '@openai/agents';
 * import { z } from 'zod';
 * import { guardedTool } from 'zt-infra/sdk/openai-agents';
 *
 * const refund = guardedTool(zt, { actor: 'support-bot' }, {
 *   name: 'refund', description: 'Refund an order',
 *   parameters: z.object({ order_id: z.string(), amount_cents: z.number().int() }),
 *   execute: async ({ order_id, amount_cents }) => payments.refund(order_id, amount_cents),
 * });
 * const agent = new Agent({ name: 'support', instructions: '...', tools: [refund] });
 * ```
 *
 * `guardedTool` takes what `tool()` takes and builds the tool with `tool()`, so parsing, validation,
 * approvals, timeouts and error handling stay the SDK's. Each call asks for `tool.<name>` (the name the model
 * sees) with `params` = the parsed arguments `execute` receives; `execute` runs only on a verified allow,
 * claimed once. A refusal is the tool's output: a {@link ToolDenial}, which the runner sends to the model as
 * the function call's output (JSON text), and the run goes on. The tool's own error after an allow is
 * recorded as `failed` and goes to the tool's `errorFunction` as usual.
 */

export type { ToolDenial, ToolGuardOptions } from './toolGuard.js';
export { isToolDenial } from './toolGuard.js';

/** What the runner passes `execute` third (its tool call, its abort signal); the SDK does not export the type. */
type ToolCallDetails = Parameters<FunctionTool['invoke']>[2];

/**
 * `tool(toolOptions)` whose `execute` runs only on its own verified allow of `tool.<name>`. Refused
 * (`INVALID_REQUEST`) with an `outputSchema`: a denial is returned as the tool's output, which an output
 * schema would reject (ending the run instead of telling the model).
 */
export function guardedTool<
  TParameters extends ToolInputParameters = undefined,
  Context = unknown,
  Result = unknown,
>(
  client: ZeroTrustClient,
  options: ToolGuardOptions,
  toolOptions: ToolOptions<TParameters, Context>,
): FunctionTool<Context, TParameters, Result | ToolDenial> {
  if ((toolOptions as { outputSchema?: unknown }).outputSchema !== undefined) {
    throw new ZeroTrustError(
      'INVALID_REQUEST',
      `tool \`${toolOptions.name ?? toolOptions.execute.name}\` has an \`outputSchema\`: a denial is the tool's output and would not fit it; guard this tool with \`guardToolCall\` inside its \`execute\` instead`,
    );
  }
  const execute = toolOptions.execute as (
    input: unknown,
    context?: RunContext<Context>,
    details?: ToolCallDetails,
  ) => Promise<unknown> | unknown;
  // `tool()` normalises the name; the model calls the normalised one, so that is the name asked for.
  let name = '';
  const created = tool({
    ...toolOptions,
    execute: async (input: unknown, context?: RunContext<Context>, details?: ToolCallDetails) => {
      const result = await runGuardedTool(
        client,
        options,
        name,
        input,
        () => execute(input, context, details),
        details?.signal,
      );
      return result.ran ? result.value : result.denial;
    },
  } as ToolOptions<TParameters, Context>);
  name = created.name;
  return created as unknown as FunctionTool<Context, TParameters, Result | ToolDenial>;
}
