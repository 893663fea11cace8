import { createHash } from 'node:crypto';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { parseRequestKeeping } from '../core/gateway/index.js';
import {
  checkpointOrigin,
  checkpointPartition,
  heartbeatPartition,
  merklePartition,
} from '../core/log/index.js';
import type { RouteGroup } from '../core/model/index.js';
import { TABLE_KEY } from '../lambdas/adapters/tableDefinition.js';
import { AgentRole } from './AgentRole.js';
import {
  ADMIN_ROUTES,
  APPROVER_ROUTES,
  Api,
  type ApiAccess,
  DEFAULT_THROTTLE,
  STAGE,
} from './constructs/Api.js';
import { CheckpointArchive } from './constructs/CheckpointArchive.js';
import {
  FunctionDefaults,
  type MadeFunction,
  projectRoot,
  type ReservedConcurrency,
  reservedConcurrencyOf,
} from './constructs/FunctionDefaults.js';
import { Operations } from './constructs/Operations.js';
import { RootSigningKey } from './constructs/RootSigningKey.js';

/*
 * The stack composes the parts in cdk/constructs/ (function defaults, root signing key, checkpoint archive,
 * API, operations), each a plain class that adds its resources to this stack, not a construct of its own:
 * construct ids are a public contract, and a resource under a new parent construct would get a new logical
 * id and be replaced. Resources are made in the order they always were, so the template is unchanged too.
 * This module still exports every name it exported before the parts moved out (the app and tests use them).
 */

export {
  ADMIN_ROUTES,
  APPROVER_ROUTES,
  type ApiAccess,
  DEFAULT_THROTTLE,
  OPEN_ROUTES,
  ROUTES,
  routeResource,
} from './constructs/Api.js';
export {
  bundlingOptions,
  CEDAR_WASM,
  DEFAULT_RESERVED_CONCURRENCY,
  ESM_BANNER,
  projectRoot,
  type ReservedConcurrency,
  reservedConcurrencyOf,
} from './constructs/FunctionDefaults.js';
export { ROOT_KEY_DELEGATED_ACTIONS } from './constructs/RootSigningKey.js';
export type { RouteGroup };

export interface ZtInfraStackProps extends StackProps {
  /**
   * Extra approver principals (IAM role or user ARNs) besides the stack's approver role: they may list,
   * approve and reject approvals (the approval routes only; admins may too). Named in the API's resource
   * policy on those routes and in the functions' `APPROVER_PRINCIPAL_ARNS`. Never an agent's role: the
   * gateway refuses a requester approving its own request, but an approver list is the admin's to keep.
   */
  readonly approverPrincipalArns?: string[];
  /** How long an `approval_required` request waits for approvals and its claim. Default 1 hour. */
  readonly approvalWindow?: Duration;
  /** How long one approve counts. Default 15 minutes. */
  readonly approvalTtl?: Duration;
  /** How long an approval may wait before `ApprovalsPendingTooLongAlarm` fires. Default 30 minutes. */
  readonly approvalPendingAlarmAfter?: Duration;
  /**
   * Extra admin principals (IAM role or user ARNs) besides the stack's admin role: named in the API's
   * resource policy on the admin routes, and in the handlers' `ADMIN_PRINCIPAL_ARNS`.
   */
  readonly adminPrincipalArns?: string[];
  /** Agents to create roles for (`AgentRole`), one per id. */
  readonly agentIds?: string[];
  /**
   * Agent principals made outside the stack (IAM role or user ARNs, e.g. in another account of the
   * organization): named in the API's resource policy on the agent routes only. Register each one as an
   * agent (`zt agents register <id> --principal-arn <arn>`).
   */
  readonly agentPrincipalArns?: string[];
  /**
   * Which accounts' principals may reach the API at all: this account (default), an organization, or any.
   * An explicit Deny on top of the route-scoped Allows; it never widens them.
   */
  readonly apiAccess?: ApiAccess;
  /** Days each checkpoint object is locked in COMPLIANCE mode. Default 365. */
  readonly checkpointRetentionDays?: number;
  /** Retention of access, request and function logs. Default one year. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Stage throttling of every route together (requests per second, and the bucket's burst), refused with 429
   * before any function runs. Default {@link DEFAULT_THROTTLE}, set from measured capacity (README, "Deploy to
   * AWS").
   */
  readonly throttle?: { rateLimit: number; burstLimit: number };
  /**
   * Reserved concurrency per function: the most instances each may run, taken from the account's pool (which
   * must keep 100 unreserved). Each missing one defaults to {@link DEFAULT_RESERVED_CONCURRENCY}; `false` sets
   * none (for an account whose concurrency limit is too small to reserve any).
   */
  readonly reservedConcurrency?: Partial<ReservedConcurrency> | false;
  /** Denies per minute from one principal that raise the deny-burst alarm. Default 20. */
  readonly denyBurstThreshold?: number;
  /** An e-mail address subscribed to the alarm topic (confirm the subscription mail). */
  readonly alarmEmail?: string;
  /**
   * The lane named last in the checkpoint origin: only `main` (the default) is accepted. Kept from before
   * lanes, when it named the one chain; records now carry the lane their writer holds.
   */
  readonly chain?: string;
  /**
   * Keep the request data (params, context, agent attributes) of these actions' decisions for
   * `zt policies replay`: action ids, `<prefix>.*` or `*` (the decisions function's `KEEP_REQUESTS`), for
   * `retentionDays` (default 30). Default: keep nothing. The data is stored in the table, unchained.
   */
  readonly keepRequests?: { actions: string[]; retentionDays?: number };
}

