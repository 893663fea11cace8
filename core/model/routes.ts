/**
 * The API's route table: every route of the contract, once. The Lambda router's dispatch table and route
 * groups (`lambdas/`), the emulator's open routes (`local/`), the CDK API methods, IAM policies and resource
 * policy (`cdk/`) and the SDK's paths (`sdk/`) are all derived from it; `test/contract/routeTable.test.ts`
 * checks it against `openapi.yaml` and the Terraform example, both ways.
 *
 * Adding a route is one line here, an operation in `openapi.yaml`, a line in the Terraform example's
 * `routes` map (and its agent list for an agent route), and a handler named `handler` in `lambdas/http.ts`
 * (the compiler asks for it).
 */

/** HTTP methods the API uses. */
export type RouteMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Who may call a route. `public`: anyone, unsigned (API Gateway `NONE`); `signed`: any signed caller, so
 * both the admin and the agent principals are granted it; `agent` and `admin`: only those principals are
 * granted it in IAM and the API's resource policy (the gateway checks the role again on every request).
 */
export type RouteRole = 'public' | 'signed' | 'agent' | 'admin' | 'approver';

/** The roles a principal is given in IAM: each gets its own routes and the `signed` ones. */
export type CallerRole = Exclude<RouteRole, 'public' | 'signed'>;

/** Route groups: one Lambda function each in the cloud, so each gets only the permissions its routes need. */
export const ROUTE_GROUP_NAMES = ['decisions', 'admin', 'audit'] as const;

/** A route group's name. */
export type RouteGroup = (typeof ROUTE_GROUP_NAMES)[number];

/** One route of the contract. */
export interface RouteSpec {
  readonly method: RouteMethod;
  /** The path template, API Gateway style: a path parameter is one whole segment, `{name}`. */
  readonly path: string;
  readonly role: RouteRole;
  readonly group: RouteGroup;
  /** The name of its handler in the router, and of the SDK method that calls it. */
  readonly handler: string;
}

/**
 * Every route, one a line. The order is the API's: the CDK creates methods in it and lists route ARNs in
 * it, and the router lists allowed methods (a 405's `Allow`) in it.
 */
// biome-ignore format: one route a line, so adding a route is adding a line
export const ROUTE_TABLE = [
  { method: 'GET', path: '/health', role: 'public', group: 'decisions', handler: 'health' },
  { method: 'POST', path: '/actions', role: 'agent', group: 'decisions', handler: 'decide' },
  { method: 'POST', path: '/actions/allowed', role: 'agent', group: 'decisions', handler: 'allowedActions' },
  { method: 'POST', path: '/actions/{id}/outcome', role: 'agent', group: 'decisions', handler: 'reportOutcome' },
  { method: 'GET', path: '/whoami', role: 'agent', group: 'decisions', handler: 'whoami' },
  { method: 'GET', path: '/keys', role: 'signed', group: 'decisions', handler: 'keys' },
  { method: 'POST', path: '/agents', role: 'admin', group: 'admin', handler: 'registerAgent' },
  { method: 'GET', path: '/agents', role: 'admin', group: 'admin', handler: 'listAgents' },
  { method: 'GET', path: '/agents/{agentId}', role: 'admin', group: 'admin', handler: 'getAgent' },
  { method: 'DELETE', path: '/agents/{agentId}', role: 'admin', group: 'admin', handler: 'disableAgent' },
  { method: 'POST', path: '/policies/allow', role: 'admin', group: 'admin', handler: 'allowPolicy' },
  { method: 'GET', path: '/policies', role: 'admin', group: 'admin', handler: 'listPolicies' },
  { method: 'PUT', path: '/policies/{policyId}', role: 'admin', group: 'admin', handler: 'putPolicy' },
  { method: 'GET', path: '/policies/{policyId}', role: 'admin', group: 'admin', handler: 'getPolicy' },
  { method: 'DELETE', path: '/policies/{policyId}', role: 'admin', group: 'admin', handler: 'deletePolicy' },
  { method: 'PUT', path: '/schema', role: 'admin', group: 'admin', handler: 'putSchema' },
  { method: 'GET', path: '/schema', role: 'admin', group: 'admin', handler: 'getSchema' },
  { method: 'GET', path: '/approvals', role: 'approver', group: 'admin', handler: 'listApprovals' },
  { method: 'GET', path: '/approvals/{id}', role: 'approver', group: 'admin', handler: 'getApproval' },
  { method: 'POST', path: '/approvals/{id}/approve', role: 'approver', group: 'admin', handler: 'approve' },
  { method: 'POST', path: '/approvals/{id}/reject', role: 'approver', group: 'admin', handler: 'reject' },
  { method: 'GET', path: '/audit', role: 'admin', group: 'audit', handler: 'auditPage' },
  { method: 'GET', path: '/audit/checkpoint', role: 'admin', group: 'audit', handler: 'checkpoint' },
  { method: 'GET', path: '/audit/checkpoints', role: 'admin', group: 'audit', handler: 'checkpoints' },
] as const satisfies readonly RouteSpec[];

