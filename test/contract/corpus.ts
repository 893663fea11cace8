/**
 * One corpus of decision and contract cases, replayed against the core use cases, the Lambda
 * handlers (API Gateway REST events) and the emulator over real HTTP. "Same contract" stays true
 * because all three must give these answers.
 */

/** Who sends a request. `mallory` has valid credentials but is no agent; `carol` is disabled. */
export type Who = 'admin' | 'alice' | 'bob' | 'carol' | 'mallory';

export const AGENTS: Array<{ agentId: string; attributes: Record<string, unknown> }> = [
  { agentId: 'alice', attributes: { team: 'payments' } },
  { agentId: 'bob', attributes: { team: 'platform' } },
  { agentId: 'carol', attributes: { team: 'payments' } },
];

/**
 * An agent bound to a role ARN with a path, on every target (the emulator included), so the cases can
 * try to bind the same role again under another spelling.
 */
export const BOUND_AGENT = { agentId: 'dave', principalArn: 'arn:aws:iam::111122223333:role/team/dave' };

/** Policies written before the cases run (as the admin). */
export const POLICIES: Array<{ policyId: string; cedar: string }> = [
  {
    policyId: 'no-terminate',
    cedar: 'forbid (principal, action == Action::"aws.ec2.terminate_instances", resource);',
  },
  {
    policyId: 'payments-terminate',
    cedar:
      'permit (principal, action == Action::"aws.ec2.terminate_instances", resource)\nwhen { principal has team && principal.team == "payments" };',
  },
  {
    policyId: 'bob-issues',
    cedar:
      'permit (principal == Agent::"bob", action == Action::"mcp.github.create_issue", resource)\nwhen { context has purpose && context.purpose == "triage" };',
  },
  {
    policyId: 'alice-small-refunds',
    cedar:
      'permit (principal == Agent::"alice", action == Action::"payments.refund", resource)\nwhen { context.params.amount <= 100 && context.params.currency == "EUR" };',
  },
  {
    policyId: 'report-alice',
    cedar: 'permit (principal == Agent::"alice", action == Action::"report.generate", resource);',
  },
  {
    // Errors at evaluation time for a positive `count` (long overflow): Cedar would skip it and allow
    // through `report-alice`; the gateway denies on any evaluation error.
    policyId: 'report-overflow',
    cedar:
      'permit (principal, action == Action::"report.generate", resource)\nwhen { context has count && context.count + 9223372036854775807 > 0 };',
  },
];

/** Declarations written before the policies (`PUT /schema`): refunds have typed params. */
export const DECLARATIONS = {
  'payments.refund': {
    params: {
      type: 'Record',
      attributes: { amount: { type: 'Long' }, currency: { type: 'String' } },
    },
  },
};

/** The narrow-policy shorthand used by the five-minute story. */
export const ALLOW = { action: 'hello-world.say_hello', agentId: 'alice', reason: 'demo' };

export interface ContractCase {
  name: string;
  as: Who;
  method: string;
  path: string;
  body?: unknown;
  /** Sent as is (malformed or oversized bodies). */
  rawBody?: string;
  expect: {
    status: number;
    decision?: 'allow' | 'deny';
    /** Exact reason, or a fragment when `reasonIncludes` is set. */
    reason?: string;
    reasonIncludes?: string;
    code?: string;
    /** Where in the body the refusal points (`error.details.field`). */
    field?: string;
    /** The decision record lists evaluation errors. */
    errors?: boolean;
    policyIds?: string[];
  };
  /** Only meaningful over HTTP (routing, body parsing); the core target skips it. */
  httpOnly?: boolean;
}

const act = (actor: string, action: string, extra: Record<string, unknown> = {}) => ({
  actor,
  action,
  resource: 'i-0abc123',
  ...extra,
});

/** Arrays nested `levels` deep: `[[...[]...]]`. */
const nested = (levels: number): unknown => {
  let value: unknown = [];
  for (let i = 1; i < levels; i += 1) value = [value];
  return value;
};

