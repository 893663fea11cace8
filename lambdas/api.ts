import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { AuditReader, parseRequestKeeping } from '../core/gateway/index.js';
import { ROUTE_GROUP_NAMES, type RouteGroup, routeKey, routesOfGroup } from '../core/model/index.js';
import { systemClock } from '../core/ports/index.js';
import { DynamoDbKeyValueStore } from './adapters/DynamoDbKeyValueStore.js';
import { KmsSigner } from './adapters/KmsSigner.js';
import type { ApiGatewayProxyEvent, ApiGatewayProxyResult } from './apigw.js';
import { createApiHandler } from './http.js';
import { Metrics } from './metrics.js';
import { requiredCheckpointOrigin, wireGateway } from './wiring.js';

/**
 * Lambda entry for every API route. Configuration comes from the environment at cold start:
 * `TABLE_NAME`, `ROOT_KEY_ARN`, `ADMIN_PRINCIPAL_ARNS` (comma-separated role ARNs), `CHECKPOINT_ORIGIN`,
 * optional `START_WINDOW_MS` (how long an allow waits for `started`, default 60000), `KEEP_REQUESTS` and
 * `KEEP_REQUESTS_DAYS` (request data kept for replay, core/gateway/keptRequests.ts), `GATEWAY_PRINCIPAL_ARN`, `ROUTE_GROUP`, `SERVICE_NAME` and
 * `METRICS_NAMESPACE`. A missing setting fails the cold start, so nothing is answered but a 503.
 *
 * In the cloud one function serves each route group (`ROUTE_GROUP`), so each gets only the permissions
 * its routes need; API Gateway sends a group's routes to its function, and this entry refuses (404) a
 * route of another group should one arrive anyway (a misconfigured integration, a direct invoke).
 */

/** Which group serves each route, as `METHOD /resource` (API Gateway's `resource` template), from the route table. */
export const ROUTE_GROUPS: Readonly<Record<RouteGroup, readonly string[]>> = (() => {
  const groups = {} as Record<RouteGroup, readonly string[]>;
  for (const group of ROUTE_GROUP_NAMES) groups[group] = routesOfGroup(group).map(routeKey);
  return groups;
})();

export type { RouteGroup };

const ALL_ROUTES: ReadonlySet<string> = new Set(Object.values(ROUTE_GROUPS).flat());

/**
 * True when a function of `group` may answer this event: its own routes, and anything that is no route
 * at all (API Gateway's catch-all methods send those to one function so the router answers 404/405 in
 * the contract's shape). `group` undefined (the emulator, one function) serves everything.
 */
export function servesRoute(group: RouteGroup | undefined, event: ApiGatewayProxyEvent): boolean {
  if (group === undefined) return true;
  const route = `${(event.httpMethod || '').toUpperCase()} ${event.resource}`;
  return !ALL_ROUTES.has(route) || ROUTE_GROUPS[group].includes(route);
}
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

function positiveInteger(name: string): number {
  const value = Number(process.env[name]);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`environment variable ${name} must be a positive integer, got \`${process.env[name]}\``);
  }
  return value;
}

let ready: Promise<(event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult>> | null = null;

/** One raw JSON line on stdout: the Lambda runtime prefixes `console` lines, which breaks JSON queries. */
function logLine(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function routeGroup(): RouteGroup | undefined {
  const group = process.env['ROUTE_GROUP'];
  if (group === undefined || group === '') return undefined;
  if (!Object.hasOwn(ROUTE_GROUPS, group)) {
    throw new Error(`ROUTE_GROUP must be one of ${Object.keys(ROUTE_GROUPS).join(', ')}, got \`${group}\``);
  }
  return group as RouteGroup;
}

async function init() {
  const group = routeGroup();
  const region = process.env['AWS_REGION'];
  const store = new DynamoDbKeyValueStore({
    client: new DynamoDBClient(region ? { region } : {}),
    tableName: required('TABLE_NAME'),
  });
  // read before anything is called: a deployment without its origin must not sign at all
  const origin = requiredCheckpointOrigin(process.env);
  const rootArn = required('ROOT_KEY_ARN');
  const rootSigner = await KmsSigner.create(new KMSClient(region ? { region } : {}), rootArn);
  const metrics = new Metrics({
    service: process.env['SERVICE_NAME'] ?? 'zt-infra',
    ...(process.env['METRICS_NAMESPACE'] ? { namespace: process.env['METRICS_NAMESPACE'] } : {}),
  });
  const parts = wireGateway({
    store,
    rootSigner,
    clock: systemClock,
    gatewayPrincipal:
      process.env['GATEWAY_PRINCIPAL_ARN'] ?? `lambda:${process.env['AWS_LAMBDA_FUNCTION_NAME'] ?? 'zt'}`,
    origin,
    rootArn,
    events: metrics.gatewayEvents(),
    ...(process.env['START_WINDOW_MS'] ? { startWindowMs: positiveInteger('START_WINDOW_MS') } : {}),
    keepRequests: parseRequestKeeping(process.env['KEEP_REQUESTS'], process.env['KEEP_REQUESTS_DAYS']),
  });
  const api = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer, clock: systemClock }),
    adminPrincipalArns: required('ADMIN_PRINCIPAL_ARNS')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    log: logLine,
    logError: (traceId, error) =>
      logLine({ level: 'error', msg: 'internal error', trace_id: traceId, error: String(error) }),
  });
  let conflictsSeen = parts.writer.conflicts;
  return async (event: ApiGatewayProxyEvent): Promise<ApiGatewayProxyResult> => {
    if (!servesRoute(group, event)) return notServed(event);
    try {
      return await api(event);
    } finally {
      // the writer counts lost races cumulatively; report what this request added
      metrics.appendConflicts(parts.writer.conflicts - conflictsSeen);
      conflictsSeen = parts.writer.conflicts;
    }
  };
}

function jsonReply(statusCode: number, traceId: string, body: unknown): ApiGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'x-zt-trace-id': traceId, 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

function notServed(event: ApiGatewayProxyEvent): ApiGatewayProxyResult {
  const traceId = event.requestContext?.requestId || randomUUID();
  logLine({
    level: 'warn',
    msg: 'route not served by this function',
    trace_id: traceId,
    resource: event.resource,
  });
  return jsonReply(404, traceId, {
    ok: false,
    error: { code: 'NOT_FOUND', message: `no route \`${event.path}\` in this function` },
  });
}

export async function handler(event: ApiGatewayProxyEvent): Promise<ApiGatewayProxyResult> {
  ready ??= init().catch((error) => {
    ready = null; // a failed cold start is retried by the next invocation
    throw error;
  });
  let api: (event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult>;
  try {
    api = await ready;
  } catch (error) {
    // INVARIANT: a failed cold start (KMS unreachable, bad configuration) is a 5xx deny with no record,
    // in the contract's shape; the detail goes to the log only.
    const traceId = event.requestContext?.requestId || randomUUID();
    logLine({ level: 'error', msg: 'cold start failed', trace_id: traceId, error: String(error) });
    return jsonReply(503, traceId, {
      ok: false,
      error: {
        code: 'SERVICE_UNAVAILABLE',
        message: 'the gateway could not complete the request; nothing was allowed',
        trace_id: traceId,
      },
    });
  }
  return api(event);
}
