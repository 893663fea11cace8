import { App, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { AGENT_ROUTES } from '../../cdk/AgentRole.js';
import { buildApp } from '../../cdk/app.js';
import {
  agentOutputNames,
  ROOT_KEY_DELEGATED_ACTIONS,
  ROUTES,
  ZtInfraStack,
} from '../../cdk/ZtInfraStack.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { formatCheckpointBody, signCheckpoint, verifyCheckpoint } from '../../core/log/checkpoint.js';
import { ROUTE_GROUPS } from '../../lambdas/api.js';

type Json = Record<string, unknown>;
interface Statement {
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Principal?: unknown;
  Condition?: Json;
}

/** A synthesized app with bundling skipped (`aws:cdk:bundling-stacks: []`), cdk-nag applied. */
function synth(context: Json = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  app.synth(); // runs the cdk-nag AwsSolutions pack: throws on any unacknowledged finding
  return { app, stack, template: Template.fromStack(stack) };
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** A resource or principal reference as a readable string (`Fn::Join` flattened, refs as `<Id>`). */
function flat(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (v && 'Fn::Join' in v) return ((v['Fn::Join'] as [string, unknown[]])[1] ?? []).map(flat).join('');
  if (v && 'Ref' in v) return `<${v['Ref']}>`;
  if (v && 'Fn::GetAtt' in v) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  return JSON.stringify(value);
}

/** Every policy statement in the template with where it comes from. */
function statements(
  template: Template,
): Array<{ where: string; type: string; roles: string[]; s: Statement }> {
  const out: Array<{ where: string; type: string; roles: string[]; s: Statement }> = [];
  const resources = template.toJSON()['Resources'] as Record<string, { Type: string; Properties: Json }>;
  for (const [id, r] of Object.entries(resources)) {
    const p = r.Properties ?? {};
    const docs: Array<{ doc: unknown; roles: string[] }> = [];
    if (r.Type === 'AWS::IAM::Policy') {
      docs.push({
        doc: p['PolicyDocument'],
        roles: asArray(p['Roles'] as Json[]).map((x) => String(x['Ref'])),
      });
    }
    if (r.Type === 'AWS::IAM::Role') {
      for (const inline of asArray(p['Policies'] as Json[]))
        docs.push({ doc: inline['PolicyDocument'], roles: [id] });
    }
    if (r.Type === 'AWS::KMS::Key') docs.push({ doc: p['KeyPolicy'], roles: [] });
    if (r.Type === 'AWS::S3::BucketPolicy' || r.Type === 'AWS::SNS::TopicPolicy') {
      docs.push({ doc: p['PolicyDocument'], roles: [] });
    }
    if (r.Type === 'AWS::ApiGateway::RestApi' && p['Policy']) docs.push({ doc: p['Policy'], roles: [] });
    for (const { doc, roles } of docs) {
      for (const s of asArray((doc as { Statement?: Statement[] })?.Statement)) {
        out.push({ where: id, type: r.Type, roles, s });
      }
    }
  }
  return out;
}

/** The statements of the API's resource policy. */
function apiPolicy(template: Template): Statement[] {
  return statements(template)
    .filter((x) => x.type === 'AWS::ApiGateway::RestApi')
    .map((x) => x.s);
}

/** The principals a statement names, flattened (`*`, a literal ARN, or `<RoleId.Arn>`). */
function principalsOf(s: Statement): string[] {
  if (s.Principal === '*') return ['*'];
  return asArray((s.Principal as { AWS?: unknown } | undefined)?.AWS).map(flat);
}

/** IAM ARN matching: `*` any run of characters, `?` one. */
function arnMatches(pattern: string, value: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(value);
}

/** A concrete request path for a route (path parameters filled in). */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'x-1').replace(/\*/g, 'x-1');

/**
 * What the resource policy alone says about `principal` (a flattened principal as in `principalsOf`, or
 * `anonymous`) calling `METHOD path` from the stack's own account: `deny` (an explicit Deny applies),
 * `allow` (an Allow names it, or `*`), `silent` (only the caller's own IAM policy can let it in).
 */
function resourcePolicySays(policy: Statement[], principal: string, method: string, path: string) {
  const resource = `execute-api:/v1/${method}${concrete(path)}`;
  const applies = (s: Statement) => {
    const names = principalsOf(s);
    if (!names.includes('*') && !names.includes(principal)) return false;
    if (s.Resource !== undefined)
      return asArray(s.Resource)
        .map(flat)
        .some((r) => arnMatches(r, resource));
    return !asArray(s.NotResource)
      .map(flat)
      .some((r) => arnMatches(r, resource));
  };
  // the account/organization Deny is conditional on being an outsider; these callers are insiders
  if (policy.some((s) => s.Effect === 'Deny' && !s.Condition && applies(s))) return 'deny';
  return policy.some((s) => s.Effect === 'Allow' && applies(s)) ? 'allow' : 'silent';
}

/** The `execute-api:Invoke` routes a role's own IAM policies allow, as `METHOD/path` with `*` parameters. */
function iamRoutesOf(template: Template, roleId: string): string[] {
  return statements(template)
    .filter(
      (x) =>
        x.roles.includes(roleId) &&
        x.s.Effect === 'Allow' &&
        asArray(x.s.Action).includes('execute-api:Invoke'),
    )
    .flatMap((x) => asArray(x.s.Resource).map(flat))
    .map((r) => r.replace(/^.*\/v1\//, ''));
}

const roleIdOf = (template: Template, prefix: string) =>
  Object.keys(template.findResources('AWS::IAM::Role')).find((id) => id.startsWith(prefix)) as string;

/** Every route of the API, and some that are none (they reach the catch-all methods). */
const PROBES = [
  ...ROUTES.map((r) => ({ method: r.method, path: r.path })),
  { method: 'PATCH', path: '/agents' },
  { method: 'GET', path: '/nothing/here' },
  { method: 'POST', path: '/' },
];

describe('when the stack is synthesized with no extra context', () => {
  let template: Template;
  let stack: Stack;
  beforeAll(() => {
    ({ template, stack } = synth());
  });

  it('passes cdk-nag AwsSolutions with every acknowledgement carrying a reason', () => {
    // synth() would have thrown on an unacknowledged finding; here: the acknowledgements are real text
    const acks = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:acknowledged-rules'))
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })),
      )
      .filter((a) => a.id.startsWith('AwsSolutions::'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^AwsSolutions::AwsSolutions-[A-Z]+[0-9]+(\[.+\])?$/);
      expect(ack.reason.length).toBeGreaterThan(40);
    }
  });

  it('puts AWS_IAM on every API method except GET /health', () => {
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const health = Object.entries(resources).find(([, r]) => r['Properties']['PathPart'] === 'health')?.[0];
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    expect(methods.length).toBeGreaterThan(ROUTES.length);
    const open = methods.filter((m) => m['Properties']['AuthorizationType'] !== 'AWS_IAM');
    expect(open).toHaveLength(1);
    expect(open[0]?.['Properties']).toMatchObject({
      HttpMethod: 'GET',
      AuthorizationType: 'NONE',
      ResourceId: { Ref: health },
    });
  });

  it('grants no `*` action and no `*` resource in an Allow beyond the acknowledged path parameters', () => {
    const allows = statements(template).filter((x) => x.s.Effect === 'Allow');
    for (const { s, where } of allows) {
      for (const action of asArray(s.Action)) {
        expect(action, `${where}: ${action}`).not.toBe('*');
        // the key policy's account statement lists its actions (ROOT_KEY_DELEGATED_ACTIONS): no kms:*
        expect(action.endsWith(':*'), `${where}: ${action}`).toBe(false);
      }
    }
    const acknowledged = [
      /\/v1\/(GET|DELETE)\/agents\/\*$/,
      /\/v1\/(GET|PUT|DELETE)\/policies\/\*$/,
      /\/v1\/POST\/actions\/\*\/outcome$/,
      /\/v1\/GET\/approvals\/\*$/,
      /\/v1\/POST\/approvals\/\*\/(approve|reject)$/,
      /^<CheckpointBucket[A-F0-9]+\.Arn>\/checkpoints\/\*$/,
    ];
    const identity = allows.filter((x) => x.type === 'AWS::IAM::Policy' || x.type === 'AWS::IAM::Role');
    for (const { s, where } of identity) {
      for (const resource of asArray(s.Resource).map(flat)) {
        if (!resource.includes('*')) continue;
        expect(
          acknowledged.some((re) => re.test(resource)),
          `${where}: unacknowledged wildcard ${resource}`,
        ).toBe(true);
      }
    }
    // resource policies name `*` as "this resource" (key policy) or the API's own execute-api:/* form
    for (const { s, where, type } of allows.filter((x) => !identity.includes(x))) {
      for (const resource of asArray(s.Resource).map(flat)) {
        if (resource === '*') expect(type, where).toBe('AWS::KMS::Key');
      }
    }
  });

  it('lets only the four function roles sign with the root key', () => {
    const fnRoles = ['Decisions', 'Admin', 'Audit', 'Checkpoint'].map(
      (n) =>
        Object.keys(template.findResources('AWS::IAM::Role')).find((id) =>
          id.startsWith(`${n}FunctionRole`),
        ) as string,
    );
    expect(fnRoles.every(Boolean)).toBe(true);
    const signAllows = statements(template).filter(
      (x) => x.s.Effect === 'Allow' && asArray(x.s.Action).includes('kms:Sign'),
    );
    const identity = signAllows.filter((x) => x.type === 'AWS::IAM::Policy');
    expect(new Set(identity.flatMap((x) => x.roles))).toEqual(new Set(fnRoles));
    for (const x of identity) expect(x.roles).toHaveLength(1);
    // the only other Allow is the key policy's delegation to the account, which the Deny below narrows
    expect(signAllows.filter((x) => x.type !== 'AWS::IAM::Policy').map((x) => x.type)).toEqual([
      'AWS::KMS::Key',
    ]);
    const deny = statements(template).find(
      (x) => x.type === 'AWS::KMS::Key' && x.s.Effect === 'Deny' && asArray(x.s.Action).includes('kms:Sign'),
    );
    expect(deny?.s.Principal).toEqual({ AWS: '*' });
    const notEquals = (deny?.s.Condition?.['ArnNotEquals'] ?? {}) as Json;
    const exempt = asArray(notEquals['aws:PrincipalArn'] as Json[]);
    expect(exempt.map((a) => (a['Fn::GetAtt'] as string[])[0]).sort()).toEqual([...fnRoles].sort());
    const keyPolicy = statements(template).filter((x) => x.type === 'AWS::KMS::Key');
    expect(asArray(keyPolicy[0]?.s.Action)).toEqual(ROOT_KEY_DELEGATED_ACTIONS);
    expect(ROOT_KEY_DELEGATED_ACTIONS).not.toContain('kms:CreateGrant');
  });

  it('gives kms:GetPublicKey to readers (functions and the admin role) and nothing else of KMS to the admin', () => {
    const adminRole = Object.keys(template.findResources('AWS::IAM::Role')).find((id) =>
      id.startsWith('AdminRole'),
    );
    const adminKms = statements(template)
      .filter((x) => x.type === 'AWS::IAM::Policy' && x.roles.includes(adminRole as string))
      .flatMap((x) => asArray(x.s.Action))
      .filter((a) => a.startsWith('kms:'));
    expect(adminKms).toEqual(['kms:GetPublicKey']);
  });

  it('makes the root key an ECC_NIST_P256 SIGN_VERIFY key with an alias, retained', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }),
      DeletionPolicy: 'Retain',
    });
    template.hasResourceProperties('AWS::KMS::Alias', {
      AliasName: Match.stringLikeRegexp('^alias/zt-infra/'),
    });
  });

  it('keeps one table (pk/sk) with PITR, deletion protection, encryption and on-demand billing', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResource('AWS::DynamoDB::Table', {
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      },
      DeletionPolicy: 'Retain',
    });
  });

  it('limits the audit and checkpoint functions to writing checkpoint partitions', () => {
    const leading = statements(template).filter(
      (x) =>
        x.type === 'AWS::IAM::Policy' && asArray(x.s.Action).includes('dynamodb:PutItem') && x.s.Condition,
    );
    expect(leading.map((x) => x.roles[0]?.replace(/FunctionRole.*/, '')).sort()).toEqual([
      'Audit',
      'Checkpoint',
    ]);
    for (const x of leading) {
      expect(x.s.Condition).toEqual({
        'ForAllValues:StringLike': {
          'dynamodb:LeadingKeys': ['merkle#*', 'checkpoint#*', 'checkpoint-heartbeat#*'],
        },
      });
      // and no unconditional write elsewhere in their policies
      const unconditional = statements(template).filter(
        (y) =>
          y.roles.includes(x.roles[0] as string) &&
          !y.s.Condition &&
          asArray(y.s.Action).some((a) =>
            /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(a),
          ),
      );
      expect(unconditional).toEqual([]);
    }
  });

  it('archives checkpoints to an Object Lock COMPLIANCE bucket, private and TLS-only', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockEnabled: true,
      ObjectLockConfiguration: {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } },
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    const tls = statements(template).filter(
      (x) =>
        x.type === 'AWS::S3::BucketPolicy' &&
        x.s.Effect === 'Deny' &&
        JSON.stringify(x.s.Condition).includes('aws:SecureTransport'),
    );
    expect(tls).toHaveLength(2);
    const checkpointFn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f['Properties']['Environment']['Variables']['CHECKPOINT_BUCKET'],
    );
    expect(checkpointFn?.['Properties']['Environment']['Variables']['CHECKPOINT_RETENTION_DAYS']).toBe('365');
  });

  it('takes the Object Lock retention from context', () => {
    const { template: t } = synth({ 'zt:checkpointRetentionDays': '30' });
    t.hasResourceProperties('AWS::S3::Bucket', {
      ObjectLockConfiguration: Match.objectLike({
        Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } },
      }),
    });
  });

  it('sets a retention on every log group', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBe(5);
    for (const g of groups) expect(g['Properties']['RetentionInDays']).toBe(365);
  });

  it('reserves concurrency for each function from measured capacity (decisions 32, admin 2, audit 2, checkpoint 1)', () => {
    const reserved = (fn: lambda.IFunction) =>
      template.toJSON()['Resources'][stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)][
        'Properties'
      ]['ReservedConcurrentExecutions'];
    const zt = stack as ZtInfraStack;
    expect(reserved(zt.functions.decisions)).toBe(32);
    expect(reserved(zt.functions.admin)).toBe(2);
    expect(reserved(zt.functions.audit)).toBe(2);
    expect(reserved(zt.checkpointFunction)).toBe(1);
  });

  it('logs access and throttles at the stage, without logging bodies', () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      MethodSettings: [
        Match.objectLike({ ThrottlingRateLimit: 1_500, ThrottlingBurstLimit: 64, DataTraceEnabled: false }),
      ],
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true });
  });

  it('restricts the API to the account by default, and to an organization on request', () => {
    const policy = () =>
      statements(template).filter((x) => x.type === 'AWS::ApiGateway::RestApi' && x.s.Effect === 'Deny');
    expect(policy()[0]?.s.Condition).toEqual({
      StringNotEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } },
    });
    expect(policy()[0]?.s.NotResource).toBe('execute-api:/v1/GET/health');
    const { template: org } = synth({ 'zt:apiAccess': 'o-abcdefghij' });
    const deny = statements(org).find((x) => x.type === 'AWS::ApiGateway::RestApi' && x.s.Effect === 'Deny');
    expect(deny?.s.Condition).toEqual({ StringNotEquals: { 'aws:PrincipalOrgID': 'o-abcdefghij' } });
  });

  it('runs every function on nodejs22.x arm64 with the table, key and admin ARNs wired in', () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(4);
    const table = Object.keys(template.findResources('AWS::DynamoDB::Table'))[0];
    const key = Object.keys(template.findResources('AWS::KMS::Key'))[0];
    const adminRole = Object.keys(template.findResources('AWS::IAM::Role')).find((id) =>
      id.startsWith('AdminRole'),
    );
    const groups: string[] = [];
    for (const fn of fns) {
      const p = fn['Properties'];
      expect(p['Runtime']).toBe('nodejs22.x');
      expect(p['Architectures']).toEqual(['arm64']);
      expect(p['Handler']).toBe('index.handler');
      const env = p['Environment']['Variables'];
      expect(env['TABLE_NAME']).toEqual({ Ref: table });
      expect(env['ROOT_KEY_ARN']).toEqual({ 'Fn::GetAtt': [key, 'Arn'] });
      expect(env['NODE_OPTIONS']).toBe('--enable-source-maps');
      if (env['ROUTE_GROUP']) {
        groups.push(env['ROUTE_GROUP']);
        expect(env['ADMIN_PRINCIPAL_ARNS']).toEqual({ 'Fn::GetAtt': [adminRole, 'Arn'] });
      }
    }
    expect(groups.sort()).toEqual(['admin', 'audit', 'decisions']);
  });

  it('passes extra admin principals from context', () => {
    const extra = 'arn:aws:iam::111122223333:role/SecurityTeam';
    const { template: t } = synth({ 'zt:adminPrincipalArns': extra });
    const fn = Object.values(t.findResources('AWS::Lambda::Function')).find(
      (f) => f['Properties']['Environment']['Variables']['ROUTE_GROUP'] === 'admin',
    );
    expect(flat(fn?.['Properties']['Environment']['Variables']['ADMIN_PRINCIPAL_ARNS'])).toMatch(
      new RegExp(`^<AdminRole[A-F0-9]+\\.Arn>,${extra}$`),
    );
  });

  it('sends each route to the function of its group, as lambdas/api.ts routes them', () => {
    const fromCdk = new Map<string, string[]>();
    for (const r of ROUTES) fromCdk.set(r.group, [...(fromCdk.get(r.group) ?? []), `${r.method} ${r.path}`]);
    expect(Object.fromEntries(fromCdk)).toEqual(ROUTE_GROUPS);
  });

  it('lets the admin role invoke admin and audit routes (and GET /keys) only', () => {
    const adminRole = Object.keys(template.findResources('AWS::IAM::Role')).find((id) =>
      id.startsWith('AdminRole'),
    );
    const invoke = statements(template).filter(
      (x) => x.roles.includes(adminRole as string) && asArray(x.s.Action).includes('execute-api:Invoke'),
    );
    const routes = invoke
      .flatMap((x) => asArray(x.s.Resource).map(flat))
      .map((r) => r.replace(/^.*\/v1\//, ''));
    expect(routes.sort()).toEqual(
      [
        'DELETE/agents/*',
        'DELETE/policies/*',
        'GET/agents',
        'GET/agents/*',
        'GET/audit',
        'GET/audit/checkpoint',
        'GET/audit/checkpoints',
        'GET/keys',
        'GET/policies',
        'GET/policies/*',
        'POST/agents',
        'POST/policies/allow',
        'PUT/policies/*',
        'GET/schema',
        'PUT/schema',
        'GET/approvals',
        'GET/approvals/*',
        'POST/approvals/*/approve',
        'POST/approvals/*/reject',
      ].sort(),
    );
  });

  it('lets the approver role invoke the approval routes only, and hands the approver ARNs to the functions', () => {
    const approverRole = roleIdOf(template, 'ApproverRole');
    expect(
      iamRoutesOf(template, approverRole)
        .map((r) => r.replace(/^.*\/v1\//, ''))
        .sort(),
    ).toEqual(
      ['GET/approvals', 'GET/approvals/*', 'POST/approvals/*/approve', 'POST/approvals/*/reject'].sort(),
    );
    const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter(
      (f) => f['Properties']['Environment']?.['Variables']?.['ROUTE_GROUP'] !== undefined,
    );
    expect(fns).toHaveLength(3);
    for (const fn of fns) {
      expect(flat(fn['Properties']['Environment']['Variables']['APPROVER_PRINCIPAL_ARNS'])).toBe(
        `<${approverRole}.Arn>`,
      );
    }
  });

  it('alarms when an approval waits longer than 30 minutes, on the metric the checkpoint function emits', () => {
    const alarm = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).find(([id]) =>
      id.startsWith('ApprovalsPendingTooLongAlarm'),
    )?.[1];
    expect(alarm?.['Properties']).toMatchObject({
      MetricName: 'OldestPendingApprovalSeconds',
      Namespace: 'ZtInfra',
      Statistic: 'Maximum',
      Threshold: 1800,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('schedules the checkpoint function every minute and alarms to one topic', () => {
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 minute)' });
    const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0];
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    const names = Object.keys(template.findResources('AWS::CloudWatch::Alarm')).map((id) =>
      id.replace(/[A-F0-9]{8}$/, ''),
    );
    expect(names.sort()).toEqual(
      [
        'Api5xxRateAlarm',
        'ApiThrottlesAlarm',
        'AppendConflictsAlarm',
        'AppendFailuresAlarm',
        'ApprovalsPendingTooLongAlarm',
        'CheckpointFailuresAlarm',
        'DenyBurstAlarm',
        'SigningFailuresAlarm',
        'ThrottlesAlarm',
      ].sort(),
    );
    for (const a of alarms) expect(a['Properties']['AlarmActions']).toEqual([{ Ref: topic }]);
    const rule = Object.values(template.findResources('AWS::CloudWatch::InsightRule'))[0];
    const body = JSON.parse(flat(rule?.['Properties']['RuleBody']).replace(/<[^>]+>/g, 'log-group'));
    expect(body.Contribution).toEqual({
      Keys: ['$.principal'],
      Filters: [{ Match: '$.decision', In: ['deny'] }],
    });
  });

  it('outputs the endpoint, region, key ARN and role ARNs', () => {
    const outputs = Object.keys(template.toJSON()['Outputs']);
    for (const name of ['ApiEndpoint', 'Region', 'RootKeyArn', 'AdminRoleArn', 'AlarmTopicArn']) {
      expect(outputs).toContain(name);
    }
  });
});

describe('when the API resource policy is read from the attacker side', () => {
  const extraAdmin = 'arn:aws:iam::111122223333:role/SecurityTeam';
  const extraAgent = 'arn:aws:iam::444455556666:role/ci-runner';
  const extraApprover = 'arn:aws:iam::111122223333:role/OnCall';
  let template: Template;
  let policy: Statement[];
  let adminRole: string;
  let agentRole: string;
  beforeAll(() => {
    ({ template } = synth({
      'zt:agents': 'deploy-bot',
      'zt:adminPrincipalArns': extraAdmin,
      'zt:agentPrincipalArns': extraAgent,
      'zt:approverPrincipalArns': extraApprover,
    }));
    policy = apiPolicy(template);
    adminRole = `<${roleIdOf(template, 'AdminRole')}.Arn>`;
    agentRole = `<${roleIdOf(template, 'AgentdeploybotRole')}.Arn>`;
  });

  it('allows no `*` principal (and no account root) on any route but GET /health', () => {
    expect(policy.length).toBeGreaterThan(0);
    for (const s of policy.filter((x) => x.Effect === 'Allow')) {
      const names = principalsOf(s);
      for (const name of names) expect(name, JSON.stringify(s)).not.toMatch(/:root$/);
      if (names.includes('*')) {
        expect(s.NotResource, JSON.stringify(s)).toBeUndefined();
        expect(asArray(s.Resource).map(flat), JSON.stringify(s)).toEqual(['execute-api:/v1/GET/health']);
      }
    }
    expect(resourcePolicySays(policy, 'anonymous', 'GET', '/health')).toBe('allow');
  });

  it('lets an agent role reach only the agent routes through it, never an admin or audit route', () => {
    const agentRoutes = AGENT_ROUTES.map((r) => `${r.method} ${concrete(r.path)}`);
    for (const probe of PROBES) {
      const said = resourcePolicySays(policy, agentRole, probe.method, probe.path);
      const isAgentRoute = agentRoutes.includes(`${probe.method} ${concrete(probe.path)}`);
      const open = `${probe.method} ${probe.path}` === 'GET /health';
      expect(said, `${probe.method} ${probe.path}`).toBe(isAgentRoute || open ? 'allow' : 'silent');
    }
  });

  it('gives a principal it does not name nothing but GET /health (only its own IAM policy could let it in)', () => {
    for (const other of ['arn:aws:iam::111122223333:role/SomeoneElse', 'anonymous']) {
      for (const probe of PROBES) {
        const open = `${probe.method} ${probe.path}` === 'GET /health';
        expect(resourcePolicySays(policy, other, probe.method, probe.path), `${other} ${probe.path}`).toBe(
          open ? 'allow' : 'silent',
        );
      }
    }
  });

  it('allows each stack role no route its own IAM policy does not grant', () => {
    for (const [principal, roleId] of [
      [adminRole, roleIdOf(template, 'AdminRole')],
      [agentRole, roleIdOf(template, 'AgentdeploybotRole')],
      [`<${roleIdOf(template, 'ApproverRole')}.Arn>`, roleIdOf(template, 'ApproverRole')],
    ] as const) {
      const granted = iamRoutesOf(template, roleId);
      expect(granted.length).toBeGreaterThan(0);
      for (const probe of PROBES.filter((p) => `${p.method} ${p.path}` !== 'GET /health')) {
        if (resourcePolicySays(policy, principal, probe.method, probe.path) !== 'allow') continue;
        const request = `${probe.method}${concrete(probe.path)}`;
        expect(
          granted.some((g) => arnMatches(g, request)),
          `${roleId}: ${probe.method} ${probe.path} allowed by the resource policy only`,
        ).toBe(true);
      }
    }
  });

  it('lets the admin role and the configured admin ARN reach exactly the admin routes through it', () => {
    for (const admin of [adminRole, extraAdmin]) {
      const reached = PROBES.filter(
        (p) => resourcePolicySays(policy, admin, p.method, p.path) === 'allow',
      ).map((p) => `${p.method} ${p.path}`);
      expect(reached.sort()).toEqual(
        [
          ...ROUTES.filter((r) => r.group !== 'decisions').map((r) => `${r.method} ${r.path}`),
          'GET /keys',
          'GET /health',
        ].sort(),
      );
    }
  });

  it('lets the approver role and a configured approver ARN reach the approval routes only, never a decision', () => {
    const approverRole = `<${roleIdOf(template, 'ApproverRole')}.Arn>`;
    for (const approver of [approverRole, extraApprover]) {
      const reached = PROBES.filter(
        (p) => resourcePolicySays(policy, approver, p.method, p.path) === 'allow',
      ).map((p) => `${p.method} ${p.path}`);
      expect(reached.sort()).toEqual(
        [
          ...ROUTES.filter((r) => r.path.startsWith('/approvals')).map((r) => `${r.method} ${r.path}`),
          'GET /health',
        ].sort(),
      );
    }
  });

  it('lets the configured agent ARN (a role of another account) reach the agent routes only', () => {
    const reached = PROBES.filter(
      (p) => resourcePolicySays(policy, extraAgent, p.method, p.path) === 'allow',
    ).map((p) => `${p.method} ${p.path}`);
    expect(reached.sort()).toEqual(
      [
        'POST /actions',
        'POST /actions/allowed',
        'POST /actions/{id}/outcome',
        'GET /whoami',
        'GET /keys',
        'GET /health',
      ].sort(),
    );
  });

  it('still turns away every principal outside the account, whatever an Allow names', () => {
    const deny = policy.filter((s) => s.Effect === 'Deny');
    expect(deny).toHaveLength(1);
    expect(principalsOf(deny[0] as Statement)).toEqual(['*']);
    expect(deny[0]?.NotResource).toBe('execute-api:/v1/GET/health');
    expect(deny[0]?.Condition).toEqual({
      StringNotEquals: { 'aws:PrincipalAccount': { Ref: 'AWS::AccountId' } },
    });
  });

  it('refuses a configured principal that is not an IAM role or user ARN (a wildcard, an account root)', () => {
    for (const arn of [
      '*',
      'arn:aws:iam::111122223333:root',
      'arn:aws:iam::111122223333:role/*',
      '111122223333',
    ]) {
      expect(() => synth({ 'zt:agentPrincipalArns': arn }), arn).toThrow(
        /agentPrincipalArns must be IAM role or user ARNs/,
      );
      expect(() => synth({ 'zt:adminPrincipalArns': arn }), arn).toThrow(
        /adminPrincipalArns must be IAM role or user ARNs/,
      );
    }
  });

  it('keeps the logical ids of the resources a rename would replace (the chain, its key, its callers)', () => {
    const ids = Object.keys(template.toJSON()['Resources'] as Json);
    for (const id of [
      'TableCD117FA1',
      'RootKeyEC9149F6',
      'CheckpointBucketDFE4871A',
      'CheckpointAccessLogs685A2620',
      'ApiF70053CD',
      'AdminRole38563C57',
      'AgentdeploybotRole17D9FCBC',
      'AlarmTopicD01E77F9',
      'DecisionsFunctionLogsE5A9FF5F',
      'ApiAccessLogsE9DF007D',
      'DecisionsFunction121E74F1',
      'AdminFunction09BA95C5',
      'AuditFunctionE377F5C8',
      'CheckpointFunctionE37CEBEF',
      'ApiDeploymentStagev102147F91',
    ]) {
      expect(ids, id).toContain(id);
    }
    expect(Object.keys(template.toJSON()['Outputs'] as Json)).toContain('AgentRoleArndeploybot');
  });

  it('redeploys the stage when the policy changes (an undeployed policy would leave the old one in force)', () => {
    const deployment = (t: Template) => Object.keys(t.findResources('AWS::ApiGateway::Deployment'));
    const { template: withoutExtraAgent } = synth({
      'zt:agents': 'deploy-bot',
      'zt:adminPrincipalArns': extraAdmin,
    });
    expect(deployment(withoutExtraAgent)).toHaveLength(1);
    expect(deployment(withoutExtraAgent)).not.toEqual(deployment(template));
  });
});

describe('when the API is opened to any account (zt:apiAccess=any)', () => {
  it('drops only the outsider Deny: the route-scoped Allows stay, `*` still reaches GET /health only', () => {
    const { template } = synth({ 'zt:apiAccess': 'any', 'zt:agents': 'deploy-bot' });
    const policy = apiPolicy(template);
    expect(policy.filter((s) => s.Effect === 'Deny')).toEqual([]);
    const agentRole = `<${roleIdOf(template, 'AgentdeploybotRole')}.Arn>`;
    const adminRole = `<${roleIdOf(template, 'AdminRole')}.Arn>`;
    expect(resourcePolicySays(policy, agentRole, 'POST', '/actions')).toBe('allow');
    expect(resourcePolicySays(policy, agentRole, 'PUT', '/policies/{policyId}')).toBe('silent');
    expect(resourcePolicySays(policy, adminRole, 'PUT', '/policies/{policyId}')).toBe('allow');
    for (const probe of PROBES.filter((p) => `${p.method} ${p.path}` !== 'GET /health')) {
      expect(resourcePolicySays(policy, 'anonymous', probe.method, probe.path)).toBe('silent');
    }
  });
});

describe('when agent ids differ only in `.` or `-`', () => {
  it('synthesizes, each agent with its own output, the plain name kept by an id that collides with none', () => {
    const { template } = synth({ 'zt:agents': 'a.b,a-b,deploy-bot' });
    const outputs = template.toJSON()['Outputs'] as Record<string, { Value: unknown; Description: string }>;
    const agentOutputs = Object.keys(outputs).filter((k) => k.startsWith('AgentRoleArn'));
    expect(agentOutputs).toHaveLength(3);
    expect(agentOutputs).toContain('AgentRoleArndeploybot');
    const suffixed = agentOutputs.filter((k) => /^AgentRoleArnab[0-9a-f]{8}$/.test(k));
    expect(suffixed).toHaveLength(2);
    // each output names the role tagged with its own agent id
    const roles = template.findResources('AWS::IAM::Role');
    for (const name of agentOutputs) {
      const value = outputs[name]?.Value as { 'Fn::GetAtt': [string, string] };
      const roleId = value['Fn::GetAtt'][0];
      const tags = (roles[roleId] as { Properties: { Tags: Array<{ Key: string; Value: string }> } })
        .Properties.Tags;
      const tag = tags.find((t) => t.Key === 'zt:agentId')?.Value as string;
      expect(outputs[name]?.Description).toContain(`agent ${tag};`);
      expect(agentOutputNames(['a.b', 'a-b', 'deploy-bot']).get(tag)).toBe(name);
    }
  });

  it('refuses a chain other than main at synth, which would fail every cold start', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(() => new ZtInfraStack(app, 'OtherChain', { chain: 'audit' })).toThrow(
      /chain must be `main`, got `audit`/,
    );
    expect(
      () =>
        new ZtInfraStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Main', { chain: 'main' }),
    ).not.toThrow();
  });

  it('names each agent the same whatever the order of the list, and refuses an id listed twice', () => {
    const one = agentOutputNames(['a.b', 'a-b', 'ab', 'x']);
    const two = agentOutputNames(['x', 'ab', 'a-b', 'a.b']);
    expect(Object.fromEntries(one)).toEqual(Object.fromEntries(two));
    expect(new Set(one.values()).size).toBe(4);
    expect(one.get('x')).toBe('AgentRoleArnx');
    expect(() => synth({ 'zt:agents': 'deploy-bot,deploy-bot' })).toThrow(
      /must not repeat an id, got `deploy-bot` twice/,
    );
  });
});

describe('when two stacks are deployed in one account', () => {
  it('names the API and every alarm after the stack, so none is shared', () => {
    const names = (stackName: string) => {
      const { template } = synth({ 'zt:stackName': stackName });
      const api = Object.values(template.findResources('AWS::ApiGateway::RestApi'))[0]?.['Properties'][
        'Name'
      ];
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (a) => a['Properties']['AlarmName'] as string,
      );
      return { api, alarms };
    };
    const a = names('ZtTeamA');
    const b = names('ZtTeamB');
    expect(a.api).toBe('ZtTeamA');
    expect(b.api).toBe('ZtTeamB');
    expect(a.alarms).toHaveLength(9);
    for (const n of a.alarms) expect(n).toMatch(/^ZtTeamA-[A-Za-z0-9]+$/);
    for (const n of b.alarms) expect(n).toMatch(/^ZtTeamB-[A-Za-z0-9]+$/);
    expect(new Set(a.alarms).size).toBe(9);
    expect(a.alarms.filter((n) => b.alarms.includes(n))).toEqual([]);
  });
});

describe('when checkpoint origins are derived for deployments', () => {
  /** The CHECKPOINT_ORIGIN each function of a stack is given, flattened (`<AWS::Partition>` for refs). */
  const originsOf = (stack: ZtInfraStack) =>
    [...Object.values(stack.functions), stack.checkpointFunction].map((fn) => {
      const env = stack.resolve((fn.node.defaultChild as lambda.CfnFunction).environment) as {
        variables: Record<string, unknown>;
      };
      return flat(env.variables['CHECKPOINT_ORIGIN']);
    });

  it('gives every function the origin of its own deployment: partition, account, region, stack name, chain', () => {
    const { template } = synth();
    const fns = Object.values(template.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(4);
    for (const fn of fns) {
      expect(flat(fn['Properties']['Environment']['Variables']['CHECKPOINT_ORIGIN'])).toBe(
        'zt-infra/<AWS::Partition>/<AWS::AccountId>/<AWS::Region>/ZtInfra/main',
      );
    }
    expect(flat(template.toJSON()['Outputs']['CheckpointOrigin']['Value'])).toBe(
      'zt-infra/<AWS::Partition>/<AWS::AccountId>/<AWS::Region>/ZtInfra/main',
    );
  });

  it('gives two stacks that differ in name, account or region two origins, each a valid note origin', async () => {
    const deployments = [
      ['ZtInfra', '111122223333', 'eu-west-1'],
      ['ZtOther', '111122223333', 'eu-west-1'],
      ['ZtInfra', '444455556666', 'eu-west-1'],
      ['ZtInfra', '111122223333', 'us-east-1'],
    ] as const;
    const origins = deployments.map(([name, account, region]) => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new ZtInfraStack(app, name, { env: { account, region } });
      const each = originsOf(stack);
      expect(new Set(each).size, `${name} ${account} ${region}: one origin for all four functions`).toBe(1);
      expect(each[0]).toBe(`zt-infra/<AWS::Partition>/${account}/${region}/${name}/main`);
      return each[0] as string;
    });
    expect(new Set(origins).size).toBe(deployments.length);
    // as deployed (partition `aws`), each signs and verifies as a C2SP checkpoint under its own name
    const key = InMemoryP256Signer.generate();
    for (const origin of origins.map((o) => o.replace('<AWS::Partition>', 'aws'))) {
      expect(() => formatCheckpointBody(origin, 1, Buffer.alloc(32))).not.toThrow();
      const cp = await signCheckpoint({ origin, size: 1, root: Buffer.alloc(32, 1) }, key);
      expect(cp.note.split('\n')[0]).toBe(origin);
      expect(verifyCheckpoint(cp, [key.publicKeyPem]).ok).toBe(true);
    }
  });
});

describe('when the CLI passes a concrete account and region (as `cdk synth` does)', () => {
  it('still synthesizes with zero unacknowledged findings', () => {
    const saved = { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] };
    process.env['CDK_DEFAULT_ACCOUNT'] = '111122223333';
    process.env['CDK_DEFAULT_REGION'] = 'eu-west-1';
    try {
      const { stack } = synth({ 'zt:agents': 'deploy-bot' });
      expect(stack.region).toBe('eu-west-1');
    } finally {
      for (const [k, v] of [
        ['CDK_DEFAULT_ACCOUNT', saved.account],
        ['CDK_DEFAULT_REGION', saved.region],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});

describe('when throttling and reserved concurrency are set in context', () => {
  const stageThrottle = (t: Template) => {
    const stage = Object.values(t.findResources('AWS::ApiGateway::Stage'))[0];
    return (stage?.['Properties']['MethodSettings'] as Json[] | undefined)?.[0];
  };
  const reservedById = (t: Template) =>
    Object.fromEntries(
      Object.entries(t.findResources('AWS::Lambda::Function')).map(([id, r]) => [
        id.replace(/Function[0-9A-F]{8}$/, ''),
        r['Properties']['ReservedConcurrentExecutions'],
      ]),
    );

  it("takes the stage rate and burst, and the named functions' concurrency, keeping the others' defaults", () => {
    const { template } = synth({
      'zt:throttleRate': '250',
      'zt:throttleBurst': '40',
      'zt:reservedConcurrency': 'decisions=8,checkpoint=1',
    });
    expect(stageThrottle(template)).toMatchObject({ ThrottlingRateLimit: 250, ThrottlingBurstLimit: 40 });
    expect(reservedById(template)).toEqual({ Decisions: 8, Admin: 2, Audit: 2, Checkpoint: 1 });
  });

  it('reserves nothing with `none` (an account whose concurrency limit leaves nothing to reserve)', () => {
    const { template } = synth({ 'zt:reservedConcurrency': 'none', 'zt:throttleRate': '100' });
    expect(reservedById(template)).toEqual({
      Decisions: undefined,
      Admin: undefined,
      Audit: undefined,
      Checkpoint: undefined,
    });
    expect(stageThrottle(template)).toMatchObject({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 64 });
  });

  it('refuses values API Gateway or Lambda would refuse, naming the setting', () => {
    expect(() => synth({ 'zt:reservedConcurrency': 'decisions=0' })).toThrow(
      /reservedConcurrency\.decisions/,
    );
    expect(() => synth({ 'zt:reservedConcurrency': 'workers=3' })).toThrow(/zt:reservedConcurrency must be/);
    expect(() => synth({ 'zt:reservedConcurrency': 'decisions=3,decisions=4' })).toThrow(
      /zt:reservedConcurrency must be/,
    );
    expect(() => synth({ 'zt:throttleRate': 'fast' })).toThrow(/zt:throttleRate must be a number/);
    expect(() => synth({ 'zt:throttleRate': '20000' })).toThrow(/rateLimit must be/);
    expect(() => synth({ 'zt:throttleBurst': '1.5' })).toThrow(/burstLimit must be/);
  });
});

describe('when agents are named in context', () => {
  it('creates one AgentRole each, allowed POST /actions, allowed actions, outcomes and GET /keys only', () => {
    const { template } = synth({ 'zt:agents': 'deploy-bot' });
    const role = Object.entries(template.findResources('AWS::IAM::Role')).find(([id]) =>
      id.startsWith('Agentdeploybot'),
    );
    expect(role).toBeDefined();
    const invoke = statements(template).filter((x) => x.roles.includes(role?.[0] as string));
    expect(invoke.flatMap((x) => asArray(x.s.Action))).toEqual(['execute-api:Invoke']);
    expect(
      invoke.flatMap((x) => asArray(x.s.Resource).map(flat)).map((r) => r.replace(/^.*\/v1\//, '')),
    ).toEqual(['POST/actions', 'POST/actions/allowed', 'POST/actions/*/outcome', 'GET/whoami', 'GET/keys']);
    expect(Object.keys(template.toJSON()['Outputs'])).toContain('AgentRoleArndeploybot');
  });
});

describe('when a construct breaks an AwsSolutions rule without an acknowledgement', () => {
  it('fails the synth (the nag check itself can fail)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const { stack } = buildApp(app);
    new s3.Bucket(stack, 'Careless'); // no TLS-only policy, no access logs
    expect(() => app.synth()).toThrow(/AwsSolutions-S(1|10)/);
  });
});
