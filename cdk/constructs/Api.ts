import { RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import {
  arnPath,
  publicRoutes,
  ROUTE_TABLE,
  type RouteGroup,
  routesForRole,
} from '../../core/model/index.js';
import { acknowledge, executeApiFinding } from '../nag.js';

/*
 * The API: API Gateway REST with AWS_IAM on every method but health, one method per row of the route table
 * (`core/model/routes.ts`) on the function of its group, the stage's throttling and access logs, the callers'
 * `execute-api:Invoke` grants and the API's resource policy. A plain class, not a construct: everything is
 * added to the stack itself (`Api`, `ApiAccessLogs`), so construct paths and logical ids stay the stack's as
 * before (construct ids are a public contract; a new id would replace a method or the API).
 */

/** The stage every route is deployed to. */
export const STAGE = 'v1';

/**
 * The API's routes and the group serving each, from the route table (`core/model/routes.ts`), which the Lambda
 * router's `ROUTE_GROUPS` also comes from.
 */
export const ROUTES: ReadonlyArray<{ method: string; path: string; group: RouteGroup }> = ROUTE_TABLE.map(
  (r) => ({ method: r.method, path: r.path, group: r.group }),
);

/** The routes without IAM authorization (DESIGN.md: health says only that the service is up). */
export const OPEN_ROUTES: ReadonlyArray<{ method: string; path: string }> = publicRoutes();

/** Who may reach the API at all, in its resource policy (IAM authorization applies in every case). */
export type ApiAccess = 'account' | { organizationId: string } | 'any';

/** The routes of the admin principals: every `admin` route (admin and audit groups), and the `signed` `GET /keys`. */
export const ADMIN_ROUTES: ReadonlyArray<{ method: string; path: string }> = routesForRole('admin');

/** The routes of the approvers (the approver role and `approverPrincipalArns`): the approval routes only. */
export const APPROVER_ROUTES: ReadonlyArray<{ method: string; path: string }> = ROUTES.filter((r) =>
  r.path.startsWith('/approvals'),
);

/**
 * Stage throttling by default, from the measured capacity of the default decisions fleet: 32 instances at
 * the ~60 decisions/s one instance sustains against DynamoDB (`npm run bench:cloud`, K=1: a transaction of
 * 8-12 ms and a read of 2-4 ms per decision), 80% of it: rate 1,500/s. Burst 64: the requests that may arrive
 * at one instant; more than the reserved instances could start would be throttled by Lambda instead (a 5xx
 * deny), here they are answered 429.
 */
export const DEFAULT_THROTTLE: Readonly<{ rateLimit: number; burstLimit: number }> = Object.freeze({
  rateLimit: 1_500,
  burstLimit: 64,
});

/** API Gateway's own account-level default (10,000 requests/s, burst 5,000): a stage cannot exceed it. */
const MAX_THROTTLE = { rateLimit: 10_000, burstLimit: 5_000 };

function checkThrottle(throttle: { rateLimit: number; burstLimit: number }): void {
  const { rateLimit, burstLimit } = throttle;
  if (!Number.isFinite(rateLimit) || rateLimit <= 0 || rateLimit > MAX_THROTTLE.rateLimit) {
    throw new Error(
      `throttle rateLimit must be above 0 and at most ${MAX_THROTTLE.rateLimit} requests/s, got \`${rateLimit}\``,
    );
  }
  if (!Number.isSafeInteger(burstLimit) || burstLimit < 1 || burstLimit > MAX_THROTTLE.burstLimit) {
    throw new Error(
      `throttle burstLimit must be an integer from 1 to ${MAX_THROTTLE.burstLimit}, got \`${burstLimit}\``,
    );
  }
}

/**
 * The `execute-api` resource of one route in the API's own resource policy (`execute-api:/<stage>/<method>
 * <path>`, a path parameter as `*`). The short form names this API without referring to it, which the
 * policy, a property of the API itself, could not do without a circular reference.
 */
export function routeResource(method: string, path: string): string {
  return `execute-api:/${STAGE}/${method}${arnPath(path)}`;
}

/** What the API is made from: the stack's service name, log retention, throttling and route functions. */
export interface ApiProps {
  /** The API's name (the stack name: two stacks in one account and region are told apart by it). */
  readonly service: string;
  readonly logRetention: logs.RetentionDays;
  /** Checked here against what API Gateway accepts. */
  readonly throttle: { rateLimit: number; burstLimit: number };
  /** The function serving each route group; the decisions one also answers unknown routes (404/405). */
  readonly functions: Record<RouteGroup, lambda.IFunction>;
}

/** The stack's REST API (`Api`), its access log group (`ApiAccessLogs`), methods and caller permissions. */
export class Api {
  readonly restApi: apigw.RestApi;

  constructor(stack: Stack, props: ApiProps) {
    const { throttle } = props;
    checkThrottle(throttle);
    const accessLogs = new logs.LogGroup(stack, 'ApiAccessLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.restApi = new apigw.RestApi(stack, 'Api', {
      // two stacks in one account and region are told apart by name
      restApiName: props.service,
      description: 'zt-infra authorization gateway (SigV4 / AWS_IAM)',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: STAGE,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
        throttlingRateLimit: throttle.rateLimit,
        throttlingBurstLimit: throttle.burstLimit,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        // request and response bodies never go to the logs
        dataTraceEnabled: false,
        metricsEnabled: true,
      },
    });
    acknowledge(
      this.restApi,
      'AwsSolutions-APIG3',
      'callers are authenticated by SigV4 (AWS_IAM) and limited by the resource policy and stage throttling; a WAF web ACL (about $5 a month plus rules) can be attached for IP or rate rules, and bodies over 64 KiB are refused by the handler (413)',
    );
    acknowledge(
      this.restApi,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      'the API Gateway account role needs AmazonAPIGatewayPushToCloudWatchLogs to write access and execution logs; that AWS managed policy is the documented way',
    );
    this.#addMethods(props.functions);
  }

  /** One method per route on its group's function; every other path and method on the decisions function. */
  #addMethods(functions: Record<RouteGroup, lambda.IFunction>): void {
    const api = this.restApi;
    const bodyValidator = api.addRequestValidator('BodyValidator', {
      requestValidatorName: 'json-object-body',
      validateRequestBody: true,
      // no method declares required parameters, so this checks nothing today; cdk-nag wants both on
      validateRequestParameters: true,
    });
    const jsonObject = api.addModel('JsonObject', {
      contentType: 'application/json',
      modelName: 'JsonObject',
      schema: { schema: apigw.JsonSchemaVersion.DRAFT4, type: apigw.JsonSchemaType.OBJECT },
    });
    addGatewayResponses(api);

    const resourceAt = (path: string): apigw.IResource =>
      path
        .split('/')
        .filter(Boolean)
        .reduce<apigw.IResource>((r, part) => r.getResource(part) ?? r.addResource(part), api.root);
    const integrations = {} as Record<RouteGroup, apigw.LambdaIntegration>;
    for (const group of Object.keys(functions) as RouteGroup[]) {
      integrations[group] = new apigw.LambdaIntegration(functions[group], { allowTestInvoke: false });
    }
    for (const route of ROUTE_TABLE) {
      const open = route.role === 'public';
      const hasBody = route.method === 'POST' || route.method === 'PUT';
      const method = resourceAt(route.path).addMethod(route.method, integrations[route.group], {
        authorizationType: open ? apigw.AuthorizationType.NONE : apigw.AuthorizationType.IAM,
        ...(hasBody
          ? { requestValidator: bodyValidator, requestModels: { 'application/json': jsonObject } }
          : {}),
      });
      if (open) {
        acknowledge(
          method,
          'AwsSolutions-APIG4',
          `${route.method} ${route.path} is public in the route table by design (DESIGN.md): it says only that the service is up`,
        );
      }
      acknowledge(
        method,
        'AwsSolutions-COG4',
        'callers are AWS workloads and admins authenticated by SigV4 (AWS_IAM), not Cognito users',
      );
    }
    // Unknown routes and wrong methods reach the router, which answers 404/405 in the contract's shape
    // (API Gateway alone would answer 403 "Missing Authentication Token"). Still AWS_IAM: unsigned is 403.
    const fallback = new apigw.LambdaIntegration(functions.decisions, { scopePermissionToMethod: false });
    const withRoutes = new Set(ROUTES.map((r) => r.path));
    for (const path of ['/', ...withRoutes]) {
      const method = resourceAt(path).addMethod('ANY', fallback);
      acknowledge(method, 'AwsSolutions-COG4', 'callers are authenticated by SigV4 (AWS_IAM), not Cognito');
    }
    const proxy = api.root.addProxy({ anyMethod: false });
    const proxyMethod = proxy.addMethod('ANY', fallback);
    acknowledge(
      proxyMethod,
      'AwsSolutions-COG4',
      'callers are authenticated by SigV4 (AWS_IAM), not Cognito',
    );
  }

  /** Grants `role` `execute-api:Invoke` on `routes` of the stage, one ARN per route. */
  permit(role: iam.Role, routes: ReadonlyArray<{ method: string; path: string }>): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['execute-api:Invoke'],
        resources: routes.map((r) => this.restApi.arnForExecuteApi(r.method, arnPath(r.path), STAGE)),
      }),
    );
    for (const r of routes.filter((r) => r.path.includes('{'))) {
      acknowledge(
        role,
        executeApiFinding(this.restApi, STAGE, r.method, arnPath(r.path)),
        `the \`*\` is the path parameter of ${r.method} ${r.path}, one route, not a wildcard over routes`,
      );
    }
  }

  /**
   * Sets the API's resource policy from the principals of each role (IAM role or user ARNs): see
   * {@link apiResourcePolicy}. Called once, with every principal.
   */
  restrictTo(callers: {
    access: ApiAccess;
    account: string;
    admins: string[];
    approvers: string[];
    agents: string[];
  }): void {
    // INVARIANT: the resource policy allows no more than the callers' own IAM policies: each route only to
    // the principals whose role grants it (plus the configured ARNs, whose policies live elsewhere), and
    // no principal but `*` on GET /health. Within one account API Gateway allows a call that either policy
    // allows, so an Allow for `*` here would make every narrow grant above meaningless.
    for (const statement of apiResourcePolicy(callers)) {
      this.restApi.addToResourcePolicy(statement);
    }
  }
}

