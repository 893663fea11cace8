import { Duration, Tags } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { arnPath, routesForRole } from '../core/model/index.js';
import { acknowledge, executeApiFinding } from './nag.js';

/**
 * The routes an agent may call, from the route table (`core/model/routes.ts`): its `agent` routes (decisions, its
 * allowed actions, outcome reports) and the `signed` ones (the public keys to verify answers), each path as
 * its `execute-api` ARN path (a path parameter as `*`).
 */
export const AGENT_ROUTES: ReadonlyArray<{ method: string; path: string }> = routesForRole('agent').map(
  (r) => ({
    method: r.method,
    path: arnPath(r.path),
  }),
);

export interface AgentRoleProps {
  /** The agent this role is for; register it with `zt agents register <agentId> --principal-arn <roleArn>`. */
  readonly agentId: string;
  readonly api: IRestApi;
  readonly stageName: string;
  /** Who may assume the role (the workload running the agent). Default: principals of this account. */
  readonly assumedBy?: iam.IPrincipal;
  /** Session length; the SDK refreshes credentials through its provider. Default 1 hour. */
  readonly maxSessionDuration?: Duration;
}

const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * An IAM role for one agent: `execute-api:Invoke` on the agent routes of one API stage ({@link AGENT_ROUTES}:
 * `POST /actions`, `POST /actions/allowed`, `POST /actions/{id}/outcome` and `GET /keys`), nothing else. IAM is the first gate;
 * the gateway is the second: it binds the role's ARN to the agent at registration, answers a decision
 * only for that agent (`actor` must match), and refuses admin routes to it even if a wider IAM policy were
 * attached.
 */
export class AgentRole extends Construct {
  readonly role: iam.Role;
  readonly agentId: string;

  constructor(scope: Construct, id: string, props: AgentRoleProps) {
    super(scope, id);
    if (!AGENT_ID.test(props.agentId)) {
      throw new Error(
        `agentId must be 1-64 letters, digits, \`.\`, \`_\` or \`-\`, starting with a letter or digit, got \`${props.agentId}\``,
      );
    }
    this.agentId = props.agentId;
    this.role = new iam.Role(this, 'Role', {
      assumedBy: props.assumedBy ?? new iam.AccountRootPrincipal(),
      description: `zt-infra agent ${props.agentId}: may ask for decisions and report outcomes only`,
      maxSessionDuration: props.maxSessionDuration ?? Duration.hours(1),
    });
    Tags.of(this.role).add('zt:agentId', props.agentId);
    const resources = AGENT_ROUTES.map((r) => props.api.arnForExecuteApi(r.method, r.path, props.stageName));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['execute-api:Invoke'], resources }));
    for (const r of routesForRole('agent').filter((r) => r.path.includes('{'))) {
      acknowledge(
        this.role,
        executeApiFinding(props.api, props.stageName, r.method, arnPath(r.path)),
        `the \`*\` is the path parameter of ${r.method} ${r.path}: one route, not a wildcard over routes; the gateway answers it only for this same principal's own records`,
      );
    }
  }

  get roleArn(): string {
    return this.role.roleArn;
  }
}
