import { describe, expect, it } from 'vitest';
import { requiredCheckpointOrigin } from '../../lambdas/wiring.js';

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
