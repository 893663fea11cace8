import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { AuditReader, parseRequestKeeping } from '../core/gateway/index.js';
import { ROUTE_GROUP_NAMES, type RouteGroup, routeKey, routesOfGroup } from '../core/model/index.js';
import { type Clock, type KeyValueStore, type Signer, systemClock } from '../core/ports/index.js';
import { DynamoDbKeyValueStore } from './adapters/DynamoDbKeyValueStore.js';
import { KmsSigner } from './adapters/KmsSigner.js';
import type { ApiGatewayProxyEvent, ApiGatewayProxyResult } from './apigw.js';
import { type ApiEnv, readApiEnv } from './env.js';
import { createApiHandler } from './http.js';
import { Metrics } from './metrics.js';
import { wireGateway } from './wiring.js';

/**
 * Lambda entry for every API route. Configuration is read once at cold start (`readApiEnv`, lambdas/env.ts,
 * which lists the variables); a missing or malformed setting fails the cold start, so nothing is answered
 * but a 503.
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
let ready: Promise<(event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult>> | null = null;

/** One raw JSON line on stdout: the Lambda runtime prefixes `console` lines, which breaks JSON queries. */
function logLine(line: unknown): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/**
 * The composition root of an API function: the use cases over the store and root signer
 * ({@link wireGateway}), the audit reader, and the HTTP edge, configured from `env`. Metrics listen on the
 * one events port (decisions, failed appends, lost lane races). Exported so tests compose it over an
 * in-memory store and key; {@link handler} gives it DynamoDB and KMS.
 */
export function composeApi(
  env: ApiEnv,
  ports: { store: KeyValueStore; rootSigner: Signer; clock?: Clock; metrics?: Metrics },
): (event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult> {
  const { store, rootSigner } = ports;
  const clock = ports.clock ?? systemClock;
  const metrics = ports.metrics ?? new Metrics({ service: env.serviceName, namespace: env.metricsNamespace });
  const parts = wireGateway({
    store,
    rootSigner,
    clock,
    gatewayPrincipal: env.gatewayPrincipal,
    origin: env.checkpointOrigin,
    rootArn: env.rootKeyArn,
    events: metrics.gatewayEvents(),
    ...(env.startWindowMs !== undefined ? { startWindowMs: env.startWindowMs } : {}),
    ...(env.approvalWindowMs !== undefined ? { approvalWindowMs: env.approvalWindowMs } : {}),
    ...(env.approvalTtlMs !== undefined ? { approvalTtlMs: env.approvalTtlMs } : {}),
    keepRequests: parseRequestKeeping(env.keepRequests, env.keepRequestsDays),
  });
  const api = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer, clock }),
    adminPrincipalArns: env.adminPrincipalArns,
    approverPrincipalArns: env.approverPrincipalArns,
    log: logLine,
    logError: (traceId, error) =>
      logLine({ level: 'error', msg: 'internal error', trace_id: traceId, error: String(error) }),
  });
  const group = env.routeGroup;
  return async (event) => (servesRoute(group, event) ? api(event) : notServed(event));
}

async function init() {
  const env = readApiEnv(process.env);
  const client = { ...(env.region ? { region: env.region } : {}) };
  const store = new DynamoDbKeyValueStore({ client: new DynamoDBClient(client), tableName: env.tableName });
  const rootSigner = await KmsSigner.create(new KMSClient(client), env.rootKeyArn);
  return composeApi(env, { store, rootSigner });
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
