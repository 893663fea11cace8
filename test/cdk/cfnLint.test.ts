import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../cdk/app.js';

const cfnLint = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' }).status === 0;
if (!cfnLint)
  console.warn('cfn-lint is not on PATH (pip package `cfn-lint`): the template lint is not run here');

/**
 * Warnings the synthesized template is known to carry, both from CDK itself: W3005 (a `DependsOn` on the
 * function role next to a `GetAtt` of it) and W3045 (the access-log bucket's `AccessControl`, set by CDK for
 * server access logging).
 */
const KNOWN = new Set(['W3005', 'W3045']);

describe('when the synthesized template is linted with cfn-lint', () => {
  it.skipIf(!cfnLint)(
    'has no error and no warning but the two CDK ones',
    () => {
      const app = new App({
        context: {
          'aws:cdk:bundling-stacks': [],
          'zt:agents': 'deploy-bot,a.b,a-b',
          'zt:adminPrincipalArns': 'arn:aws:iam::111122223333:role/SecurityTeam',
          'zt:agentPrincipalArns': 'arn:aws:iam::444455556666:role/ci-runner',
        },
      });
      const { stack } = buildApp(app);
      app.synth();
      const dir = mkdtempSync(join(tmpdir(), 'zt-cfn-lint-'));
      try {
        const file = join(dir, 'template.json');
        writeFileSync(file, JSON.stringify(Template.fromStack(stack).toJSON()));
        const run = spawnSync('cfn-lint', ['--format', 'json', '--', file], {
          encoding: 'utf8',
          timeout: 120_000,
        });
        // exit status is a bit mask: 2 errors, 4 warnings, 8 informational; 1 means cfn-lint itself failed
        expect(run.status, run.stderr).not.toBeNull();
        expect((run.status as number) & 3, run.stdout + run.stderr).toBe(0);
        const findings = JSON.parse(run.stdout || '[]') as Array<{ Rule: { Id: string }; Message: string }>;
        expect(findings.filter((f) => !KNOWN.has(f.Rule.Id)).map((f) => `${f.Rule.Id} ${f.Message}`)).toEqual(
          [],
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    150_000,
  );
});
