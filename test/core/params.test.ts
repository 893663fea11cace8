import { beforeEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { sha256Hex } from '../../core/model/canonical.js';
import {
  checkValue,
  type Declarations,
  declarationFor,
  parseDeclarations,
} from '../../core/model/declarations.js';
import type { DecisionRecord, SchemaRecord } from '../../core/model/records.js';
import { allowPolicy } from '../../core/policy/allowPolicy.js';
import { PolicyEngine } from '../../core/policy/PolicyEngine.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { systemClock } from '../../core/ports/ports.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

const REFUND: Declarations = {
  'payments.refund': {
    params: {
      type: 'Record',
      attributes: {
        amount: { type: 'Long' },
        currency: { type: 'String' },
        note: { type: 'String', required: false },
      },
    },
  },
  'tool.*': {
    params: {
      type: 'Record',
      attributes: { to: { type: 'Set', element: { type: 'String' } } },
    },
    context: { approver: { type: 'String' } },
  },
  'run.command': {
    params: {
      type: 'Record',
      attributes: { program: { type: 'String' }, argv: { type: 'String' } },
    },
  },
};

describe('when declarations are parsed', () => {
  it('accepts action ids and prefixes with Cedar types', () => {
    expect(parseDeclarations(REFUND)).toEqual(REFUND);
  });

  it.each([
    [[], /must be an object of action ids/],
    [{ 'bad action!': { params: { type: 'String' } } }, /must be named by an action id/],
    [{ 'a.b': {} }, /declares nothing/],
    [{ 'a.b': { params: { type: 'Decimal' } } }, /`declarations\["a.b"\].params.type` must be one of String/],
    [{ 'a.b': { params: { type: 'Long', required: false } } }, /unknown field `required`/],
    [{ 'a.b': { params: { type: 'Set' } } }, /params.element` must be a type/],
    [
      { 'a.b': { params: { type: 'Record', attributes: { __entity: { type: 'String' } } } } },
      /reserved Cedar key/,
    ],
    [{ 'a.b': { context: { params: { type: 'String' } } } }, /is reserved/],
    [{ 'a.b': { context: { region: { type: 'Long' } } } }, /already a common context attribute/],
    [{ 'a.b': { params: { type: 'Record', attributes: {} }, extra: 1 } }, /unknown field `extra`/],
  ])('refuses %j, naming the path', (input, message) => {
    expect(() => parseDeclarations(input, ['region'])).toThrow(message);
  });

  it('refuses types nested deeper than the documented limit', () => {
    let type: unknown = { type: 'String' };
    for (let i = 0; i < 10; i++) type = { type: 'Set', element: type };
    expect(() => parseDeclarations({ 'a.b': { params: type } })).toThrow(/nested deeper than 8/);
  });

  it('finds an action by its own key first, then by its longest prefix', () => {
    const d = parseDeclarations({
      'mcp.*': { params: { type: 'String' } },
      'mcp.github.*': { params: { type: 'Long' } },
      'mcp.github.merge': { params: { type: 'Boolean' } },
    });
    expect(declarationFor(d, 'mcp.github.merge')?.params).toEqual({ type: 'Boolean' });
    expect(declarationFor(d, 'mcp.github.list')?.params).toEqual({ type: 'Long' });
    expect(declarationFor(d, 'mcp.slack.post')?.params).toEqual({ type: 'String' });
    expect(declarationFor(d, 'mcpx.slack')).toBeUndefined();
    expect(declarationFor(d, 'mcp')).toBeUndefined();
  });
});

describe('when a value is checked against a declared type', () => {
  const refund = REFUND['payments.refund']!.params!;
  it.each([
    [{ amount: 5, currency: 'EUR' }, null],
    [{ amount: 5, currency: 'EUR', note: 'x' }, null],
    [{ amount: '5', currency: 'EUR' }, '`params.amount` must be a Long (an integer within 2^53), got `5`'],
    [
      { amount: 5.5, currency: 'EUR' },
      '`params.amount` must be a Long (an integer within 2^53), got the number 5.5',
    ],
    [{ amount: 2 ** 53, currency: 'EUR' }, /must be a Long/],
    [{ currency: 'EUR' }, '`params.amount` is required'],
    [{ amount: 5, currency: 'EUR', bcc: 'x' }, /`params.bcc` is not declared/],
    [null, '`params` must be a Record (a JSON object), got null'],
  ])('%j -> %s', (value, expected) => {
    const result = checkValue(refund, value, 'params');
    if (expected instanceof RegExp) expect(result).toMatch(expected);
    else expect(result).toBe(expected);
  });
});

describe('when policies read params', () => {
  let parts: GatewayParts;
  let root: InMemoryP256Signer;
  beforeEach(async () => {
    root = InMemoryP256Signer.generate();
    parts = wireGateway({
      store: new InMemoryKeyValueStore(),
      rootSigner: root,
      clock: systemClock,
      gatewayPrincipal: 'gw',
    });
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    await parts.gateway.putSchema(admin, { declarations: REFUND });
  });
  const decide = (body: Record<string, unknown>) => parts.gateway.decide(agent, { actor: 'a', ...body });
  const decision = async (body: Record<string, unknown>) => (await decide(body)).record as DecisionRecord;

  it('denies a refund over the limit and allows one under it', async () => {
    await parts.gateway.putPolicy(admin, 'refunds-up-to-100', {
      cedar:
        'permit (principal == Agent::"a", action == Action::"payments.refund", resource)\nwhen { context.params.amount <= 100 && context.params.currency == "EUR" };',
    });
    const small = await decision({ action: 'payments.refund', params: { amount: 100, currency: 'EUR' } });
    expect(small.decision).toBe('allow');
    const large = await decision({ action: 'payments.refund', params: { amount: 101, currency: 'EUR' } });
    expect(large.decision).toBe('deny');
    expect(large.reason).toMatch(/no policy permits/);
  });

  it('makes a params value of the wrong type a recorded deny naming the field, never an error', async () => {
    await parts.gateway.putPolicy(admin, 'refunds', {
      cedar:
        'permit (principal, action == Action::"payments.refund", resource) when { context.params.amount <= 100 };',
    });
    for (const [params, field] of [
      [{ amount: '1', currency: 'EUR' }, 'params.amount'],
      [{ amount: 1.5, currency: 'EUR' }, 'params.amount'],
      [{ amount: 1, currency: 'EUR', extra: true }, 'params.extra'],
      [{ amount: 1 }, 'params.currency'],
      [null, 'params'],
    ] as const) {
      const record = await decision({ action: 'payments.refund', ...(params === null ? {} : { params }) });
      expect(record.decision).toBe('deny');
      expect(record.reason).toContain(`\`${field}`);
      expect(record.reason).toMatch(/does not fit the shape declared for `payments.refund`/);
    }
  });

  it('lets an allow for one program run only that program', async () => {
    const { policyId } = await parts.gateway.allowPolicy(admin, {
      action: 'run.command',
      agentId: 'a',
      params: { program: '/usr/bin/echo', argv: '["/usr/bin/echo","hi"]' },
    });
    expect(policyId).toMatch(/^allow-run.command-a-[0-9a-f]{12}$/);
    const echo = await decision({
      action: 'run.command',
      params: { program: '/usr/bin/echo', argv: '["/usr/bin/echo","hi"]' },
    });
    expect(echo.decision).toBe('allow');
    for (const params of [
      { program: '/bin/sh', argv: '["/bin/sh","-c","echo hi"]' },
      { program: '/usr/bin/echo', argv: '["/usr/bin/echo","hi","; rm -rf /"]' },
    ]) {
      expect((await decision({ action: 'run.command', params })).decision).toBe('deny');
    }
  });

  it('reads extra declared context attributes and checks their types', async () => {
    await parts.gateway.putPolicy(admin, 'mail', {
      cedar:
        'permit (principal, action == Action::"tool.send_email", resource)\nwhen { context.params.to == ["ops@example.com"] && context.approver like "ops-*" };',
    });
    const params = { to: ['ops@example.com'] };
    expect(
      (await decision({ action: 'tool.send_email', params, context: { approver: 'ops-lead' } })).decision,
    ).toBe('allow');
    const missing = await decision({ action: 'tool.send_email', params });
    expect(missing.decision).toBe('deny');
    expect(missing.reason).toContain('`context.approver` is required');
    const wrong = await decision({ action: 'tool.send_email', params, context: { approver: 7 } });
    expect(wrong.reason).toContain('`context.approver` must be a String');
    const more = await decision({
      action: 'tool.send_email',
      params: { to: ['ops@example.com', 'attacker@example.com'] },
      context: { approver: 'ops-lead' },
    });
    expect(more.decision).toBe('deny');
  });

  it('refuses `context.params` sent by the caller: params cannot be smuggled through context', async () => {
    await expect(
      decide({ action: 'payments.refund', context: { params: { amount: 1 } } }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('refuses a policy reading params of an action that declares none, with a position', async () => {
    await expect(
      parts.gateway.putPolicy(admin, 'p', {
        cedar:
          'permit (principal, action == Action::"other.thing", resource) when { context.params.x == 1 };',
      }),
    ).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: { diagnostics: [expect.objectContaining({ line: 1 })] },
    });
    await expect(
      parts.gateway.putPolicy(admin, 'p', {
        cedar:
          'permit (principal, action == Action::"payments.refund", resource) when { context.params.amount == "1" };',
      }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(
      parts.gateway.allowPolicy(admin, { action: 'other.thing', params: { x: 1 } }),
    ).rejects.toThrow(/declares no params shape/);
  });

  it('refuses declarations that would leave a stored policy invalid, and changes nothing', async () => {
    await parts.gateway.putPolicy(admin, 'refunds', {
      cedar:
        'permit (principal, action == Action::"payments.refund", resource) when { context.params.amount <= 100 };',
    });
    const before = await parts.writer.page(0, 1000);
    await expect(
      parts.gateway.putSchema(admin, {
        declarations: {
          'payments.refund': { params: { type: 'Record', attributes: { cents: { type: 'Long' } } } },
        },
      }),
    ).rejects.toMatchObject({
      code: 'POLICY_WOULD_BREAK',
      details: { policies: [expect.objectContaining({ policyId: 'refunds' })] },
    });
    expect(await parts.writer.page(0, 1000)).toEqual(before);
    expect((await parts.gateway.getSchema(admin)).declarations).toEqual(REFUND);
  });

  it('chains the declarations before they take effect, and the chain verifies', async () => {
    const records = (await parts.writer.page(0, 1000)).map((l) => JSON.parse(l) as { kind: string });
    const schema = records.find((r) => r.kind === 'schema') as SchemaRecord;
    expect(JSON.parse(schema.declarations)).toEqual(REFUND);
    expect(schema.schema_sha256).toBe(sha256Hex(schema.declarations));
    const report = verifyChain(await parts.writer.page(0, 1000), { trustedRootKeys: [root.publicKeyPem] });
    expect(report.findings).toEqual([]);
  });

  it('refuses schema changes from agents', async () => {
    await expect(parts.gateway.putSchema(agent, { declarations: REFUND })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });
});

describe('when the allow shorthand pins params', () => {
  it('writes exact-match conditions with literals Cedar reads back', () => {
    const { cedar } = allowPolicy({
      action: 'x.y',
      params: { s: 'a"b', n: -3, b: true, set: ['x', 'y'], rec: { k: 1 }, 'odd-key': 'v' },
    });
    expect(cedar).toContain('context.params.s == "a\\"b"');
    expect(cedar).toContain('context.params["odd-key"] == "v"');
    expect(cedar).toContain('context.params.set == ["x", "y"]');
    expect(cedar).toContain('context.params.rec == {"k": 1}');
    const engine = new PolicyEngine();
    const declarations = parseDeclarations({
      'x.y': {
        params: {
          type: 'Record',
          attributes: {
            s: { type: 'String' },
            n: { type: 'Long' },
            b: { type: 'Boolean' },
            set: { type: 'Set', element: { type: 'String' } },
            rec: { type: 'Record', attributes: { k: { type: 'Long' } } },
            'odd-key': { type: 'String' },
          },
        },
      },
    });
    expect(engine.validate('p', cedar, declarations)).toMatchObject({ ok: true });
    const params = { s: 'a"b', n: -3, b: true, set: ['y', 'x'], rec: { k: 1 }, 'odd-key': 'v' };
    const request = { agentId: 'a', action: 'x.y', resource: '', context: {}, params };
    expect(engine.evaluate([{ policyId: 'p', cedar }], request, declarations).decision).toBe('allow');
    const other = { ...request, params: { ...params, n: -4 } };
    expect(engine.evaluate([{ policyId: 'p', cedar }], other, declarations).decision).toBe('deny');
  });

  it('refuses values Cedar has no literal for', () => {
    expect(() => allowPolicy({ action: 'x.y', params: { f: 1.5 } })).toThrow(/must be an integer/);
    expect(() => allowPolicy({ action: 'x.y', params: { n: null } })).toThrow(/no Cedar form/);
  });

  it('gives distinct params distinct ids, and the same grant without params its old id', () => {
    const plain = allowPolicy({ action: 'x.y', agentId: 'a' }).policyId;
    const pinned = allowPolicy({ action: 'x.y', agentId: 'a', params: { p: 'a' } }).policyId;
    const other = allowPolicy({ action: 'x.y', agentId: 'a', params: { p: 'b' } }).policyId;
    expect(new Set([plain, pinned, other]).size).toBe(3);
    expect(plain).toBe(allowPolicy({ action: 'x.y', agentId: 'a' }).policyId);
  });
});