/** An IAM role or user ARN: what a resource policy may name as a principal (no wildcard, no account root). */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)\/[\w+=,.@/-]+$/;

function checkPrincipalArns(name: string, arns: readonly string[]): void {
  for (const arn of arns) {
    if (!PRINCIPAL_ARN.test(arn)) {
      throw new Error(
        `${name} must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name>), got \`${arn}\``,
      );
    }
  }
}

/**
 * The output name of each agent's role ARN: `AgentRoleArn` + the id without `.`, `_` and `-` (what
 * CloudFormation allows in a logical id). Ids that would share a name (`a.b`, `a-b`, `ab`) each get the
 * first 8 hex digits of SHA-256 of the id appended, so every name is unique and does not depend on the order
 * of the list; ids that share their name with no other keep the plain one.
 */
export function agentOutputNames(agentIds: readonly string[]): Map<string, string> {
  const plain = (id: string) => `AgentRoleArn${id.replace(/[^A-Za-z0-9]/g, '')}`;
  const count = new Map<string, number>();
  for (const id of agentIds) count.set(plain(id), (count.get(plain(id)) ?? 0) + 1);
  const names = new Map<string, string>();
  for (const id of agentIds) {
    const name = plain(id);
    names.set(
      id,
      (count.get(name) ?? 0) > 1
        ? `${name}${createHash('sha256').update(id).digest('hex').slice(0, 8)}`
        : name,
    );
  }
  const seen = new Set<string>();
  for (const [id, name] of names) {
    // a suffixed name that equals another agent's plain name (a 1 in 4 billion chance) is refused, not merged
    if (seen.has(name)) throw new Error(`agent ids give the same output name \`${name}\`, got \`${id}\``);
    seen.add(name);
  }
  return names;
}

/**
 * The authorization gateway: API Gateway REST (`AWS_IAM`) -> one Lambda per route group -> one DynamoDB
 * table + a KMS P-256 root key; a scheduled function signs checkpoints into an Object Lock bucket.
 *
 * Construct ids are a public contract: renaming one replaces the resource (and a replaced table or key
 * loses the chain or its root of trust), so they never change casually.
 */
export class ZtInfraStack extends Stack {
  readonly api: apigw.RestApi;
  readonly table: dynamodb.Table;
  readonly rootKey: kms.Key;
  readonly checkpointBucket: s3.Bucket;
  readonly functions: Record<RouteGroup, nodejs.NodejsFunction>;
  readonly checkpointFunction: nodejs.NodejsFunction;
  readonly adminRole: iam.Role;
  /** Assumed by the people who approve or reject `approval_required` requests. */
  readonly approverRole: iam.Role;
  readonly agentRoles: AgentRole[] = [];
  readonly alarmTopic: sns.Topic;
  /**
   * The origin line of this deployment's checkpoints, `zt-infra/<partition>/<account>/<region>/<stack>/<chain>`
   * (tokens where the stack is environment-agnostic): unique per deployment, so witnesses and monitors tell
   * two logs apart.
   */
  readonly checkpointOrigin: string;

