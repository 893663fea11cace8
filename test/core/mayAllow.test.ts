import { describe, expect, it } from 'vitest';
import { BUILTIN_DECLARATIONS, mergeDeclarations, parseDeclarations } from '../../core/model/declarations.js';
import { PolicyEngine } from '../../core/policy/PolicyEngine.js';
import type { CedarPolicy } from '../../core/policy/storedPolicy.js';

/** `PolicyEngine.mayAllow`: what `POST /actions/allowed` lists, from one (action, agent) slice. */

const READ = 'mcp.files.read_file';
const DELETE = 'mcp.files.delete_file';
const DECLARATIONS = mergeDeclarations(
  BUILTIN_DECLARATIONS,
  parseDeclarations({
    'mcp.files.*': {
      params: { type: 'Record', attributes: { path: { type: 'String', required: false } } },
    },
  }),
);

const policy = (policyId: string, cedar: string): CedarPolicy => ({ policyId, cedar });

describe('when a permit can match the agent and the action', () => {
  it('lists the action for that agent only', () => {
    const engine = new PolicyEngine();
    const set = [policy('p', `permit(principal == Agent::"alice", action == Action::"${READ}", resource);`)];
    expect(engine.mayAllow(set, READ, 'alice')).toBe(true);
    expect(engine.mayAllow(set, READ, 'bob')).toBe(false);
    expect(engine.mayAllow(set, DELETE, 'alice')).toBe(false);
  });

  it('counts a permit that depends on params, context or the resource as possible', () => {
    const engine = new PolicyEngine();
    const set = [
      policy(
        'p',
        `permit(principal, action == Action::"${READ}", resource == Resource::"r") when { context.params has path && context.params.path == "/tmp/x" };`,
      ),
    ];
    expect(engine.mayAllow(set, READ, 'alice')).toBe(true);
  });

  it('lists nothing when no policy names the action', () => {
    expect(new PolicyEngine().mayAllow([], READ, 'alice')).toBe(false);
  });
});

describe('when a forbid matches', () => {
  const permitAll = policy('all', 'permit(principal, action, resource);');

  it('hides the action when the forbid is unconditional for this agent', () => {
    const engine = new PolicyEngine();
    const set = [
      permitAll,
      policy('no-delete', `forbid(principal == Agent::"alice", action == Action::"${DELETE}", resource);`),
    ];
    expect(engine.mayAllow(set, DELETE, 'alice')).toBe(false);
    expect(engine.mayAllow(set, DELETE, 'bob')).toBe(true);
    expect(engine.mayAllow(set, READ, 'alice')).toBe(true);
  });

  it('hides everything under an unconditional forbid of every action', () => {
    const engine = new PolicyEngine();
    const set = [permitAll, policy('stop', 'forbid(principal is Agent, action, resource is Resource);')];
    expect(engine.mayAllow(set, READ, 'alice')).toBe(false);
  });

  it('keeps the action when the forbid has a condition, a resource or a principal that may not match', () => {
    const engine = new PolicyEngine();
    for (const forbid of [
      `forbid(principal, action == Action::"${DELETE}", resource) when { context.params has path };`,
      `forbid(principal, action == Action::"${DELETE}", resource) unless { context.params has path };`,
      `forbid(principal, action == Action::"${DELETE}", resource == Resource::"prod");`,
      `forbid(principal in Group::"ops", action == Action::"${DELETE}", resource);`,
    ]) {
      expect(engine.mayAllow([permitAll, policy('f', forbid)], DELETE, 'alice'), forbid).toBe(true);
    }
  });
});

describe('when a stored policy cannot be evaluated', () => {
  it('lists nothing, since every decision would deny', () => {
    const engine = new PolicyEngine();
    const set = [policy('ok', 'permit(principal, action, resource);'), policy('broken', 'permit(principal')];
    expect(engine.mayAllow(set, READ, 'alice')).toBe(false);
  });
});

describe('when mayAllow is compared with real decisions', () => {
  it('never leaves out an action that some request is allowed (an over-approximation only)', () => {
    // Prepare: policy sets x requests; every allow must be of a listed (action, agent)
    const engine = new PolicyEngine();
    const sets: CedarPolicy[][] = [
      [policy('a', `permit(principal == Agent::"alice", action == Action::"${READ}", resource);`)],
      [
        policy('a', 'permit(principal, action, resource);'),
        policy('f', `forbid(principal, action == Action::"${DELETE}", resource);`),
      ],
      [
        policy('a', `permit(principal, action in [Action::"${READ}", Action::"${DELETE}"], resource);`),
        policy(
          'f',
          `forbid(principal, action, resource) when { context.params has path && context.params.path == "/etc" };`,
        ),
      ],
      [
        policy('a', 'permit(principal, action, resource == Resource::"r");'),
        policy('f', `forbid(principal == Agent::"bob", action, resource);`),
      ],
    ];
    const requests = [
      { resource: '', params: {} },
      { resource: 'r', params: {} },
      { resource: '', params: { path: '/etc' } },
      { resource: 'r', params: { path: '/tmp' } },
    ];
    let allows = 0;
    for (const set of sets) {
      for (const agentId of ['alice', 'bob']) {
        for (const action of [READ, DELETE]) {
          const listed = engine.mayAllow(set, action, agentId);
          for (const r of requests) {
            // Act
            const result = engine.evaluate(set, { agentId, action, context: {}, ...r }, DECLARATIONS);
            // Assess
            if (result.decision === 'allow') {
              allows++;
              expect(listed, `${action} for ${agentId} under ${set.map((p) => p.cedar).join(' ')}`).toBe(
                true,
              );
            }
          }
        }
      }
    }
    expect(allows).toBeGreaterThan(5);
  });
});
