import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ZtInfraStack } from '../../cdk/ZtInfraStack.js';
import { ValidationError } from '../../core/errors/errors.js';

function functionEnvs(stack: ZtInfraStack): Array<Record<string, unknown>> {
  return Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map(
    (f) => f['Properties']['Environment']['Variables'] as Record<string, unknown>,
  );
}

describe('when the stack is asked to keep request data for replay', () => {
  let keeping: Array<Record<string, unknown>>;

  // Synthesizing a stack takes tens of seconds on these machines: once, with room.
  beforeAll(() => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    keeping = functionEnvs(new ZtInfraStack(app, 'Keeping', { keepRequests: { actions: ['payments.*'] } }));
  }, 240_000);

  it('sets it on the decisions function only', () => {
    const kept = keeping.filter((e) => e['KEEP_REQUESTS'] !== undefined);
    expect(kept).toHaveLength(1);
    expect(kept[0]).toMatchObject({
      ROUTE_GROUP: 'decisions',
      KEEP_REQUESTS: 'payments.*',
      KEEP_REQUESTS_DAYS: '30',
    });
  });

  it('refuses at synth a setting the function would refuse at cold start', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    expect(
      () => new ZtInfraStack(app, 'Bad', { keepRequests: { actions: ['*'], retentionDays: 0 } }),
    ).toThrow(ValidationError);
  });
});
