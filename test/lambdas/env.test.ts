import { describe, expect, it } from 'vitest';
import { readApiEnv, readCheckpointEnv, requiredCheckpointOrigin } from '../../lambdas/env.js';

describe('when a Lambda function reads its checkpoint origin at cold start', () => {
  it('takes CHECKPOINT_ORIGIN as the stack set it', () => {
    const origin = 'zt-infra/aws/111122223333/eu-west-1/ZtInfra/main';
    expect(requiredCheckpointOrigin({ CHECKPOINT_ORIGIN: origin, CHAIN: 'main' })).toBe(origin);
  });

  it.each([
    ['missing', {}],
    ['empty', { CHECKPOINT_ORIGIN: '' }],
  ])('fails the cold start when it is %s, instead of signing under the shared zt-infra/<chain>', (_, env) => {
    expect(() => requiredCheckpointOrigin({ CHAIN: 'main', ...env })).toThrow(
      /CHECKPOINT_ORIGIN is required/,
    );
  });
});

const API = {
  TABLE_NAME: 't',
  ROOT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/k',
  CHECKPOINT_ORIGIN: 'zt-infra/aws/111122223333/eu-west-1/ZtInfra/main',
  ADMIN_PRINCIPAL_ARNS: ' arn:aws:iam::111122223333:role/A , ,arn:aws:iam::111122223333:role/B',
};
const CHECKPOINT = {
  TABLE_NAME: 't',
  ROOT_KEY_ARN: 'arn:aws:kms:eu-west-1:111122223333:key/k',
  CHECKPOINT_ORIGIN: 'zt-infra/aws/111122223333/eu-west-1/ZtInfra/main',
  CHECKPOINT_BUCKET: 'b',
  CHECKPOINT_RETENTION_DAYS: '400',
};

describe('when an API function reads its environment at cold start', () => {
  it('reads every setting once, with the defaults the stack relies on', () => {
    expect(readApiEnv({ ...API, AWS_LAMBDA_FUNCTION_NAME: 'Decisions', AWS_REGION: 'eu-west-1' })).toEqual({
      region: 'eu-west-1',
      tableName: 't',
      rootKeyArn: API.ROOT_KEY_ARN,
      checkpointOrigin: API.CHECKPOINT_ORIGIN,
      serviceName: 'zt-infra',
      metricsNamespace: undefined,
      gatewayPrincipal: 'lambda:Decisions',
      routeGroup: undefined,
      adminPrincipalArns: ['arn:aws:iam::111122223333:role/A', 'arn:aws:iam::111122223333:role/B'],
      approverPrincipalArns: [],
      startWindowMs: undefined,
      approvalWindowMs: undefined,
      approvalTtlMs: undefined,
      keepRequests: undefined,
      keepRequestsDays: undefined,
    });
    expect(
      readApiEnv({
        ...API,
        ROUTE_GROUP: 'audit',
        START_WINDOW_MS: '5000',
        APPROVER_PRINCIPAL_ARNS: 'arn:aws:iam::111122223333:role/Approver',
        APPROVAL_WINDOW_MS: '1800000',
        APPROVAL_TTL_MS: '300000',
      }),
    ).toMatchObject({
      routeGroup: 'audit',
      startWindowMs: 5000,
      approverPrincipalArns: ['arn:aws:iam::111122223333:role/Approver'],
      approvalWindowMs: 1_800_000,
      approvalTtlMs: 300_000,
    });
  });

  it.each([
    ['TABLE_NAME', { TABLE_NAME: undefined }, /TABLE_NAME is required/],
    ['ROOT_KEY_ARN', { ROOT_KEY_ARN: '' }, /ROOT_KEY_ARN is required/],
    ['ADMIN_PRINCIPAL_ARNS', { ADMIN_PRINCIPAL_ARNS: undefined }, /ADMIN_PRINCIPAL_ARNS is required/],
    ['CHECKPOINT_ORIGIN', { CHECKPOINT_ORIGIN: undefined }, /CHECKPOINT_ORIGIN is required/],
    ['ROUTE_GROUP', { ROUTE_GROUP: 'everything' }, /ROUTE_GROUP must be one of .*`everything`/],
    ['START_WINDOW_MS', { START_WINDOW_MS: '-1' }, /START_WINDOW_MS must be a positive integer, got `-1`/],
    ['APPROVAL_WINDOW_MS', { APPROVAL_WINDOW_MS: '1h' }, /APPROVAL_WINDOW_MS must be a positive integer/],
    ['APPROVAL_TTL_MS', { APPROVAL_TTL_MS: '0' }, /APPROVAL_TTL_MS must be a positive integer/],
  ])('fails the cold start naming %s when it is missing or malformed', (_, change, message) => {
    expect(() => readApiEnv({ ...API, ...change })).toThrow(message);
  });
});

describe('when the checkpoint function reads its environment at cold start', () => {
  it('reads its own settings and none of the API functions', () => {
    expect(readCheckpointEnv(CHECKPOINT)).toEqual({
      region: undefined,
      tableName: 't',
      rootKeyArn: CHECKPOINT.ROOT_KEY_ARN,
      checkpointOrigin: CHECKPOINT.CHECKPOINT_ORIGIN,
      serviceName: 'zt-infra',
      metricsNamespace: undefined,
      bucket: 'b',
      retentionDays: 400,
    });
  });

  it.each([
    ['CHECKPOINT_BUCKET', { CHECKPOINT_BUCKET: undefined }, /CHECKPOINT_BUCKET is required/],
    ['CHECKPOINT_RETENTION_DAYS', { CHECKPOINT_RETENTION_DAYS: 'a year' }, /must be a positive integer/],
    ['CHECKPOINT_ORIGIN', { CHECKPOINT_ORIGIN: '' }, /CHECKPOINT_ORIGIN is required/],
  ])('fails the cold start naming %s when it is missing or malformed', (_, change, message) => {
    expect(() => readCheckpointEnv({ ...CHECKPOINT, ...change })).toThrow(message);
  });
});