  constructor(scope: Construct, id: string, props: ZtInfraStackProps = {}) {
    super(scope, id, props);
    const root = projectRoot();
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const retentionDays = props.checkpointRetentionDays ?? 365;
    if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) {
      throw new Error(`checkpointRetentionDays must be a positive integer, got \`${retentionDays}\``);
    }
    const chain = props.chain ?? 'main';
    if (chain !== 'main') {
      // The functions check the origin's last segment against the lane they checkpoint first, `main`:
      // any other name would fail every cold start, so it is refused here, at synth.
      throw new Error(
        `chain must be \`main\`, got \`${chain}\`: lanes are named by their writers; a deployment's log is told apart by its checkpoint origin (account, region, stack)`,
      );
    }
    const metricsNamespace = 'ZtInfra';
    const service = this.stackName;
    checkPrincipalArns('adminPrincipalArns', props.adminPrincipalArns ?? []);
    checkPrincipalArns('approverPrincipalArns', props.approverPrincipalArns ?? []);
    checkPrincipalArns('agentPrincipalArns', props.agentPrincipalArns ?? []);
    const agentIds = props.agentIds ?? [];
    const repeated = agentIds.find((id, i) => agentIds.indexOf(id) !== i);
    if (repeated !== undefined) throw new Error(`agentIds must not repeat an id, got \`${repeated}\` twice`);
    const agentOutputs = agentOutputNames(agentIds);
    this.checkpointOrigin = checkpointOrigin(
      [this.partition, this.account, this.region, this.stackName],
      chain,
    );

    // ------------------------------------------------------------------ data
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_KEY.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEY.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const rootKey = new RootSigningKey(this, { service });
    this.rootKey = rootKey.key;
    const archive = new CheckpointArchive(this, { retentionDays });
    this.checkpointBucket = archive.bucket;