/**
 * The API's resource policy, route by route. IAM authorization applies to every method but health whatever
 * this says; within one account a call is allowed when the caller's IAM policy *or* this policy allows it,
 * so this policy allows only what the callers' roles already grant: the admin routes to the admin
 * principals, the agent routes to the agent principals, `GET /health` to anyone. Across accounts both must
 * allow, which is how a configured principal of another account gets in (and nobody else). `access` adds an
 * explicit Deny for principals outside this account or organization, whatever an Allow says.
 */
function apiResourcePolicy(o: {
  access: ApiAccess;
  account: string;
  admins: string[];
  approvers: string[];
  agents: string[];
}): iam.PolicyStatement[] {
  const invoke = (
    sid: string,
    principals: iam.IPrincipal[],
    routes: ReadonlyArray<{ method: string; path: string }>,
  ) =>
    new iam.PolicyStatement({
      sid,
      principals,
      actions: ['execute-api:Invoke'],
      resources: routes.map((r) => routeResource(r.method, r.path)),
    });
  const statements = [
    // health needs no signature, so it has no principal to name
    invoke('AllowHealth', [new iam.AnyPrincipal()], OPEN_ROUTES),
    invoke(
      'AllowAdminRoutes',
      o.admins.map((arn) => new iam.ArnPrincipal(arn)),
      ADMIN_ROUTES,
    ),
    invoke(
      'AllowApproverRoutes',
      o.approvers.map((arn) => new iam.ArnPrincipal(arn)),
      APPROVER_ROUTES,
    ),
  ];
  if (o.agents.length > 0) {
    statements.push(
      invoke(
        'AllowAgentRoutes',
        o.agents.map((arn) => new iam.ArnPrincipal(arn)),
        routesForRole('agent'),
      ),
    );
  }
  if (o.access !== 'any') {
    statements.push(
      new iam.PolicyStatement({
        sid: 'DenyOutsiders',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['execute-api:Invoke'],
        // health stays open to anyone (it needs no signature, so it has no principal account)
        notResources: OPEN_ROUTES.map((r) => routeResource(r.method, r.path)),
        resources: [],
        conditions:
          o.access === 'account'
            ? { StringNotEquals: { 'aws:PrincipalAccount': o.account } }
            : { StringNotEquals: { 'aws:PrincipalOrgID': o.access.organizationId } },
      }),
    );
  }
  return statements;
}

