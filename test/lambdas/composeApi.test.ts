import { App, Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ZtInfraStack } from '../../cdk/ZtInfraStack.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { composeApi } from '../../lambdas/api.js';
import { readApiEnv, readCheckpointEnv } from '../../lambdas/env.js';
import type { Who } from '../contract/corpus.js';
import { apiGatewayEvent } from '../contract/targets.js';

const ACCOUNT = '111122223333';
const ENV = {
  TABLE_NAME: 'zt',
  ROOT_KEY_ARN: `arn:aws:kms:us-east-1:${ACCOUNT}:key/k`,
  CHECKPOINT_ORIGIN: `zt-infra/aws/${ACCOUNT}/us-east-1/ZtInfra/main`,
  ADMIN_PRINCIPAL_ARNS: `arn:aws:iam::${ACCOUNT}:role/Admin`,
  ROUTE_GROUP: 'admin',
};

/** An API function composed as its cold start does, over an in-memory store and key. */
function apiFunction(env: Record<string, string>) {
  const api = composeApi(readApiEnv(env), {
    store: new InMemoryKeyValueStore(),
    rootSigner: InMemoryP256Signer.generate(),
  });
  let n = 0;
  return async (role: string) => {
    const reply = await api(apiGatewayEvent('GET', '/approvals', undefined, null, role as Who, `r-${++n}`));
    return { status: reply.statusCode, body: JSON.parse(reply.body) as { error?: { code: string } } };
  };
}

describe('when an API function is composed from the environment the stack gives it', () => {
  it('lets the approvers the stack names list approvals, and no one else', async () => {
    const call = apiFunction({ ...ENV, APPROVER_PRINCIPAL_ARNS: `arn:aws:iam::${ACCOUNT}:role/ZtApprover` });
    expect((await call('ZtApprover')).status).toBe(200);
    expect((await call('Admin')).status).toBe(200);
    const other = await call('SomeoneElse');
    expect(other.status).toBe(403);
    expect(other.body.error?.code).toBe('NOT_AN_APPROVER');
  });

  it('has no approvers but the admins when the stack names none', async () => {
    expect((await apiFunction(ENV)('ZtApprover')).status).toBe(403);
  });
});

/** Reads `env` through a reader and returns the names it asked for. */
function namesRead(read: (env: Record<string, string | undefined>) => unknown, env: Record<string, string>) {
  const asked = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') asked.add(name);
      return Reflect.get(target, name);
    },
  });
  read(proxy);
  return asked;
}

/** Set for the runtime, not for our code: Node and the AWS SDK read them themselves. */
const RUNTIME = new Set(['NODE_OPTIONS', 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED']);
/**
 * `CHAIN` is the stack's `chain` prop, a name from before lanes: the functions take the checkpoint
 * origin whole (`CHECKPOINT_ORIGIN`, whose last segment it is) and name lanes themselves.
 */
const NOT_READ = new Set(['CHAIN']);

describe('when the stack sets a function environment variable', () => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ZtInfraStack(app, 'EnvContract', {
    approverPrincipalArns: [`arn:aws:iam::${ACCOUNT}:role/Person`],
    approvalWindow: Duration.minutes(30),
    approvalTtl: Duration.minutes(5),
    keepRequests: { actions: ['s3:DeleteObject'], retentionDays: 7 },
  });
  const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const envOf = (prefix: string) => {
    const [, fn] = Object.entries(functions).find(([id]) => id.startsWith(prefix)) ?? [];
    const vars = (fn?.Properties?.Environment?.Variables ?? {}) as Record<string, unknown>;
    // tokens (ARNs, names) become plausible strings; literal values are kept as the stack wrote them
    return Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [
        k,
        typeof v === 'string' ? v : `arn:aws:iam::${ACCOUNT}:role/${k}`,
      ]),
    );
  };

  it.each(['Decisions', 'Admin', 'Audit'])('the %s function reads every one of them', (name) => {
    const env = envOf(name);
    const unread = Object.keys(env).filter(
      (k) => !RUNTIME.has(k) && !NOT_READ.has(k) && !namesRead(readApiEnv, env).has(k),
    );
    expect(Object.keys(env)).toContain('APPROVER_PRINCIPAL_ARNS');
    expect(unread).toEqual([]);
  });

  it('the checkpoint function reads every one it needs', () => {
    const env = envOf('Checkpoint');
    const read = namesRead(readCheckpointEnv, env);
    for (const name of [
      'TABLE_NAME',
      'ROOT_KEY_ARN',
      'CHECKPOINT_ORIGIN',
      'CHECKPOINT_BUCKET',
      'CHECKPOINT_RETENTION_DAYS',
    ])
      expect(read).toContain(name);
  });
});
