import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors/errors.js';
import type { PolicyEvaluator } from '../../core/gateway/Gateway.js';
import { canonicalize, sha256Hex } from '../../core/model/canonical.js';
import { allowPolicy } from '../../core/policy/allowPolicy.js';
import { DEFAULT_SCHEMA } from '../../core/policy/cedar.js';
import { type EvaluationRequest, PolicyEngine } from '../../core/policy/PolicyEngine.js';
import { type CedarPolicy, POLICY_ID_PATTERN } from '../../core/policy/storedPolicy.js';
import { validatePolicy } from '../../core/policy/validatePolicy.js';

const infra = join(import.meta.dirname, '../../infra/cedar');

const HELLO: CedarPolicy = {
  policyId: 'hello',
  cedar: 'permit(principal == Agent::"demo-agent", action == Action::"hello-world.say_hello", resource);',
};
const TERMINATE = 'aws.ec2.terminate_instances';

function request(overrides: Partial<EvaluationRequest> = {}): EvaluationRequest {
  return { agentId: 'demo-agent', action: 'hello-world.say_hello', resource: '', context: {}, ...overrides };
}

function permit(policyId: string, scope: string, when = ''): CedarPolicy {
  return { policyId, cedar: `permit(${scope})${when ? ` when { ${when} }` : ''};` };
}

describe('when a permit matches', () => {
  it('allows and names the policy', () => {
    const engine = new PolicyEngine();
    const result = engine.evaluate([HELLO], request());
    expect(result).toEqual({
      decision: 'allow',
      reason: 'permitted by policy `hello`',
      policy_ids: ['hello'],
      policy_set_sha256: sha256Hex(canonicalize([{ policyId: 'hello', cedar: HELLO.cedar }])),
      errors: [],
    });
  });
});

describe('when no policy applies', () => {
  it('denies by default and says what was not permitted', () => {
    const engine = new PolicyEngine();
    const result = engine.evaluate([], request({ action: TERMINATE }));
    expect(result).toEqual({
      decision: 'deny',
      reason: 'no policy permits `aws.ec2.terminate_instances` for agent `demo-agent`',
      policy_ids: [],
      policy_set_sha256: sha256Hex('[]'),
      errors: [],
    });
  });

  it('does not apply a permit for another agent', () => {
    const result = new PolicyEngine().evaluate([HELLO], request({ agentId: 'other-agent' }));
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('no policy permits `hello-world.say_hello` for agent `other-agent`');
  });

  it('does not apply a permit for another action', () => {
    const result = new PolicyEngine().evaluate([HELLO], request({ action: 'hello-world.say_goodbye' }));
    expect(result.decision).toBe('deny');
    expect(result.policy_ids).toEqual([]);
  });
});

describe('when a forbid matches', () => {
  it('wins over a matching permit', () => {
    const forbid = {
      policyId: 'no-terminate',
      cedar: `forbid(principal, action == Action::"${TERMINATE}", resource);`,
    };
    const everything = permit('everything', 'principal, action, resource');
    const result = new PolicyEngine().evaluate([everything, forbid], request({ action: TERMINATE }));
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('forbidden by policy `no-terminate`');
    expect(result.policy_ids).toEqual(['no-terminate']);
  });
});

