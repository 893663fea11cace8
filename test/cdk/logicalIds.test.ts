import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app.js';

/**
 * Every logical id of the synthesized template (resources, outputs, parameters, rules), captured before the
 * route table (core/model/routes.ts) replaced the stack's hand-written route lists. A logical id is a public
 * contract: CloudFormation replaces a resource whose id changes (a new API method, a new policy), so a change
 * here must be deliberate: regenerate the fixture only for a change that means to replace resources. New ids
 * (a route added later) pass; an id that went missing fails.
 */
const FIXTURE = JSON.parse(readFileSync(join(import.meta.dirname, 'logical-ids.json'), 'utf8')) as Record<
  string,
  { context: Record<string, string>; logicalIds: Record<string, string[]> }
>;

function logicalIds(context: Record<string, string>): Record<string, string[]> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
  const { stack } = buildApp(app);
  const template = app.synth().getStackByName(stack.stackName).template as Record<string, object>;
  const out: Record<string, string[]> = {};
  for (const section of ['Resources', 'Outputs', 'Parameters', 'Conditions', 'Rules', 'Mappings']) {
    if (template[section]) out[section] = Object.keys(template[section]).sort();
  }
  return out;
}

describe('when the stack is synthesized with the contexts of the fixture', () => {
  for (const [name, { context, logicalIds: expected }] of Object.entries(FIXTURE)) {
    // a synth takes 10-40 s on a loaded 2-core machine, over the default 30 s
    it(`keeps every logical id (${name})`, () => {
      const actual = logicalIds(context);
      // Ids may be added (a new route adds its method); none may go or be renamed. The one exception is the
      // API's deployment, whose id CDK derives from a hash of the API so each change deploys anew.
      const missing = Object.entries(expected).flatMap(([section, ids]) =>
        ids
          .filter((id) => !(actual[section] ?? []).includes(id))
          .filter((id) => !/^ApiDeployment[0-9A-Fa-f]+$/.test(id))
          .map((id) => `${section}.${id}`),
      );
      expect(missing).toEqual([]);
    }, 180_000);
  }

  it('covers the routes, the agent roles and the resource policy (the fixture is not empty)', () => {
    const full = FIXTURE['full']?.logicalIds['Resources'] ?? [];
    expect(full.filter((id) => /^Api.*(POST|GET|PUT|DELETE)[0-9A-F]{8}$/.test(id)).length).toBeGreaterThan(
      18,
    );
    expect(full.some((id) => id.startsWith('Agentdeploybot'))).toBe(true);
  });
});
