import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  declarationsFrom,
  offlineEngine,
  PolicyTestInputError,
  parseTestFile,
  readPolicyFolder,
  runPolicyTests,
} from '../../bin/cli/policyTests.js';

const SCHEMA = JSON.stringify({
  'payments.refund': {
    params: { type: 'Record', attributes: { amount: { type: 'Long' } } },
  },
});
const REFUND_POLICY = `permit(principal == Agent::"bot", action == Action::"payments.refund", resource)
when { context.params.amount <= 100 };
`;
const FORBID_POLICY = `forbid(principal, action == Action::"payments.refund", resource)
when { context has region && context.region == "eu-west-1" };
`;

const engine = offlineEngine();
const declarations = declarationsFrom(SCHEMA, 'schema.json', engine);
const policies = [
  { policyId: 'refund-small', cedar: REFUND_POLICY },
  { policyId: 'no-eu', cedar: FORBID_POLICY },
];

/** The error a parse throws, or a failure when it throws none. */
function parseError(text: string, file = 'cases.yaml'): PolicyTestInputError {
  try {
    parseTestFile(text, file);
  } catch (e) {
    if (e instanceof PolicyTestInputError) return e;
    throw e;
  }
  throw new Error('expected the file to be refused');
}

describe('when a test file is parsed', () => {
  it('reads YAML with `tests:` and a JSON list alike, with the gateway defaults', () => {
    const yaml = parseTestFile(
      'tests:\n  - name: small refund\n    agent: bot\n    action: payments.refund\n    params: {amount: 5}\n    expect: allow\n',
      'a.yaml',
    );
    const json = parseTestFile('[{"agent":"bot","action":"payments.refund","expect":"deny"}]', 'b.json');

    expect(yaml[0]).toMatchObject({
      label: 'a.yaml: test 1 (`small refund`)',
      agent: 'bot',
      resource: '',
      context: {},
      params: { amount: 5 },
      expect: 'allow',
    });
    expect(json[0]).toMatchObject({ label: 'b.json: test 1', params: null, attributes: {} });
  });

  it.each([
    [
      'an unknown field',
      '- {agent: bot, action: x.y, expect: allow, expected: deny}',
      'unknown field `expected`',
    ],
    ['no expect', '- {agent: bot, action: x.y}', '`expect` must be `allow` or `deny`'],
    ['an agent id the gateway refuses', '- {agent: "bad agent!", action: x.y, expect: deny}', '`agent`'],
    [
      'context.params',
      '- {agent: bot, action: x.y, context: {params: 1}, expect: deny}',
      '`context.params` is reserved',
    ],
    [
      'an attribute the gateway refuses',
      '- {agent: bot, action: x.y, attributes: {a: {b: 1}}, expect: deny}',
      'attribute `a`',
    ],
  ])('refuses %s, naming the file and the entry', (_what, text, fragment) => {
    const error = parseError(`- {agent: bot, action: x.y, expect: allow}\n${text}`);

    expect(error.code).toBe('INVALID_TEST_ENTRY');
    expect(error.message).toMatch(/^cases\.yaml: test 2: /);
    expect(error.message).toContain(fragment);
  });

  it('refuses a file that is not YAML, or holds no list', () => {
    expect(parseError('- [unclosed').code).toBe('INVALID_TEST_FILE');
    expect(parseError('agent: bot').code).toBe('INVALID_TEST_FILE');
    expect(parseError('[]').code).toBe('INVALID_TEST_FILE');
  });
});

describe('when tests run against a policy set', () => {
  it('passes what the policies decide and names the determining policies', () => {
    const tests = parseTestFile(
      [
        '- {agent: bot, action: payments.refund, params: {amount: 5}, expect: allow, policies: [refund-small]}',
        '- {agent: bot, action: payments.refund, params: {amount: 5}, context: {region: eu-west-1}, expect: deny, reason: forbidden by, policies: [no-eu]}',
        '- {agent: other, action: payments.refund, params: {amount: 5}, expect: deny, reason: no policy permits}',
      ].join('\n'),
      't.yaml',
    );

    const results = runPolicyTests(engine, policies, declarations, tests);

    expect(results.map((r) => r.mismatches)).toEqual([[], [], []]);
  });

  it('reports params that do not fit the declared shape with the reason the gateway records', () => {
    const [test] = parseTestFile(
      '- {agent: bot, action: payments.refund, params: {amount: "5"}, expect: allow}',
      't.yaml',
    );

    const [result] = runPolicyTests(engine, policies, declarations, [test!]);

    expect(result!.passed).toBe(false);
    expect(result!.got.decision).toBe('deny');
    expect(result!.got.reason).toMatch(
      /^the request does not fit the shape declared for `payments\.refund`: /,
    );
    expect(result!.got.reason).toContain('amount');
    expect(result!.mismatches[0]).toBe('decision: expected allow, got deny');
  });

  it('says which expectation failed: decision, reason, policies', () => {
    const [test] = parseTestFile(
      '- {agent: bot, action: payments.refund, params: {amount: 500}, expect: deny, reason: forbidden, policies: [no-eu]}',
      't.yaml',
    );

    const [result] = runPolicyTests(engine, policies, declarations, [test!]);

    expect(result!.mismatches).toEqual([
      'reason: expected it to contain `forbidden`, got `no policy permits `payments.refund` for agent `bot``',
      'policies: expected [no-eu], got []',
    ]);
  });
});

describe('when a policy folder and a schema file are read', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-policy-tests-'));
    await writeFile(join(dir, 'refund-small.cedar'), REFUND_POLICY);
    // line 2, column 22: an attribute the declarations do not give the action
    await writeFile(
      join(dir, 'broken.cedar'),
      'permit(principal, action == Action::"payments.refund", resource)\nwhen { context.params.currency == "EUR" };\n',
    );
    await writeFile(join(dir, 'notes.txt'), 'not a policy');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('validates each *.cedar file as the gateway does at write time, with line and column', async () => {
    const folder = await readPolicyFolder(dir, engine, declarations);

    expect(folder.policies.map((p) => p.policyId)).toEqual(['broken', 'refund-small']);
    expect(folder.problems).toHaveLength(1);
    expect(folder.problems[0]).toMatchObject({ policyId: 'broken', file: join(dir, 'broken.cedar') });
    expect(folder.problems[0]!.diagnostics[0]).toMatchObject({ line: 2 });
    expect(
      engine.validate(
        'broken',
        'permit(principal, action, resource) when { context.params.currency == "EUR" };',
        declarations,
      ).ok,
    ).toBe(false);
  });

  it('refuses a schema file the gateway would refuse, and a folder without policies', async () => {
    expect(() => declarationsFrom('{', 's.json', engine)).toThrow(PolicyTestInputError);
    expect(() => declarationsFrom('{"x.y": {"params": {"type": "Float"}}}', 's.json', engine)).toThrow(
      /`s\.json`: /,
    );
    await expect(readPolicyFolder(join(dir, 'nope'), engine, declarations)).rejects.toMatchObject({
      code: 'INVALID_POLICY_FOLDER',
    });
  });
});