describe('when a policy has conditions', () => {
  it('reads the context', () => {
    const engine = new PolicyEngine();
    const small = permit(
      'small-batches',
      `principal, action == Action::"${TERMINATE}", resource`,
      'context has count && context.count <= 3',
    );
    expect(engine.evaluate([small], request({ action: TERMINATE, context: { count: 2 } })).decision).toBe(
      'allow',
    );
    expect(engine.evaluate([small], request({ action: TERMINATE, context: { count: 4 } })).decision).toBe(
      'deny',
    );
    expect(engine.evaluate([small], request({ action: TERMINATE })).decision).toBe('deny');
  });

  it('reads the agent attributes', () => {
    const engine = new PolicyEngine();
    const team = permit(
      'platform',
      'principal, action, resource',
      'principal has team && principal.team == "platform" && principal.roles.contains("ops")',
    );
    const platform = { team: 'platform', roles: ['ops', 'dev'] };
    expect(engine.evaluate([team], request({ agentAttributes: platform })).decision).toBe('allow');
    expect(engine.evaluate([team], request({ agentAttributes: { ...platform, team: 'web' } })).decision).toBe(
      'deny',
    );
  });

  it('matches the resource, with `Resource::""` for a request without one', () => {
    const engine = new PolicyEngine();
    const one = permit('one', 'principal, action, resource == Resource::"i-123"');
    expect(engine.evaluate([one], request({ resource: 'i-123' })).decision).toBe('allow');
    expect(engine.evaluate([one], request({ resource: '' })).decision).toBe('deny');
    const none = permit('none', 'principal, action, resource == Resource::""');
    expect(engine.evaluate([none], request({ resource: '' })).decision).toBe('allow');
  });
});