/** A route as the table has it (literal types), e.g. to read its `path` template at compile time. */
export type Route = (typeof ROUTE_TABLE)[number];

/** The handler names, one per route. */
export type RouteName = Route['handler'];

/** `METHOD /path`, the key API Gateway's `resource` and the request log use. */
export function routeKey(route: { method: string; path: string }): string {
  return `${route.method} ${route.path}`;
}

/** The routes a group's function serves, in table order. */
export function routesOfGroup(group: RouteGroup): RouteSpec[] {
  return ROUTE_TABLE.filter((r) => r.group === group);
}

/** The routes open to anyone, unsigned. */
export function publicRoutes(): RouteSpec[] {
  return ROUTE_TABLE.filter((r) => r.role === 'public');
}

/**
 * The routes a caller role is granted (IAM and resource policy alike): its own routes in table order, then
 * the `signed` ones.
 */
export function routesForRole(role: CallerRole): RouteSpec[] {
  // Admins may approve too: the approval routes are theirs as well (the gateway checks either role).
  const own = (r: RouteSpec) => r.role === role || (role === 'admin' && r.role === 'approver');
  return [...ROUTE_TABLE.filter(own), ...ROUTE_TABLE.filter((r) => r.role === 'signed')];
}

/** A path template as an `execute-api` ARN path: each `{param}` segment becomes `*`. */
export function arnPath(path: string): string {
  return path.replace(/\{[^}]+\}/g, '*');
}

/**
 * True when `method` and the raw request path name a public route exactly. Compared as sent, not decoded:
 * a request that needs decoding to look like a public route is not let through unsigned.
 */
export function isPublicRoute(method: string, rawPath: string): boolean {
  return ROUTE_TABLE.some((r) => r.role === 'public' && r.method === method && r.path === rawPath);
}

/** The route whose handler is `name`. */
export function routeNamed<N extends RouteName>(name: N): Extract<Route, { handler: N }> {
  return ROUTE_TABLE.find((r) => r.handler === name) as Extract<Route, { handler: N }>;
}

/** The parameter names of a path template: `'/a/{x}/b/{y}'` -> `'x' | 'y'`. */
export type PathParams<P extends string> = P extends `${string}{${infer K}}${infer Rest}`
  ? K | PathParams<Rest>
  : never;

type ParamsArg<N extends RouteName> = [PathParams<Extract<Route, { handler: N }>['path']>] extends [never]
  ? []
  : [params: Record<PathParams<Extract<Route, { handler: N }>['path']>, string>];

/** A route's method and a concrete path of it, for a client to send. */
export interface RouteRequest {
  readonly method: RouteMethod;
  readonly path: string;
}

/**
 * The method and concrete path of the route `name`, each `{param}` replaced by its value percent-encoded
 * as one segment (so a value holding `/` cannot reach another route). Throws a `TypeError` (a caller's
 * bug) for an empty value, which would name another route.
 */
export function routeRequest<N extends RouteName>(name: N, ...params: ParamsArg<N>): RouteRequest {
  const route = routeNamed(name);
  const values = (params[0] ?? {}) as Record<string, string>;
  const path = route.path.replace(/\{([^}]+)\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined || value === '') throw new TypeError('a path id must not be empty');
    return encodeURIComponent(value);
  });
  return { method: route.method, path };
}
