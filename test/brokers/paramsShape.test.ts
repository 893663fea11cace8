import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { describe, expect, it } from 'vitest';
import { BWRAP_ACTION, BWRAP_PARAMS_SHAPE, validateBwrapSpec } from '../../brokers/bwrap-local/index.js';
import { DOCKER_ACTION, DOCKER_PARAMS_SHAPE, validateDockerSpec } from '../../brokers/docker-local/index.js';
import { NONO_ACTION, NONO_PARAMS_SHAPE, validateNonoSpec } from '../../brokers/nono-cli/index.js';
import { BUILTIN_ACTION_DECLARATIONS, type CedarType } from '../../brokers/paramsShape.js';
import declarations from '../../infra/cedar/builtin-actions.json' with { type: 'json' };

/**
 * Every canonical spec the validators make fits the shape its action declares in
 * `infra/cedar/builtin-actions.json`, checked two ways: a small structural check written here (to be
 * replaced by the core's checker), and Cedar itself, with the declared shape as `context.params` in a
 * schema, a policy validated against it, and requests evaluated with `validateRequest`.
 */

/** What is wrong with `value` as a `type` (Cedar 4: closed records, no null, no floats); empty if nothing. */
function shapeProblems(value: unknown, type: CedarType, path = 'params'): string[] {
  switch (type.type) {
    case 'String':
      return typeof value === 'string' ? [] : [`${path} is not a String`];
    case 'Long':
      return Number.isSafeInteger(value) ? [] : [`${path} is not a Long`];
    case 'Boolean':
      return typeof value === 'boolean' ? [] : [`${path} is not a Boolean`];
    case 'Set':
      if (!Array.isArray(value)) return [`${path} is not a Set`];
      return value.flatMap((v, i) => shapeProblems(v, type.element, `${path}[${i}]`));
    case 'Record': {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        return [`${path} is not a Record`];
      const record = value as Record<string, unknown>;
      const problems: string[] = [];
      for (const [name, attribute] of Object.entries(type.attributes)) {
        if (!(name in record)) {
          if (attribute.required !== false) problems.push(`${path}.${name} is missing`);
        } else {
          problems.push(...shapeProblems(record[name], attribute, `${path}.${name}`));
        }
      }
      for (const name of Object.keys(record)) {
        if (!(name in type.attributes)) problems.push(`${path}.${name} is not declared`);
      }
      return problems;
    }
  }
}

const DIGEST = `sha256:${'c'.repeat(64)}`;
const allowedEnv = ['ZT_A', 'ZT_B'];

async function bwrapSpecs() {
  return Promise.all([
    validateBwrapSpec({ command: ['/usr/bin/true'] }),
    validateBwrapSpec(
      { command: ['/usr/bin/echo', 'a', '', 'a'], env: ['ZT_B', 'ZT_A'], timeoutMs: 1000 },
      { allowedEnv },
    ),
  ]);
}

function dockerSpecs() {
  return [
    validateDockerSpec({ image: 'alpine:3.20', digest: DIGEST }),
    validateDockerSpec(
      {
        image: 'registry.local:5000/tools/jq',
        digest: DIGEST,
        command: ['-r', '.a'],
        env: ['ZT_A'],
        user: '1000:1000',
        pidsLimit: 8,
        memoryMb: 64,
        cpuMillis: 250,
        timeoutMs: 5000,
      },
      { allowedEnv },
    ),
  ];
}

async function nonoSpecs() {
  return Promise.all([
    validateNonoSpec({ command: ['/usr/bin/true'] }),
    validateNonoSpec(
      {
        command: ['/usr/bin/env', 'x'],
        read: ['/src', '/etc'],
        write: ['/out'],
        network: { mode: 'allowlist', domains: ['api.example.com'], ports: [443, '8000-8080'] },
        env: ['ZT_A'],
        timeoutMs: 10,
      },
      { allowedEnv },
    ),
  ]);
}

describe('when the declarations are read', () => {
  it('declares exactly the three broker actions, each a params Record and a context', () => {
    expect(Object.keys(declarations).sort()).toEqual([BWRAP_ACTION, DOCKER_ACTION, NONO_ACTION].sort());
    for (const declaration of Object.values(BUILTIN_ACTION_DECLARATIONS)) {
      expect(declaration.params.type).toBe('Record');
      expect(declaration.context).toEqual({});
    }
  });

  it('exports each broker shape from the one file', () => {
    expect(BWRAP_PARAMS_SHAPE).toBe(BUILTIN_ACTION_DECLARATIONS[BWRAP_ACTION]?.params);
    expect(DOCKER_PARAMS_SHAPE).toBe(BUILTIN_ACTION_DECLARATIONS[DOCKER_ACTION]?.params);
    expect(NONO_PARAMS_SHAPE).toBe(BUILTIN_ACTION_DECLARATIONS[NONO_ACTION]?.params);
    expect(BWRAP_PARAMS_SHAPE).toEqual(declarations[BWRAP_ACTION].params);
  });
});