/** API Gateway's own refusals in the contract's error shape (`{ok: false, error: {code, message}}`). */
function addGatewayResponses(api: apigw.RestApi) {
  const body = (code: string, message: string) => ({
    'application/json': `{"ok":false,"error":{"code":"${code}","message":${message},"trace_id":"$context.requestId"}}`,
  });
  // Default5xx keeps API Gateway's own status (502, 504); the others state theirs.
  const responses: Array<[string, apigw.ResponseType, string | undefined, string, string]> = [
    ['AccessDenied', apigw.ResponseType.ACCESS_DENIED, '403', 'FORBIDDEN', '$context.error.messageString'],
    [
      'MissingToken',
      apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      '403',
      'FORBIDDEN',
      '"the request is not signed with SigV4 (service execute-api)"',
    ],
    [
      'InvalidSignature',
      apigw.ResponseType.INVALID_SIGNATURE,
      '403',
      'FORBIDDEN',
      '$context.error.messageString',
    ],
    ['ExpiredToken', apigw.ResponseType.EXPIRED_TOKEN, '403', 'FORBIDDEN', '$context.error.messageString'],
    [
      'BadRequestBody',
      apigw.ResponseType.BAD_REQUEST_BODY,
      '400',
      'VALIDATION_FAILED',
      '"request body must be a JSON object"',
    ],
    [
      'TooLarge',
      apigw.ResponseType.REQUEST_TOO_LARGE,
      '413',
      'PAYLOAD_TOO_LARGE',
      '$context.error.messageString',
    ],
    [
      'Throttled',
      apigw.ResponseType.THROTTLED,
      '429',
      'THROTTLED',
      '"too many requests; retry with backoff"',
    ],
    [
      'Default5xx',
      apigw.ResponseType.DEFAULT_5XX,
      undefined,
      'SERVICE_UNAVAILABLE',
      '"the gateway could not complete the request; nothing was allowed"',
    ],
  ];
  for (const [id, type, statusCode, code, message] of responses) {
    api.addGatewayResponse(id, {
      type,
      ...(statusCode ? { statusCode } : {}),
      templates: body(code, message),
    });
  }
}
