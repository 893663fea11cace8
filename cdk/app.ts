import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  type ApiAccess,
  DEFAULT_THROTTLE,
  type ReservedConcurrency,
  ZtInfraStack,
  type ZtInfraStackProps,
} from './ZtInfraStack.js';

/**
 * The CDK app: one top-level stack, `ZtInfra` (no Stage), so `npx cdk synth` works with no context.
 * Optional context (`-c key=value` or `cdk.json`):
 *
 * - `zt:stackName`: default `ZtInfra`
 * - `zt:adminPrincipalArns`: comma-separated extra admin ARNs (the stack's admin role is always one)
 * - `zt:approverPrincipalArns`: comma-separated extra approver ARNs (the stack's approver role is always
 *   one): they may list, approve and reject approvals, nothing else
 * - `zt:agents`: comma-separated agent ids, one `AgentRole` each
 * - `zt:agentPrincipalArns`: comma-separated agent role ARNs made outside the stack (e.g. in another
 *   account), let through the API's resource policy on the agent routes only
 * - `zt:apiAccess`: `account` (default), `any`, or an organization id `o-...`: whose principals may reach
 *   the API at all (an explicit Deny for the others)
 * - `zt:checkpointRetentionDays`: Object Lock COMPLIANCE days, default 365
 * - `zt:alarmEmail`: subscribe an address to the alarm topic
 * - `zt:throttleRate`, `zt:throttleBurst`: the stage's throttling (requests/s, burst); defaults from measured
 *   capacity, `DEFAULT_THROTTLE`
 * - `zt:reservedConcurrency`: `none`, or `decisions=N,admin=N,audit=N,checkpoint=N` (any of them; the others
 *   keep `DEFAULT_RESERVED_CONCURRENCY`)
 *
 * cdk-nag's AwsSolutions pack runs on every synth; an unacknowledged finding fails it.
 */
export function buildApp(app: App = new App()): { app: App; stack: ZtInfraStack } {
  const ctx = (key: string): string | undefined => {
    const value = app.node.tryGetContext(key);
    return value === undefined || value === null || value === '' ? undefined : String(value);
  };
  const list = (key: string) =>
    ctx(key)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const access = ctx('zt:apiAccess');
  const apiAccess: ApiAccess =
    access === undefined || access === 'account'
      ? 'account'
      : access === 'any'
        ? 'any'
        : /^o-[a-z0-9]{10,32}$/.test(access)
          ? { organizationId: access }
          : (() => {
              throw new Error(
                `zt:apiAccess must be \`account\`, \`any\` or an organization id, got \`${access}\``,
              );
            })();
  const retention = ctx('zt:checkpointRetentionDays');
  const rate = ctx('zt:throttleRate');
  const burst = ctx('zt:throttleBurst');
  const throttle =
    rate === undefined && burst === undefined
      ? undefined
      : {
          rateLimit: rate === undefined ? DEFAULT_THROTTLE.rateLimit : numberOf('zt:throttleRate', rate),
          burstLimit: burst === undefined ? DEFAULT_THROTTLE.burstLimit : numberOf('zt:throttleBurst', burst),
        };
  const reserved = ctx('zt:reservedConcurrency');
  const props: ZtInfraStackProps = {
    description:
      'zt-infra: authorization gateway for AI-agent actions (API Gateway + Lambda + DynamoDB + KMS)',
    apiAccess,
    ...(list('zt:adminPrincipalArns') ? { adminPrincipalArns: list('zt:adminPrincipalArns') } : {}),
    ...(list('zt:approverPrincipalArns') ? { approverPrincipalArns: list('zt:approverPrincipalArns') } : {}),
    ...(list('zt:agents') ? { agentIds: list('zt:agents') } : {}),
    ...(list('zt:agentPrincipalArns') ? { agentPrincipalArns: list('zt:agentPrincipalArns') } : {}),
    ...(retention ? { checkpointRetentionDays: Number(retention) } : {}),
    ...(ctx('zt:alarmEmail') ? { alarmEmail: ctx('zt:alarmEmail') } : {}),
    ...(throttle ? { throttle } : {}),
    ...(reserved !== undefined ? { reservedConcurrency: parseReservedConcurrency(reserved) } : {}),
    env: { account: process.env['CDK_DEFAULT_ACCOUNT'], region: process.env['CDK_DEFAULT_REGION'] },
  };
  const stack = new ZtInfraStack(app, ctx('zt:stackName') ?? 'ZtInfra', props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

function numberOf(key: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value))
    throw new Error(`${key} must be a number, got \`${text}\``);
  return value;
}

const FUNCTIONS: ReadonlyArray<keyof ReservedConcurrency> = ['decisions', 'admin', 'audit', 'checkpoint'];

/** `none`, or `decisions=32,admin=2`: the functions named get these, the others keep their defaults. */
export function parseReservedConcurrency(text: string): Partial<ReservedConcurrency> | false {
  if (text.trim() === 'none') return false;
  const out: Partial<ReservedConcurrency> = {};
  for (const part of text.split(',')) {
    const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(part);
    const name = match?.[1] as keyof ReservedConcurrency | undefined;
    if (!match || !name || !FUNCTIONS.includes(name) || name in out) {
      throw new Error(
        `zt:reservedConcurrency must be \`none\` or ${FUNCTIONS.map((f) => `${f}=N`).join(',')} (each at most once), got \`${text}\``,
      );
    }
    out[name] = Number(match[2]);
  }
  return out;
}

// Run as the cdk app (`node dist/cdk/app.js`), not when a test imports buildApp.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  buildApp().app.synth();
}