describe('when a policy errors', () => {
  it('denies even though another permit matches, and records the error', () => {
    const missing = permit('bad', 'principal, action, resource', 'principal.missing == 1');
    const result = new PolicyEngine().evaluate([HELLO, missing], request());
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('policy evaluation failed: error in policy `bad`');
    expect(result.policy_ids).toEqual(['bad']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/^policy `bad`: .*missing/);
  });

  it('denies on an integer overflow', () => {
    const overflow = {
      policyId: 'overflow',
      cedar:
        'forbid(principal, action, resource) when { context has count && context.count + 9223372036854775807 < 0 };',
    };
    const result = new PolicyEngine().evaluate([HELLO, overflow], request({ context: { count: 1 } }));
    expect(result.decision).toBe('deny');
    expect(result.policy_ids).toEqual(['overflow']);
    expect(result.errors[0]).toMatch(/overflow/);
  });

  it('still reports a matching forbid as the reason, with the errors listed', () => {
    const forbid = { policyId: 'stop', cedar: 'forbid(principal, action, resource);' };
    const missing = permit('bad', 'principal, action, resource', 'principal.missing == 1');
    const result = new PolicyEngine().evaluate([forbid, missing], request());
    expect(result).toMatchObject({
      decision: 'deny',
      reason: 'forbidden by policy `stop`',
      policy_ids: ['stop'],
    });
    expect(result.errors).toHaveLength(1);
  });

  it('numbers the statement of a multi-statement policy in source order', () => {
    const statements = Array.from({ length: 12 }, (_, i) =>
      i === 10
        ? 'permit(principal, action == Action::"x", resource) when { principal.missing == 1 };'
        : `permit(principal, action == Action::"other-${i}", resource);`,
    );
    const result = new PolicyEngine().evaluate(
      [{ policyId: 'many', cedar: statements.join('\n') }],
      request({ action: 'x' }),
    );
    expect(result.decision).toBe('deny');
    expect(result.errors[0]).toMatch(/^policy `many` \(statement 11\): /);
  });

  it('denies every decision while a stored policy does not parse', () => {
    const broken = { policyId: 'broken', cedar: 'permit(principal, action, resource' };
    const result = new PolicyEngine().evaluate([HELLO, broken], request());
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('policy evaluation failed: policy `broken` cannot be evaluated');
    expect(result.errors[0]).toMatch(/^policy `broken` does not parse \(line 1, column \d+/);
  });
});

describe('when the request data is not representable in Cedar', () => {
  it.each([
    ['a float', { ratio: 1.5 }, /`context.ratio` is 1.5/],
    ['a null', { nested: { x: null } }, /`context.nested.x` is null/],
    ['an unsafe integer', { big: 2 ** 60 }, /`context.big`/],
    ['an entity escape', { boss: { __entity: { type: 'Agent', id: 'root' } } }, /reserved Cedar key/],
  ])('denies on %s without throwing', (_what, context, error) => {
    const result = new PolicyEngine().evaluate([HELLO], request({ context }));
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('policy evaluation failed: the context is not valid Cedar data');
    expect(result.errors[0]).toMatch(error);
  });

  it('denies on a float agent attribute', () => {
    const result = new PolicyEngine().evaluate([HELLO], request({ agentAttributes: { score: 0.5 } }));
    expect(result.decision).toBe('deny');
    expect(result.errors[0]).toMatch(/`agent attributes.score`/);
  });
});

describe('when the same set is evaluated again', () => {
  it('indexes and prepares it once', () => {
    const engine = new PolicyEngine();
    const set = [HELLO, permit('other', 'principal, action == Action::"a.b", resource')];
    engine.evaluate(set, request());
    engine.evaluate(set, request());
    engine.evaluate([...set].reverse(), request());
    expect(engine.stats).toMatchObject({
      policySetsIndexed: 1,
      policiesParsed: 2,
      policySetsPrepared: 1,
      cedarCalls: 3,
    });
  });

  it('hashes the set independently of its order', () => {
    const engine = new PolicyEngine();
    const a = permit('a', 'principal, action, resource');
    const b = permit('b', 'principal, action, resource');
    const ab = engine.evaluate([a, b], request()).policy_set_sha256;
    expect(engine.evaluate([b, a], request()).policy_set_sha256).toBe(ab);
    expect(ab).toBe(sha256Hex(canonicalize([a, b])));
  });

  it('re-indexes it when one character changes, and sees the change at once', () => {
    const engine = new PolicyEngine();
    const set = [{ ...HELLO }];
    expect(engine.evaluate(set, request()).decision).toBe('allow');
    (set[0] as CedarPolicy).cedar = HELLO.cedar.replace('permit', 'forbid');
    const result = engine.evaluate(set, request());
    expect(result.decision).toBe('deny');
    expect(result.reason).toBe('forbidden by policy `hello`');
    expect(engine.stats).toMatchObject({ policySetsIndexed: 2, policiesParsed: 2, policySetsPrepared: 2 });
  });

  it('re-parses only the stored policies that changed', () => {
    const engine = new PolicyEngine();
    const many = Array.from({ length: 20 }, (_, i) =>
      permit(`p${i}`, `principal, action == Action::"a${i}", resource`),
    );
    engine.evaluate(many, request());
    engine.evaluate(
      [...many.slice(1), permit('p0', 'principal, action == Action::"changed", resource')],
      request(),
    );
    expect(engine.stats.policySetsIndexed).toBe(2);
    expect(engine.stats.policiesParsed).toBe(21);
  });
});

/** Deterministic PRNG (mulberry32), so a failing sample can be replayed. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('when the set is large', () => {
  const filler = Array.from({ length: 1000 }, (_, i) =>
    permit(`filler-${String(i).padStart(4, '0')}`, `principal, action == Action::"svc.op_${i}", resource`),
  );

  it('the one matching permit still decides, from a small slice', () => {
    const engine = new PolicyEngine();
    const result = engine.evaluate([...filler, HELLO], request());
    expect(result).toMatchObject({ decision: 'allow', policy_ids: ['hello'] });
    expect(engine.evaluate([...filler, HELLO], request({ action: 'svc.op_7' })).policy_ids).toEqual([
      'filler-0007',
    ]);
  });

  it('decides as Cedar does on the full set (with deny on error), over 200 random requests', () => {
    const random = prng(20240611);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const actions = ['a.read', 'a.write', 'b.read', 'b.delete', 'c:x/y', 'd.run'];
    const agents = ['ann', 'bob', 'cyd', 'dee'];
    const principalScopes = [
      'principal',
      'principal is Agent',
      () => `principal == Agent::"${pick(agents)}"`,
      () => `principal in Agent::"${pick(agents)}"`,
      'principal == User::"ann"',
    ];
    const actionScopes = [
      'action',
      () => `action == Action::"${pick(actions)}"`,
      () => `action in [Action::"${pick(actions)}", Action::"${pick(actions)}"]`,
      () => `action in Action::"${pick(actions)}"`,
    ];
    const conditions = [
      '',
      '',
      ' when { context has count && context.count > 2 }',
      ' unless { principal has team && principal.team == "red" }',
      ' when { principal.level > 1 }', // errors for agents without `level`
      ' when { context has tags && context.tags.contains("x") }',
    ];
    const choose = (options: ReadonlyArray<string | (() => string)>) => {
      const option = pick(options);
      return typeof option === 'function' ? option() : option;
    };
    const statement = () => {
      const forbid = random() < 0.2;
      // A forbid is always conditional (an unconditional broad one would decide nearly every sample).
      const condition = forbid ? choose(conditions.filter((c) => c !== '')) : choose(conditions);
      return `${forbid ? 'forbid' : 'permit'}(${choose(principalScopes)}, ${choose(actionScopes)}, resource)${condition};`;
    };

    const reference: Record<string, string> = {};
    const stored: CedarPolicy[] = [];
    for (let i = 0; i < 1000; i++) {
      // Mostly filler for actions no request uses, as a large real set would be.
      const policyId = `p${i}`;
      const statements =
        i % 40 === 0
          ? Array.from({ length: 1 + Math.floor(random() * 3) }, statement)
          : [`permit(principal, action == Action::"filler.${i}", resource);`];
      statements.forEach((text, n) => {
        reference[`${policyId}#${n}`] = text;
      });
      stored.push({ policyId, cedar: statements.join('\n') });
    }

    // The reference: Cedar on the full, unsliced set (pre-parsed so 200 calls stay quick).
    expect(cedar.preparsePolicySet('policy-test-reference', { staticPolicies: reference }).type).toBe(
      'success',
    );
    const engine = new PolicyEngine();
    const outcomes = { permitted: 0, forbidden: 0, failed: 0, unmatched: 0 };
    for (let k = 0; k < 200; k++) {
      const agentId = pick(agents);
      const req: EvaluationRequest = {
        agentId,
        action: pick([...actions, 'e.unnamed', 'f.unnamed']),
        resource: '',
        agentAttributes: random() < 0.8 ? { team: pick(['red', 'blue']), level: 2 } : {},
        context: random() < 0.5 ? { count: Math.floor(random() * 5), tags: ['x'] } : {},
      };
      const raw = cedar.statefulIsAuthorized({
        principal: { type: 'Agent', id: agentId },
        action: { type: 'Action', id: req.action },
        resource: { type: 'Resource', id: '' },
        context: req.context as Record<string, cedar.CedarValueJson>,
        preparsedPolicySetId: 'policy-test-reference',
        entities: [{ uid: { type: 'Agent', id: agentId }, attrs: req.agentAttributes as never, parents: [] }],
      });
      if (raw.type !== 'success') throw new Error('reference evaluation failed');
      const { decision, diagnostics } = raw.response;
      const idsOf = (ids: string[]) => [...new Set(ids.map((id) => id.split('#')[0] as string))].sort();
      const rawErrors = diagnostics.errors.map((e) => e.policyId);
      const expectedDecision = decision === 'allow' && rawErrors.length === 0 ? 'allow' : 'deny';
      const expectedIds =
        decision === 'deny' && diagnostics.reason.length > 0
          ? idsOf(diagnostics.reason)
          : rawErrors.length > 0
            ? idsOf(rawErrors)
            : idsOf(diagnostics.reason);

      const result = engine.evaluate(stored, req);
      expect({ decision: result.decision, ids: result.policy_ids, errors: result.errors.length }).toEqual({
        decision: expectedDecision,
        ids: expectedIds,
        errors: rawErrors.length,
      });
      if (result.reason.startsWith('permitted')) outcomes.permitted++;
      else if (result.reason.startsWith('forbidden')) outcomes.forbidden++;
      else if (result.reason.startsWith('policy evaluation failed')) outcomes.failed++;
      else outcomes.unmatched++;
    }
    // The sample exercises every branch, not only the default deny.
    for (const count of Object.values(outcomes)) expect(count).toBeGreaterThanOrEqual(5);
    expect(engine.stats.policySetsIndexed).toBe(1);
  });
});

describe('when policy text is validated', () => {
  it('accepts valid text and says how many statements it holds', () => {
    const text = `${HELLO.cedar}\nforbid(principal, action == Action::"${TERMINATE}", resource);`;
    expect(validatePolicy('two', text)).toEqual({
      ok: true,
      statements: 2,
      sha256: sha256Hex(text),
      warnings: [],
    });
  });

  it('locates a syntax error on line 3', () => {
    const text = '// first line\npermit(\n  principal, actoin, resource\n);';
    const result = validatePolicy('typo', text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]).toMatchObject({ line: 3, column: 14 });
    expect(result.diagnostics[0]?.message).toMatch(/actoin/);
  });

  it('locates a schema error (wrong entity type), counting characters, not bytes', () => {
    const text = '@reason("héllo wörld")\npermit(principal == User::"x", action, resource);';
    const result = validatePolicy('user', text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.diagnostics[0]).toMatchObject({ line: 2, column: 21 });
    expect(result.diagnostics[0]?.message).toMatch(/unrecognized entity type `User`/);
    expect(result.diagnostics[0]?.message).not.toMatch(/policy0/);
  });

  it('accepts any action name but refuses misused attributes', () => {
    expect(
      validatePolicy('x', `permit(principal, action == Action::"mcp.github.create_issue", resource);`).ok,
    ).toBe(true);
    const unguarded = validatePolicy(
      'x',
      'permit(principal, action, resource) when { principal.team == "a" };',
    );
    expect(unguarded.ok ? [] : unguarded.diagnostics.map((d) => d.message)).toEqual([
      expect.stringMatching(/optional attribute `team`.*principal has team|has team/),
    ]);
    const undeclared = validatePolicy(
      'x',
      'permit(principal, action == Action::"a.b", resource) when { context.foo == 1 };',
    );
    expect(undeclared.ok ? '' : undeclared.diagnostics[0]?.message).toMatch(
      /attribute `foo` in context .* not found/,
    );
    // Guarded by `has`, an undeclared attribute makes the statement impossible under the schema: refused too.
    const guarded = validatePolicy(
      'x',
      'forbid(principal, action == Action::"a.b", resource) when { context has foo && context.foo == 1 };',
    );
    expect(guarded.ok ? '' : guarded.diagnostics[0]?.message).toMatch(
      /policy is impossible.*does not declare/,
    );
    const wrongType = validatePolicy(
      'x',
      'permit(principal, action, resource) when { context has count && context.count == "3" };',
    );
    expect(wrongType.ok).toBe(false);
  });

  it('refuses empty text, comments only and templates', () => {
    for (const text of ['', '   \n', '// nothing here']) {
      const result = validatePolicy('empty', text);
      expect(result.ok ? [] : result.diagnostics[0]?.message).toMatch(/empty/);
    }
    const template = validatePolicy('tpl', 'permit(\n  principal == ?principal, action, resource);');
    expect(template).toEqual({
      ok: false,
      diagnostics: [
        expect.objectContaining({ line: 2, column: 16, message: expect.stringMatching(/template/) }),
      ],
    });
  });

  it('throws a ValidationError for a bad policy id', () => {
    expect(() => validatePolicy('-bad', HELLO.cedar)).toThrow(ValidationError);
    expect(() => validatePolicy('a'.repeat(129), HELLO.cedar)).toThrow(/policy id must be/);
    expect(validatePolicy('a'.repeat(128), HELLO.cedar).ok).toBe(true);
  });

  it('validates the sample policies in infra/', () => {
    const dir = join(infra, 'policies');
    const files = readdirSync(dir).filter((f) => f.endsWith('.cedar'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const result = validatePolicy(file.replace(/\.cedar$/, ''), readFileSync(join(dir, file), 'utf8'));
      expect({ file, result }).toMatchObject({ file, result: { ok: true } });
    }
  });

  it('uses the schema file in infra/ as its default schema', () => {
    const file = JSON.parse(readFileSync(join(infra, 'schema.cedarschema.json'), 'utf8'));
    expect(DEFAULT_SCHEMA).toEqual(file);
    expect(cedar.checkParseSchema(DEFAULT_SCHEMA)).toEqual({ type: 'success' });
  });
});

describe('when the allow shorthand is used', () => {
  it('writes a permit that validates and allows exactly what it names', () => {
    const policy = allowPolicy({ action: TERMINATE, agentId: 'demo-agent', resource: 'i-0abc' });
    expect(policy.policyId).toMatch(/^allow-aws\.ec2\.terminate_instances-demo-agent-[0-9a-f]{12}$/);
    expect(validatePolicy(policy.policyId, policy.cedar)).toMatchObject({ ok: true, statements: 1 });

    const engine = new PolicyEngine();
    const decide = (overrides: Partial<EvaluationRequest>) =>
      engine.evaluate([policy], request({ action: TERMINATE, resource: 'i-0abc', ...overrides })).decision;
    expect(decide({})).toBe('allow');
    expect(decide({ agentId: 'other-agent' })).toBe('deny');
    expect(decide({ action: 'aws.ec2.stop_instances' })).toBe('deny');
    expect(decide({ resource: 'i-0def' })).toBe('deny');
    expect(decide({ resource: '' })).toBe('deny');
  });

  it('without agent or resource, allows any agent and any resource for that action only', () => {
    const policy = allowPolicy({ action: 'mcp.github.create_issue' });
    const engine = new PolicyEngine();
    expect(
      engine.evaluate([policy], request({ action: 'mcp.github.create_issue', agentId: 'x', resource: 'r' }))
        .decision,
    ).toBe('allow');
    expect(engine.evaluate([policy], request({ action: 'mcp.github.delete_repo' })).decision).toBe('deny');
  });

  it('escapes quotes, backslashes and line breaks in the reason and the resource', () => {
    const reason = 'ticket "OPS-1" \\ approved\nby "ann"';
    const resource = 'arn:aws:s3:::bucket/"odd"\\key';
    const policy = allowPolicy({ action: 's3.get_object', reason, resource });
    expect(validatePolicy(policy.policyId, policy.cedar).ok).toBe(true);
    const json = cedar.policyToJson(policy.cedar);
    expect(json.type === 'success' && json.json.annotations).toEqual({ reason });
    const engine = new PolicyEngine();
    expect(engine.evaluate([policy], request({ action: 's3.get_object', resource })).decision).toBe('allow');
    expect(engine.evaluate([policy], request({ action: 's3.get_object', resource: 'other' })).decision).toBe(
      'deny',
    );
  });

  it('gives distinct grants distinct ids and the same grant the same id', () => {
    const ids = [
      allowPolicy({ action: 'a-b' }).policyId,
      allowPolicy({ action: 'a', agentId: 'b' }).policyId,
      allowPolicy({ action: 'a:b' }).policyId,
      allowPolicy({ action: 'a/b' }).policyId,
      allowPolicy({ action: 'a-b', resource: 'r' }).policyId,
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(allowPolicy({ action: 'a-b', reason: 'x' }).policyId).toBe(ids[0]);
    const long = allowPolicy({ action: `x${'y'.repeat(199)}`, agentId: `z${'w'.repeat(63)}` }).policyId;
    expect(long).toMatch(POLICY_ID_PATTERN);
  });

  it.each([
    [{ action: '' }, /`action` must be/],
    [{ action: 'has space' }, /`action` must be/],
    [{ action: 'a"b' }, /`action` must be/],
    [{ action: 'ok', agentId: 'bad/agent' }, /`agentId` must be/],
    [{ action: 'ok', reason: 'r'.repeat(513) }, /`reason` must be at most 512/],
    [{ action: 'ok', resource: '\uD800' }, /`resource` is not valid Unicode/],
  ])('refuses %j', (input, message) => {
    expect(() => allowPolicy(input)).toThrow(ValidationError);
    expect(() => allowPolicy(input)).toThrow(message);
  });
});

describe('when the gateway wires it', () => {
  it('implements PolicyEvaluator', () => {
    const evaluator: PolicyEvaluator = new PolicyEngine();
    expect(evaluator.validate('hello', HELLO.cedar, {}).ok).toBe(true);
    expect(evaluator.allowShorthand({ action: 'a.b' }).cedar).toMatch(/permit/);
  });
});