describe('when a validator makes a canonical spec', () => {
  it('fits the declared bwrap shape', async () => {
    for (const spec of await bwrapSpecs()) expect(shapeProblems(spec, BWRAP_PARAMS_SHAPE)).toEqual([]);
  });

  it('fits the declared docker shape', () => {
    for (const spec of dockerSpecs()) expect(shapeProblems(spec, DOCKER_PARAMS_SHAPE)).toEqual([]);
  });

  it('fits the declared nono shape', async () => {
    for (const spec of await nonoSpecs()) expect(shapeProblems(spec, NONO_PARAMS_SHAPE)).toEqual([]);
  });

  it('would be caught by the check if it had an undeclared field, a null, a float or a missing field', async () => {
    const [spec] = await bwrapSpecs();
    expect(shapeProblems({ ...spec, extra: 'x' }, BWRAP_PARAMS_SHAPE)).toEqual([
      'params.extra is not declared',
    ]);
    expect(shapeProblems({ ...spec, timeoutMs: null }, BWRAP_PARAMS_SHAPE)).toEqual([
      'params.timeoutMs is not a Long',
    ]);
    expect(shapeProblems({ ...spec, timeoutMs: 1.5 }, BWRAP_PARAMS_SHAPE)).toEqual([
      'params.timeoutMs is not a Long',
    ]);
    expect(shapeProblems({ ...spec, env: [1] }, BWRAP_PARAMS_SHAPE)).toEqual([
      'params.env[0] is not a String',
    ]);
    const { programSha256: _, ...rest } = spec!;
    expect(shapeProblems(rest, BWRAP_PARAMS_SHAPE)).toEqual(['params.programSha256 is missing']);
  });
});

/** A schema whose actions take the declared params as `context.params`. */
function schemaFor(action: string, shape: CedarType): cedar.Schema {
  return {
    '': {
      entityTypes: { Agent: {}, Resource: {} },
      actions: {
        [action]: {
          appliesTo: {
            principalTypes: ['Agent'],
            resourceTypes: ['Resource'],
            context: { type: 'Record', attributes: { params: shape } },
          },
        },
      },
    },
  } as unknown as cedar.Schema;
}

function decide(action: string, shape: CedarType, policy: string, params: unknown) {
  const schema = schemaFor(action, shape);
  const validation = cedar.validate({ schema, policies: { staticPolicies: policy } });
  expect(validation).toMatchObject({ type: 'success', validationErrors: [] });
  const answer = cedar.isAuthorized({
    principal: { type: 'Agent', id: 'a' },
    action: { type: 'Action', id: action },
    resource: { type: 'Resource', id: 'r' },
    context: { params: params as cedar.CedarValueJson },
    schema,
    validateRequest: true,
    policies: { staticPolicies: policy },
    entities: [],
  });
  if (answer.type !== 'success') throw new Error(JSON.stringify(answer.errors));
  return answer.response.decision;
}

describe('when Cedar reads the params through the declared shape', () => {
  it('lets a bwrap policy pin the program, its content, the exact argv order and the env', async () => {
    const spec = await validateBwrapSpec(
      { command: ['/usr/bin/echo', 'hi', 'there'], env: ['ZT_A'], timeoutMs: 1000 },
      { allowedEnv },
    );
    const policy = `permit(principal, action == Action::"${BWRAP_ACTION}", resource) when {
      context.params.program == "/usr/bin/echo" &&
      context.params.programSha256 == "${spec.programSha256}" &&
      context.params.argv like "[\\"/usr/bin/echo\\",\\"hi\\",*" &&
      context.params.env.containsAll(["ZT_A"]) &&
      context.params.network == "none" &&
      context.params.timeoutMs <= 1000
    };`;
    expect(decide(BWRAP_ACTION, BWRAP_PARAMS_SHAPE, policy, spec)).toBe('allow');
    // The same words in another order is another argv.
    const swapped = await validateBwrapSpec(
      { command: ['/usr/bin/echo', 'there', 'hi'], env: ['ZT_A'], timeoutMs: 1000 },
      { allowedEnv },
    );
    expect(decide(BWRAP_ACTION, BWRAP_PARAMS_SHAPE, policy, swapped)).toBe('deny');
    // Cedar itself refuses params that do not fit (records are closed).
    expect(() => decide(BWRAP_ACTION, BWRAP_PARAMS_SHAPE, policy, { ...spec, extra: 'x' })).toThrow();
  });

  it('lets a docker policy pin the image digest and the exact arguments', () => {
    const [, spec] = dockerSpecs();
    const policy = `permit(principal, action == Action::"${DOCKER_ACTION}", resource) when {
      context.params.digest == "${DIGEST}" && context.params.argv == "[\\"-r\\",\\".a\\"]" &&
      context.params.network == "none" && context.params.memoryMb <= 64
    };`;
    expect(decide(DOCKER_ACTION, DOCKER_PARAMS_SHAPE, policy, spec)).toBe('allow');
  });

  it('lets a nono policy bound the paths and the network', async () => {
    const [blocked, open] = await nonoSpecs();
    const policy = `permit(principal, action == Action::"${NONO_ACTION}", resource) when {
      context.params.write.isEmpty() && context.params.network.mode == "blocked" &&
      context.params.network.domains.isEmpty()
    };`;
    expect(decide(NONO_ACTION, NONO_PARAMS_SHAPE, policy, blocked)).toBe('allow');
    expect(decide(NONO_ACTION, NONO_PARAMS_SHAPE, policy, open)).toBe('deny');
  });
});
