import { ROUTE_GROUP_NAMES, type RouteGroup } from '../core/model/index.js';

/**
 * The Lambda functions' configuration, read from the environment once, at cold start, and nowhere else
 * (the architecture test keeps `process.env` out of the rest of lambdas/). Each function has its own
 * reader, which takes only what that function uses and fails the cold start, naming the variable, when
 * something required is missing or malformed: nothing is answered or signed under a half configuration.
 *
 * The stack (cdk/) sets these variables; the names are the deployment's contract with the code.
 */

/** What every function reads. */
export interface CommonEnv {
  /** `AWS_REGION`, set by Lambda; absent in tests (the SDK clients then use their own default). */
  region: string | undefined;
  /** `TABLE_NAME`: the one DynamoDB table. */
  tableName: string;
  /** `ROOT_KEY_ARN`: the KMS root signing key. */
  rootKeyArn: string;
  /** `CHECKPOINT_ORIGIN`: the origin line that tells this log from every other (see {@link requiredCheckpointOrigin}). */
  checkpointOrigin: string;
  /** `SERVICE_NAME` (default `zt-infra`): the metrics' service dimension. */
  serviceName: string;
  /** `METRICS_NAMESPACE` (default: the Metrics class's). */
  metricsNamespace: string | undefined;
}

/** The API functions (`lambdas/api.ts`): one per route group. */
export interface ApiEnv extends CommonEnv {
  /** `GATEWAY_PRINCIPAL_ARN`, else `lambda:<AWS_LAMBDA_FUNCTION_NAME>`: written on session-key records. */
  gatewayPrincipal: string;
  /** `ROUTE_GROUP`: the group this function serves; absent, it serves every route. */
  routeGroup: RouteGroup | undefined;
  /** `ADMIN_PRINCIPAL_ARNS`: comma-separated principal ARNs of the admins. */
  adminPrincipalArns: string[];
  /** `APPROVER_PRINCIPAL_ARNS`: comma-separated principal ARNs that list and answer approvals (default none). */
  approverPrincipalArns: string[];
  /** `APPROVAL_WINDOW_MS`: how long an `approval_required` request waits (default: the gateway's, 1 hour). */
  approvalWindowMs: number | undefined;
  /** `APPROVAL_TTL_MS`: how long one approve counts (default: the gateway's, 15 minutes). */
  approvalTtlMs: number | undefined;
  /** `START_WINDOW_MS`: how long an allow waits for `started` (default: the gateway's, 60 s). */
  startWindowMs: number | undefined;
  /**
   * `KEEP_REQUESTS` and `KEEP_REQUESTS_DAYS` as set: request data kept for replay. Parsed by the gateway's
   * own reader (`parseRequestKeeping`), which the API entry calls, so this file stays free of the use cases.
   */
  keepRequests: string | undefined;
  keepRequestsDays: string | undefined;
}

/** The scheduled checkpoint function (`lambdas/checkpoint.ts`). */
export interface CheckpointEnv extends CommonEnv {
  /** `CHECKPOINT_BUCKET`: the Object Lock bucket checkpoints are archived to. */
  bucket: string;
  /** `CHECKPOINT_RETENTION_DAYS`: the Object Lock retention of each archived checkpoint. */
  retentionDays: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

function positiveInteger(env: Env, name: string): number {
  const value = Number(env[name]);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`environment variable ${name} must be a positive integer, got \`${env[name]}\``);
  }
  return value;
}

/**
 * The checkpoint origin a Lambda function was deployed with (`CHECKPOINT_ORIGIN`, set by the stack to
 * `zt-infra/<partition>/<account>/<region>/<stack>/<chain>`). Missing, it fails the cold start rather than
 * sign under the fixed `zt-infra/<chain>` every deployment would share.
 */
export function requiredCheckpointOrigin(env: Env): string {
  const origin = env['CHECKPOINT_ORIGIN'];
  if (!origin) {
    throw new Error(
      'environment variable CHECKPOINT_ORIGIN is required: the origin that tells this log from every other',
    );
  }
  return origin;
}

function readCommon(env: Env): CommonEnv {
  return {
    region: env['AWS_REGION'] || undefined,
    tableName: required(env, 'TABLE_NAME'),
    // read before anything is built: a deployment without its origin must not sign at all
    checkpointOrigin: requiredCheckpointOrigin(env),
    rootKeyArn: required(env, 'ROOT_KEY_ARN'),
    serviceName: env['SERVICE_NAME'] || 'zt-infra',
    metricsNamespace: env['METRICS_NAMESPACE'] || undefined,
  };
}

/** A comma-separated list of ARNs (blanks dropped); `mandatory` refuses an unset or empty variable. */
function arnList(env: Env, name: string, mandatory = false): string[] {
  return (mandatory ? required(env, name) : (env[name] ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function optionalPositiveInteger(env: Env, name: string): number | undefined {
  return env[name] ? positiveInteger(env, name) : undefined;
}

function routeGroup(env: Env): RouteGroup | undefined {
  const group = env['ROUTE_GROUP'];
  if (group === undefined || group === '') return undefined;
  if (!(ROUTE_GROUP_NAMES as readonly string[]).includes(group)) {
    throw new Error(`ROUTE_GROUP must be one of ${ROUTE_GROUP_NAMES.join(', ')}, got \`${group}\``);
  }
  return group as RouteGroup;
}

/** Reads an API function's configuration; throws, naming the variable, when it is incomplete. */
export function readApiEnv(env: Env): ApiEnv {
  return {
    ...readCommon(env),
    gatewayPrincipal: env['GATEWAY_PRINCIPAL_ARN'] || `lambda:${env['AWS_LAMBDA_FUNCTION_NAME'] || 'zt'}`,
    routeGroup: routeGroup(env),
    adminPrincipalArns: arnList(env, 'ADMIN_PRINCIPAL_ARNS', true),
    approverPrincipalArns: arnList(env, 'APPROVER_PRINCIPAL_ARNS'),
    startWindowMs: optionalPositiveInteger(env, 'START_WINDOW_MS'),
    approvalWindowMs: optionalPositiveInteger(env, 'APPROVAL_WINDOW_MS'),
    approvalTtlMs: optionalPositiveInteger(env, 'APPROVAL_TTL_MS'),
    keepRequests: env['KEEP_REQUESTS'],
    keepRequestsDays: env['KEEP_REQUESTS_DAYS'],
  };
}

/** Reads the checkpoint function's configuration; throws, naming the variable, when it is incomplete. */
export function readCheckpointEnv(env: Env): CheckpointEnv {
  return {
    ...readCommon(env),
    bucket: required(env, 'CHECKPOINT_BUCKET'),
    retentionDays: positiveInteger(env, 'CHECKPOINT_RETENTION_DAYS'),
  };
}
