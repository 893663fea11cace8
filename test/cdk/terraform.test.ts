import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../cdk/ZtInfraStack.js';

const root = join(import.meta.dirname, '..', '..');
const example = join(root, 'infra', 'terraform', 'examples', 'authorization-gateway');
const terraform = spawnSync('terraform', ['version'], { encoding: 'utf8' }).status === 0;
if (!terraform)
  console.warn('terraform is not on PATH: `terraform fmt -check` of the example is not run here');

describe('when the Terraform example is checked', () => {
  it.skipIf(!terraform)('is formatted (terraform fmt -check)', () => {
    // throws with the diff when a file is not formatted
    execFileSync('terraform', ['fmt', '-check', '-recursive', '-diff', join(root, 'infra', 'terraform')], {
      encoding: 'utf8',
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null' },
    });
  });

  it('routes the same paths to the same groups as the CDK stack', () => {
    const text = readFileSync(join(example, 'main.tf'), 'utf8');
    const routes = [...text.matchAll(/^\s*"([A-Z]+ \/[^"]*)"\s*=\s*"(decisions|admin|audit)"/gm)].map(
      (m) => `${m[1]} -> ${m[2]}`,
    );
    expect(routes.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path} -> ${r.group}`).sort());
  });

  it('keeps the security facts of the stack: AWS_IAM but health, P-256 signing key, PITR, Object Lock', () => {
    const text = readFileSync(join(example, 'main.tf'), 'utf8');
    expect(text).toContain('authorization = each.key == "GET /health" ? "NONE" : "AWS_IAM"');
    expect(text).toMatch(/customer_master_key_spec = "ECC_NIST_P256"/);
    expect(text).toMatch(/key_usage\s+= "SIGN_VERIFY"/);
    expect(text).toMatch(/point_in_time_recovery \{\s+enabled = true/);
    expect(text).toMatch(/deletion_protection_enabled = true/);
    expect(text).toMatch(/mode = "COMPLIANCE"/);
    expect(text).toContain('DenySignExceptGatewayFunctions');
    expect(text).not.toMatch(/"(kms|dynamodb|execute-api|iam|logs):\*"/);
    // the one service wildcard is the TLS-only Deny on the bucket
    expect(text.match(/"s3:\*"/g)).toHaveLength(1);
    expect(text).toMatch(/Effect\s+= "Deny"\s+Principal\s+= "\*"\s+Action\s+= "s3:\*"/);
  });
});