export const CASES: ContractCase[] = [
  {
    name: 'the narrowly allowed action is allowed',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'hello-world.say_hello', { resource: '' }),
    expect: {
      status: 200,
      decision: 'allow',
      reasonIncludes: 'permitted by policy `allow-hello-world.say_hello-alice',
    },
  },
  {
    name: 'a forbid wins over a matching permit',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'aws.ec2.terminate_instances'),
    expect: {
      status: 403,
      decision: 'deny',
      reason: 'forbidden by policy `no-terminate`',
      policyIds: ['no-terminate'],
    },
  },
  {
    name: 'an action no policy names is a plain deny',
    as: 'bob',
    method: 'POST',
    path: '/actions',
    body: act('bob', 'aws.s3.delete_bucket'),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'no policy permits' },
  },
  {
    name: 'the narrow policy does not extend to another agent',
    as: 'bob',
    method: 'POST',
    path: '/actions',
    body: act('bob', 'hello-world.say_hello'),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'no policy permits' },
  },
  {
    name: 'a context condition that holds allows',
    as: 'bob',
    method: 'POST',
    path: '/actions',
    body: act('bob', 'mcp.github.create_issue', { context: { purpose: 'triage' } }),
    expect: { status: 200, decision: 'allow', policyIds: ['bob-issues'] },
  },
  {
    name: 'a context condition that fails denies',
    as: 'bob',
    method: 'POST',
    path: '/actions',
    body: act('bob', 'mcp.github.create_issue', { context: { purpose: 'other' } }),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'no policy permits' },
  },
  {
    name: 'a policy reading params allows what fits it',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'payments.refund', { params: { amount: 100, currency: 'EUR' } }),
    expect: { status: 200, decision: 'allow', policyIds: ['alice-small-refunds'] },
  },
  {
    name: 'a policy reading params denies an amount over its limit',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'payments.refund', { params: { amount: 101, currency: 'EUR' } }),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'no policy permits' },
  },
  {
    name: 'params of the wrong type are a recorded deny naming the field',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'payments.refund', { params: { amount: '1', currency: 'EUR' } }),
    expect: { status: 403, decision: 'deny', reasonIncludes: '`params.amount` must be a Long' },
  },
  {
    name: 'a params field the declaration does not name is a recorded deny',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'payments.refund', { params: { amount: 1, currency: 'EUR', to_account: 'x' } }),
    expect: { status: 403, decision: 'deny', reasonIncludes: '`params.to_account` is not declared' },
  },
  {
    name: 'params cannot be smuggled in as context.params',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'payments.refund', { context: { params: { amount: 1, currency: 'EUR' } } }),
    expect: { status: 400, code: 'VALIDATION_FAILED' },
  },
  {
    name: 'an agent cannot change the declarations',
    as: 'alice',
    method: 'PUT',
    path: '/schema',
    body: { declarations: {} },
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'a policy that errors while evaluated denies, and the error is recorded',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'report.generate', { context: { count: 5 } }),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'policy evaluation failed', errors: true },
  },
  {
    name: 'without the erroring input the same request is allowed',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'report.generate'),
    expect: { status: 200, decision: 'allow', policyIds: ['report-alice'] },
  },
  {
    name: 'a spoofed actor is a recorded deny',
    as: 'bob',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'hello-world.say_hello'),
    expect: { status: 403, decision: 'deny', reason: 'actor does not match the authenticated principal' },
  },
  {
    name: 'an unregistered principal is a recorded deny',
    as: 'mallory',
    method: 'POST',
    path: '/actions',
    body: act('mallory', 'hello-world.say_hello'),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'is not a registered agent' },
  },
  {
    name: 'a disabled agent is a recorded deny',
    as: 'carol',
    method: 'POST',
    path: '/actions',
    body: act('carol', 'hello-world.say_hello'),
    expect: { status: 403, decision: 'deny', reason: 'agent `carol` is disabled' },
  },
  {
    name: 'an admin is not an agent: its decision requests are recorded denies',
    as: 'admin',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'hello-world.say_hello'),
    expect: { status: 403, decision: 'deny', reasonIncludes: 'is not a registered agent' },
  },
  {
    name: 'an agent cannot write policy',
    as: 'alice',
    method: 'PUT',
    path: '/policies/mine',
    body: { cedar: 'permit (principal, action, resource);' },
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'an agent cannot use the allow shorthand',
    as: 'alice',
    method: 'POST',
    path: '/policies/allow',
    body: { action: 'aws.ec2.terminate_instances', agentId: 'alice' },
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'an agent cannot delete policy',
    as: 'alice',
    method: 'DELETE',
    path: '/policies/no-terminate',
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'an agent cannot register agents',
    as: 'alice',
    method: 'POST',
    path: '/agents',
    body: { agentId: 'alice2' },
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'an agent cannot read the audit log',
    as: 'bob',
    method: 'GET',
    path: '/audit',
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'unknown body fields are refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: { ...act('alice', 'hello-world.say_hello'), principal: 'admin' },
    expect: { status: 400, code: 'UNKNOWN_FIELD' },
  },
  {
    name: 'a missing action is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: { actor: 'alice' },
    expect: { status: 400, code: 'VALIDATION_FAILED' },
  },
  {
    name: 'an action id with spaces is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'rm -rf /'),
    expect: { status: 400, code: 'VALIDATION_FAILED' },
  },
  {
    name: 'invalid Cedar is refused with a location',
    as: 'admin',
    method: 'PUT',
    path: '/policies/broken',
    body: { cedar: 'permit (principal, action, resource)\nwhen { principal.team == };' },
    expect: { status: 400, code: 'VALIDATION_FAILED' },
  },
  {
    name: 'malformed JSON is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: '{"actor": "alice",',
    expect: { status: 400, code: 'MALFORMED_JSON' },
    httpOnly: true,
  },
  {
    name: 'a body over 64 KiB is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: JSON.stringify({ actor: 'alice', action: 'x', context: { pad: 'a'.repeat(70 * 1024) } }),
    expect: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
    httpOnly: true,
  },
  {
    name: 'a number beyond what a double holds (1e400) is refused, naming where',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: '{"actor":"alice","action":"report.generate","context":{"count":1e400}}',
    expect: { status: 400, code: 'NUMBER_OUT_OF_RANGE', field: 'context.count' },
    httpOnly: true,
  },
  {
    name: 'an integer beyond 2^53 is refused, not hashed as its neighbour',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: '{"actor":"alice","action":"report.generate","params":{"ids":[1,9007199254740993]}}',
    expect: { status: 400, code: 'NUMBER_OUT_OF_RANGE', field: 'params.ids[1]' },
    httpOnly: true,
  },
  {
    name: 'a non-zero number that rounds to 0 is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: '{"actor":"alice","action":"report.generate","context":{"ratio":-1e-400}}',
    expect: { status: 400, code: 'NUMBER_OUT_OF_RANGE', field: 'context.ratio' },
    httpOnly: true,
  },
  {
    name: 'an integer beyond 2^53 - 1 is refused from any caller',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'report.generate', { context: { count: 2 ** 53 } }),
    expect: { status: 400, code: 'NUMBER_OUT_OF_RANGE', field: 'context.count' },
  },
  {
    name: 'a lone surrogate is refused, naming where',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    body: act('alice', 'report.generate', { params: { notes: ['ok', 'a\ud800b'] } }),
    expect: { status: 400, code: 'LONE_SURROGATE', field: 'params.notes[1]' },
  },
  {
    name: 'nesting deeper than 32 levels is refused, naming where',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    // body (1) > params (2) > deep (3) > 30 more levels reach 33
    body: act('alice', 'report.generate', { params: { deep: nested(31) } }),
    expect: { status: 400, code: 'NESTING_TOO_DEEP', field: `params.deep${'[0]'.repeat(30)}` },
  },
  {
    name: 'a key given twice in one object is refused',
    as: 'alice',
    method: 'POST',
    path: '/actions',
    rawBody: '{"actor":"alice","action":"report.generate","context":{"purpose":"a","purpose":"b"}}',
    expect: { status: 400, code: 'DUPLICATE_KEY', field: 'context.purpose' },
    httpOnly: true,
  },
  {
    name: 'a query key given twice on a signed route is refused',
    as: 'admin',
    method: 'GET',
    path: '/audit?after=1&after=5',
    expect: { status: 400, code: 'DUPLICATE_QUERY_PARAMETER', field: 'after' },
    httpOnly: true,
  },
  {
    name: 'a bound role cannot be bound to a second agent through one of its sessions',
    as: 'admin',
    method: 'POST',
    path: '/agents',
    body: { agentId: 'dave-session', principalArn: 'arn:aws:sts::111122223333:assumed-role/dave/s1' },
    expect: { status: 409, code: 'PRINCIPAL_ALREADY_BOUND' },
  },
  {
    name: 'a bound role cannot be bound to a second agent without its path',
    as: 'admin',
    method: 'POST',
    path: '/agents',
    body: { agentId: 'dave-nopath', principalArn: 'arn:aws:iam::111122223333:role/dave' },
    expect: { status: 409, code: 'PRINCIPAL_ALREADY_BOUND' },
  },
  {
    name: 'a bound role cannot be bound to a second agent under another path',
    as: 'admin',
    method: 'POST',
    path: '/agents',
    body: { agentId: 'dave-path', principalArn: 'arn:aws:iam::111122223333:role/other/path/dave' },
    expect: { status: 409, code: 'PRINCIPAL_ALREADY_BOUND' },
  },
  {
    name: 'an agent learns its own agent id, and nothing is recorded',
    as: 'alice',
    method: 'GET',
    path: '/whoami',
    expect: { status: 200 },
  },
  {
    name: 'a principal that is no agent is told nothing by GET /whoami',
    as: 'mallory',
    method: 'GET',
    path: '/whoami',
    expect: { status: 403, code: 'FORBIDDEN' },
  },
  {
    name: 'an unknown route is a 404',
    as: 'alice',
    method: 'GET',
    path: '/nope',
    expect: { status: 404, code: 'NOT_FOUND' },
    httpOnly: true,
  },
  {
    name: 'a wrong method is a 405',
    as: 'admin',
    method: 'PATCH',
    path: '/agents',
    rawBody: '{}',
    expect: { status: 405, code: 'METHOD_NOT_ALLOWED' },
    httpOnly: true,
  },
];