    // ------------------------------------------------------------------ callers
    this.adminRole = new iam.Role(this, 'AdminRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'zt-infra admin: registers agents, writes policies, reads the audit log',
      maxSessionDuration: Duration.hours(1),
    });
    const adminArns = [this.adminRole.roleArn, ...(props.adminPrincipalArns ?? [])];
    this.approverRole = new iam.Role(this, 'ApproverRole', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: 'zt-infra approver: lists, approves and rejects approval_required requests',
      maxSessionDuration: Duration.hours(1),
    });
    const approverArns = [this.approverRole.roleArn, ...(props.approverPrincipalArns ?? [])];

    // ------------------------------------------------------------------ functions
    const functions = new FunctionDefaults(this, {
      root,
      logRetention,
      environment: {
        TABLE_NAME: this.table.tableName,
        ROOT_KEY_ARN: this.rootKey.keyArn,
        CHAIN: chain,
        CHECKPOINT_ORIGIN: this.checkpointOrigin,
        SERVICE_NAME: service,
        METRICS_NAMESPACE: metricsNamespace,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        // stack traces in the logs point into lambdas/ and core/, not into the minified bundle
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
    const approvalEnv: Record<string, string> = {
      APPROVER_PRINCIPAL_ARNS: approverArns.join(','),
      ...(props.approvalWindow ? { APPROVAL_WINDOW_MS: String(props.approvalWindow.toMilliseconds()) } : {}),
      ...(props.approvalTtl ? { APPROVAL_TTL_MS: String(props.approvalTtl.toMilliseconds()) } : {}),
    };
    const reserved = reservedConcurrencyOf(props.reservedConcurrency);
    const keepRequests = keepRequestsEnvironment(props.keepRequests);
    const groups: Record<RouteGroup, { description: string }> = {
      decisions: { description: 'zt-infra decisions: POST /actions, outcomes, GET /keys, GET /health' },
      admin: { description: 'zt-infra admin routes: agents, policies and approvals' },
      audit: { description: 'zt-infra audit routes: records and checkpoints' },
    };
    const made = {} as Record<RouteGroup, MadeFunction>;
    for (const group of Object.keys(groups) as RouteGroup[]) {
      made[group] = functions.make({
        name: `${group[0]?.toUpperCase()}${group.slice(1)}`,
        entry: 'lambdas/api.ts',
        description: groups[group].description,
        environment: {
          ROUTE_GROUP: group,
          ADMIN_PRINCIPAL_ARNS: adminArns.join(','),
          ...approvalEnv,
          ...(group === 'decisions' && keepRequests !== null ? keepRequests : {}),
        },
        timeout: Duration.seconds(10),
        concurrency: reserved?.[group],
      });
    }
    const checkpoint = functions.make({
      name: 'Checkpoint',
      entry: 'lambdas/checkpoint.ts',
      description:
        'zt-infra checkpoints: signs a checkpoint every minute and archives it to the Object Lock bucket',
      environment: archive.functionEnvironment,
      timeout: Duration.seconds(60),
      concurrency: reserved?.checkpoint,
      // its composition root (lambdas/checkpoint.ts) builds no policy engine: no wasm in its bundle
      cedar: false,
    });
    this.functions = { decisions: made.decisions.fn, admin: made.admin.fn, audit: made.audit.fn };
    this.checkpointFunction = checkpoint.fn;

    // ------------------------------------------------------------------ permissions (grant* only)
    // Decisions and admin routes append records (decisions, outcomes, agents, policies, session keys).
    this.table.grantReadWriteData(made.decisions.role);
    this.table.grantReadWriteData(made.admin.role);
    // Audit routes and the checkpoint function read everything but write only checkpoint state.
    for (const { role } of [made.audit, checkpoint]) {
      this.table.grantReadData(role);
      this.table.grant(role, 'dynamodb:PutItem').principalStatements.forEach((s) => {
        s.addCondition('ForAllValues:StringLike', {
          'dynamodb:LeadingKeys': [merklePartition('*'), checkpointPartition('*'), heartbeatPartition('*')],
        });
      });
    }
    // Every function signs with the root: API functions certify their session keys (a `kind: key` record),
    // the audit and checkpoint functions sign checkpoints. Nobody else may; admins read the public key.
    rootKey.allowSigners(
      [made.decisions.role, made.admin.role, made.audit.role, checkpoint.role],
      [this.adminRole],
    );
    archive.allowWriter(checkpoint.role);

    // ------------------------------------------------------------------ API and its callers
    const api = new Api(this, {
      service,
      logRetention,
      throttle: props.throttle ?? DEFAULT_THROTTLE,
      functions: this.functions,
    });
    this.api = api.restApi;
    api.permit(this.adminRole, ADMIN_ROUTES);
    api.permit(this.approverRole, APPROVER_ROUTES);
    for (const agentId of agentIds) {
      this.agentRoles.push(
        new AgentRole(this, `Agent-${agentId}`, { agentId, api: this.api, stageName: STAGE }),
      );
    }
    api.restrictTo({
      access: props.apiAccess ?? 'account',
      account: this.account,
      admins: adminArns,
      approvers: approverArns,
      agents: [...this.agentRoles.map((a) => a.roleArn), ...(props.agentPrincipalArns ?? [])],
    });

    // ------------------------------------------------------------------ checkpoints every minute
    archive.schedule(checkpoint.fn);

    // ------------------------------------------------------------------ operations
    this.alarmTopic = new Operations(this, {
      service,
      metricsNamespace,
      denyBurstThreshold: props.denyBurstThreshold ?? 20,
      approvalPendingAlarmAfter: props.approvalPendingAlarmAfter ?? Duration.minutes(30),
      alarmEmail: props.alarmEmail,
      api: this.api,
      functions: this.functions,
      checkpointFunction: this.checkpointFunction,
    }).alarmTopic;

    // ------------------------------------------------------------------ outputs
    new CfnOutput(this, 'ApiEndpoint', { value: this.api.url, description: 'base URL, stage included' });
    new CfnOutput(this, 'Region', { value: this.region });
    new CfnOutput(this, 'RootKeyArn', { value: this.rootKey.keyArn });
    new CfnOutput(this, 'AdminRoleArn', { value: this.adminRole.roleArn });
    new CfnOutput(this, 'ApproverRoleArn', { value: this.approverRole.roleArn });
    for (const agent of this.agentRoles) {
      new CfnOutput(this, agentOutputs.get(agent.agentId) as string, {
        value: agent.roleArn,
        description: `role of agent ${agent.agentId}; register it with this ARN`,
      });
    }
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'CheckpointBucketName', { value: this.checkpointBucket.bucketName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'CheckpointOrigin', {
      value: this.checkpointOrigin,
      description: "origin line of this log's checkpoints (and key name of their signatures)",
    });
  }
}

/**
 * The decisions function's `KEEP_REQUESTS` and `KEEP_REQUESTS_DAYS`, or null to keep nothing; checked at
 * synth as the function checks it at cold start, so a bad setting never deploys.
 */
function keepRequestsEnvironment(
  setting: ZtInfraStackProps['keepRequests'],
): { KEEP_REQUESTS: string; KEEP_REQUESTS_DAYS: string } | null {
  if (setting === undefined) return null;
  const keeping = parseRequestKeeping(
    setting.actions.join(','),
    setting.retentionDays === undefined ? undefined : String(setting.retentionDays),
  );
  // no actions (an empty list) keeps nothing, as if the setting were absent
  if (keeping === null) return null;
  return { KEEP_REQUESTS: keeping.actions.join(','), KEEP_REQUESTS_DAYS: String(keeping.retentionDays) };
}
