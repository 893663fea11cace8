import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_ROUTES } from '../../cdk/AgentRole.js';
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

  it('mirrors the route-scoped resource policy: `*` on GET /health only, each caller on its own routes', () => {
    const text = readFileSync(join(example, 'main.tf'), 'utf8');
    const start = text.indexOf('resource "aws_api_gateway_rest_api_policy"');
    expect(start).toBeGreaterThan(-1);
    const policy = text.slice(start, text.indexOf('\n}\n', start));
    // one object per statement, keyed by its Sid
    const statements = [...policy.matchAll(/Sid\s+= "(\w+)"([\s\S]*?)(?=Sid\s+=|$)/g)].map((m) => ({
      sid: m[1] as string,
      body: m[2] as string,
    }));
    expect(statements.map((x) => x.sid)).toEqual([
      'AllowHealth',
      'AllowAdminRoutes',
      'AllowApproverRoutes',
      'AllowAgentRoutes',
      'DenyOutsiders',
    ]);
    for (const { sid, body } of statements) {
      if (/Effect\s+= "Allow"/.test(body) && /Principal\s+= "\*"/.test(body)) {
        expect(sid).toBe('AllowHealth');
        expect(body).toMatch(/Resource\s+= local\.route_arn\["GET \/health"\]/);
      }
    }
    expect(policy).not.toMatch(/execution_arn\}\/\*"/);
    const [, admin, approver, agent, deny] = statements.map((x) => x.body);
    expect(approver).toMatch(/Principal\s+= \{ AWS = local\.approver_arns \}/);
    expect(approver).toMatch(/Resource\s+= local\.approver_route_arns/);
    expect(text).toMatch(
      /resource "aws_iam_role_policy" "approver" \{[\s\S]*?Resource = local\.approver_route_arns/,
    );
    expect(admin).toMatch(/Principal\s+= \{ AWS = local\.admin_arns \}/);
    expect(admin).toMatch(/Resource\s+= local\.admin_route_arns/);
    expect(agent).toMatch(/Principal\s+= \{ AWS = arns \}/);
    expect(agent).toMatch(/Resource\s+= local\.agent_route_arns/);
    expect(policy).toMatch(/for arns in \[local\.agent_arns\]/);
    expect(deny).toMatch(/Effect\s+= "Deny"/);
    expect(deny).toMatch(/NotResource = local\.route_arn\["GET \/health"\]/);
    expect(deny).toMatch(/"aws:PrincipalAccount" = local\.account/);
    // the roles' own IAM policies take the very same lists, so the resource policy cannot grant more
    expect(text).toMatch(
      /resource "aws_iam_role_policy" "admin" \{[\s\S]*?Resource = local\.admin_route_arns/,
    );
    expect(text).toMatch(
      /resource "aws_iam_role_policy" "agent" \{[\s\S]*?Resource = local\.agent_route_arns/,
    );
    expect(text).toMatch(
      /agent_arns\s+= concat\(\[for id, r in aws_iam_role\.agent : r\.arn\], var\.agent_principal_arns\)/,
    );
    // and the lists are the stack's: admin and audit routes plus GET /keys; the three agent routes
    expect(text).toMatch(
      /\[for k, g in local\.routes : local\.route_arn\[k\] if g != "decisions"\],\s+\[local\.route_arn\["GET \/keys"\]\]/,
    );
    const agentList = /agent_route_arns = \[([\s\S]*?)\]\n/.exec(text)?.[1] ?? '';
    expect([...agentList.matchAll(/route_arn\["([^"]+)"\]/g)].map((m) => m[1])).toEqual(
      AGENT_ROUTES.map((r) => `${r.method} ${r.path.replace('*', '{id}')}`),
    );
  });

  it('gives the log an origin of its own deployment (partition, account, region, name, chain)', () => {
    const text = readFileSync(join(example, 'main.tf'), 'utf8');
    expect(text).toMatch(
      /CHECKPOINT_ORIGIN\s+= "zt-infra\/\$\{data\.aws_partition\.current\.partition\}\/\$\{local\.account\}\/\$\{var\.region\}\/\$\{var\.name\}\/\$\{local\.chain\}"/,
    );
  });
});
