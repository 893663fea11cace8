import { randomUUID } from 'node:crypto';
import {
  ConflictError,
  ForbiddenError,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZtError,
} from '../core/errors/index.js';
import type { AuditReader, Gateway } from '../core/gateway/index.js';
import type { Caller, DecisionRecord } from '../core/model/index.js';
import {
  assertExactJsonText,
  normalizePrincipalArn,
  parseQueryInteger,
  ROUTE_TABLE,
  type RouteName,
} from '../core/model/index.js';
import type { ApiGatewayProxyEvent, ApiGatewayProxyResult } from './apigw.js';

/** Largest accepted request body. */
export const MAX_BODY_BYTES = 64 * 1024;

/** One structured line per request; never secrets, signatures or credentials. */
export interface RequestLogLine {
  level: 'info' | 'warn' | 'error';
  msg: 'request';
  time: string;
  trace_id: string;
  principal: string | null;
  method: string;
  route: string;
  status: number;
  decision?: 'allow' | 'deny' | 'approval_required';
  error_code?: string;
  latency_ms: number;
}

export interface ApiHandlerDeps {
  gateway: Gateway;
  /** The audit read routes: pages of each lane and the signed checkpoints (`new AuditReader(...)`). */
  audit: AuditReader;
  /** Principals allowed on admin routes (normalised role or user ARNs). */
  adminPrincipalArns: readonly string[];
  /** Principals that may approve or reject approvals (admins may too). */
  approverPrincipalArns?: readonly string[];
  log?: (line: RequestLogLine) => void;
  /** Called for 5xx errors with the detail that must not reach the client. */
  logError?: (traceId: string, error: unknown) => void;
}

interface Context {
  caller: Caller | null;
  /** The request's SigV4 signature, when it carries one (every signed route does). */
  signature: string | undefined;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: () => unknown;
}

interface Reply {
  status: number;
  /** A JSON value, or pre-serialised JSON text (records are passed through exactly as stored). */
  body?: unknown;
  raw?: string;
  decision?: 'allow' | 'deny' | 'approval_required';
  /** The `Allow` header of a 405. */
  allow?: string;
}

type RouteHandler = (ctx: Context) => Promise<Reply>;

interface Route {
  method: string;
  template: string;
  segments: string[];
  open: boolean;
  handler: RouteHandler;
}

/**
 * The HTTP edge for API Gateway REST proxy events: routing, body limits, JSON parsing, caller
 * resolution, status mapping and the request log. Both the Lambda entry and the local emulator call it.
 */
export function createApiHandler(
  deps: ApiHandlerDeps,
): (event: ApiGatewayProxyEvent) => Promise<ApiGatewayProxyResult> {
  const g = deps.gateway;
  const admins = new Set(deps.adminPrincipalArns.map(normalizePrincipalArn));
  const approvers = new Set((deps.approverPrincipalArns ?? []).map(normalizePrincipalArn));
  const caller = (ctx: Context) => ctx.caller as Caller;
  const seqQuery = (ctx: Context, name: string) =>
    parseQueryInteger(ctx.query[name], name, { min: 0, max: Number.MAX_SAFE_INTEGER, default: 0 });

  // One handler per route of the table (core/model/routes.ts), by name: the type makes a route without a
  // handler, or a handler without a route, a compile error.
  const handlers: Record<RouteName, RouteHandler> = {
    health: async () => ({ status: 200, body: { ok: true } }),

    registerAgent: async (ctx) => {
      const { agent, credentials } = await g.registerAgent(caller(ctx), ctx.body());
      return { status: 201, body: credentials ? { ...agent, credentials } : agent };
    },
    listAgents: async (ctx) => ({ status: 200, body: { agents: await g.listAgents(caller(ctx)) } }),
    getAgent: async (ctx) => ({
      status: 200,
      body: await g.getAgent(caller(ctx), ctx.params['agentId'] as string),
    }),
    disableAgent: async (ctx) => ({
      status: 200,
      body: await g.disableAgent(caller(ctx), ctx.params['agentId'] as string),
    }),

    allowPolicy: async (ctx) => {
      const p = await g.allowPolicy(caller(ctx), ctx.body());
      return { status: 201, body: { policyId: p.policyId, cedar: p.cedar, sha256: p.sha256 } };
    },
    listPolicies: async (ctx) => ({
      status: 200,
      body: { policies: await g.listPolicies(caller(ctx)) },
    }),
    putPolicy: async (ctx) => {
      const p = await g.putPolicy(caller(ctx), ctx.params['policyId'] as string, ctx.body());
      return { status: 200, body: { policyId: p.policyId, sha256: p.sha256 } };
    },
    getPolicy: async (ctx) => ({
      status: 200,
      body: await g.getPolicy(caller(ctx), ctx.params['policyId'] as string),
    }),
    deletePolicy: async (ctx) => ({
      status: 200,
      body: await g.deletePolicy(caller(ctx), ctx.params['policyId'] as string),
    }),

    putSchema: async (ctx) => {
      const schema = await g.putSchema(caller(ctx), ctx.body());
      return { status: 200, body: schema };
    },
    getSchema: async (ctx) => ({ status: 200, body: await g.getSchema(caller(ctx)) }),

    decide: async (ctx) => {
      const origin = ctx.signature === undefined ? {} : { signature: ctx.signature };
      const { decision, record } = await g.decide(caller(ctx), ctx.body(), origin);
      const r = record as DecisionRecord;
      return {
        // A deny is a 403 that carries its signed record; so is `approval_required`, with its own code and
        // the approval id: no client that reads the status as "allowed or not" can run on it.
        status: decision === 'allow' ? 200 : 403,
        decision,
        body: {
          ok: decision === 'allow',
          actor: r.actor,
          action: r.action,
          resource: r.resource,
          decision,
          reason: r.reason,
          ...(decision === 'approval_required'
            ? {
                code: 'APPROVAL_REQUIRED',
                approval_id: r.id,
                approvals_required: r.approvals_required,
                approval_expires_at: r.approval_expires_at,
              }
            : {}),
          audit: record,
        },
      };
    },

    listApprovals: async (ctx) => {
      const limit = parseQueryInteger(ctx.query['limit'], 'limit', { min: 1, max: 100, default: 50 });
      const after = ctx.query['after'];
      const page = await g.listApprovals(caller(ctx), after === undefined ? { limit } : { after, limit });
      return { status: 200, body: page };
    },
    getApproval: async (ctx) => ({
      status: 200,
      body: await g.getApproval(caller(ctx), ctx.params['id'] as string),
    }),
    approve: async (ctx) => ({
      status: 200,
      body: {
        ok: true,
        audit: await g.voteApproval(caller(ctx), ctx.params['id'] as string, 'approve', ctx.body()),
      },
    }),
    reject: async (ctx) => ({
      status: 200,
      body: {
        ok: true,
        audit: await g.voteApproval(caller(ctx), ctx.params['id'] as string, 'reject', ctx.body()),
      },
    }),
    allowedActions: async (ctx) => ({
      status: 200,
      body: { ok: true, answer: await g.allowedActions(caller(ctx), ctx.body()) },
    }),
    whoami: async (ctx) => ({ status: 200, body: await g.whoami(caller(ctx)) }),
    reportOutcome: async (ctx) => {
      const record = await g.reportOutcome(caller(ctx), ctx.params['id'] as string, ctx.body());
      return { status: 200, body: { ok: true, audit: record } };
    },

    auditPage: async (ctx) => {
      const after = seqQuery(ctx, 'after');
      const limit = parseQueryInteger(ctx.query['limit'], 'limit', { min: 1, max: 1000, default: 100 });
      const requestsParam = ctx.query['requests'];
      if (requestsParam !== undefined && requestsParam !== 'true') {
        throw new ValidationError(
          `query parameter \`requests\` must be \`true\` when given, got \`${requestsParam.slice(0, 40)}\``,
          { field: 'requests' },
        );
      }
      const requests = requestsParam === 'true';
      const page = await deps.audit.page(caller(ctx), { lane: ctx.query['lane'], after, limit, requests });
      // Records go out byte for byte as stored (canonical key order).
      const kept = requests ? `,"requests":[${(page.requests ?? []).join(',')}]` : '';
      return {
        status: 200,
        raw: `{"records":[${page.records.join(',')}],"next":${page.next ?? 'null'}${kept}}`,
      };
    },
    checkpoint: async (ctx) => ({
      status: 200,
      body: await deps.audit.checkpoint(caller(ctx)),
    }),
    checkpoints: async (ctx) => {
      const after = seqQuery(ctx, 'after');
      const checkpoints = await deps.audit.checkpoints(caller(ctx), { lane: ctx.query['lane'], after });
      return { status: 200, body: { checkpoints } };
    },
    keys: async () => ({ status: 200, body: { keys: await g.publicKeys() } }),
  };
  // INVARIANT: only a `public` route of the table is answered without a verified IAM identity.
  const routes: Route[] = ROUTE_TABLE.map((r) => ({
    method: r.method,
    template: r.path,
    segments: r.path.split('/').filter(Boolean),
    open: r.role === 'public',
    handler: handlers[r.handler],
  }));

  return async (event) => {
    const started = performance.now();
    const traceId = event.requestContext?.requestId || randomUUID();
    const method = (event.httpMethod || '').toUpperCase();
    let routeName = 'unmatched';
    let principal: string | null = null;
    let reply: Reply;
    let errorCode: string | undefined;
    try {
      const segments = splitPath(event.path || '/');
      if (segments === null) throw new NotFoundError(`no route \`${event.path}\``);
      const candidates = routes
        .map((route) => ({ route, params: matchSegments(route.segments, segments) }))
        .filter((m): m is { route: Route; params: Record<string, string> } => m.params !== null);
      if (candidates.length === 0) throw new NotFoundError(`no route \`${event.path}\``);
      const matched = candidates.find((c) => c.route.method === method);
      if (!matched) {
        const allowed = [...new Set(candidates.map((c) => c.route.method))].join(', ');
        throw new ZtError(
          'METHOD_NOT_ALLOWED',
          `method \`${method}\` is not allowed here; allowed: ${allowed}`,
          {
            allow: allowed,
          },
        );
      }
      routeName = `${matched.route.method} ${matched.route.template}`;
      let resolved: Caller | null = null;
      if (!matched.route.open) {
        const userArn = event.requestContext?.identity?.userArn;
        if (!userArn) throw new ForbiddenError('the request carries no verified IAM identity');
        const principalArn = normalizePrincipalArn(userArn);
        principal = principalArn;
        resolved = {
          principalArn,
          isAdmin: admins.has(principalArn),
          isApprover: approvers.has(principalArn),
        };
        refuseRepeatedQueryKeys(event);
      }
      const ctx: Context = {
        caller: resolved,
        signature: resolved ? requestSignature(event) : undefined,
        params: matched.params,
        query: event.queryStringParameters ?? {},
        body: () => parseBody(event),
      };
      reply = await matched.route.handler(ctx);
    } catch (error) {
      const mapped = mapError(error, traceId);
      if (mapped.status >= 500) deps.logError?.(traceId, error);
      errorCode = (mapped.body as { error: { code: string } }).error.code;
      reply = mapped;
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-zt-trace-id': traceId,
      'cache-control': 'no-store',
    };
    if (reply.allow) headers['allow'] = reply.allow;
    const line: RequestLogLine = {
      level: reply.status >= 500 ? 'error' : reply.status >= 400 && !reply.decision ? 'warn' : 'info',
      msg: 'request',
      time: new Date().toISOString(),
      trace_id: traceId,
      principal,
      method,
      route: routeName,
      status: reply.status,
      latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
    };
    if (reply.decision) line.decision = reply.decision;
    if (errorCode) line.error_code = errorCode;
    deps.log?.(line);
    return { statusCode: reply.status, headers, body: reply.raw ?? JSON.stringify(reply.body) };
  };
}

/**
 * The path's segments, decoded. Empty, `.` and `..` segments (raw or percent-encoded) match no route:
 * SigV4 signs the normalised path, so routing on anything else would let a signature made for one
 * path reach another.
 */
function splitPath(path: string): string[] | null {
  const raw = path.split('/').slice(1);
  const segments: string[] = [];
  for (const s of raw) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return null;
    }
    if (decoded === '' || decoded === '.' || decoded === '..') return path === '/' ? [] : null;
    segments.push(decoded);
  }
  return segments;
}

/**
 * A query key given twice on a signed route is a 400: the signature covers every value while the route
 * would read only one (API Gateway's `queryStringParameters` keeps the last), so which one counts must
 * not be left to chance. Keys are compared decoded, as the route reads them.
 */
function refuseRepeatedQueryKeys(event: ApiGatewayProxyEvent): void {
  for (const [key, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    if (values !== undefined && values.length > 1) {
      throw new ValidationError(
        `query parameter \`${key}\` is given ${values.length} times: expected it at most once`,
        { field: key },
        'DUPLICATE_QUERY_PARAMETER',
      );
    }
  }
}

/**
 * The SigV4 signature the request was authenticated with: from the `Authorization` header, which API
 * Gateway passes to the function after verifying it (and the emulator after its own check), or from
 * `X-Amz-Signature` for a presigned URL. `undefined` when there is none to read.
 */
function requestSignature(event: ApiGatewayProxyEvent): string | undefined {
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (name.toLowerCase() !== 'authorization' || typeof value !== 'string') continue;
    const match = /(?:^|[\s,])Signature=([0-9a-f]{64})\s*(?:,|$)/.exec(value);
    if (match) return match[1];
  }
  const presigned = event.queryStringParameters?.['X-Amz-Signature'];
  return presigned !== undefined && /^[0-9a-f]{64}$/.test(presigned) ? presigned : undefined;
}

function matchSegments(template: string[], actual: string[]): Record<string, string> | null {
  if (template.length !== actual.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < template.length; i++) {
    const t = template[i] as string;
    const a = actual[i] as string;
    if (t.startsWith('{')) params[t.slice(1, -1)] = a;
    else if (t !== a) return null;
  }
  return params;
}

function parseBody(event: ApiGatewayProxyEvent): unknown {
  const raw = event.body ?? '';
  const bytes = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes.length > MAX_BODY_BYTES) {
    throw new ZtError(
      'PAYLOAD_TOO_LARGE',
      `request body is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES}`,
    );
  }
  if (bytes.length === 0)
    throw new ValidationError(
      'request body is empty; a JSON object is expected',
      undefined,
      'MALFORMED_JSON',
    );
  let text: string;
  try {
    // Strict: a lenient decode would turn invalid bytes into U+FFFD, so two bodies would hash alike.
    text = UTF8.decode(bytes);
  } catch {
    throw new ValidationError(
      'request body is not valid utf-8: expected utf-8 encoded JSON',
      undefined,
      'MALFORMED_JSON',
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(
      `request body is not valid JSON: ${(error as Error).message.toLowerCase()}`,
      undefined,
      'MALFORMED_JSON',
    );
  }
  // INVARIANT: a body is recorded exactly as sent or refused with a 400; JSON.parse alone rounds numbers,
  // keeps the last of repeated keys and has no nesting bound.
  assertExactJsonText(text);
  return value;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const STATUS_BY_CODE: Record<string, number> = {
  PAYLOAD_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
};

function mapError(error: unknown, traceId: string): Reply {
  if (error instanceof ZtError && !(error instanceof InfrastructureError)) {
    const status =
      STATUS_BY_CODE[error.code] ??
      (error instanceof ValidationError
        ? 400
        : error instanceof ForbiddenError
          ? 403
          : error instanceof NotFoundError
            ? 404
            : error instanceof ConflictError
              ? 409
              : 500);
    if (status < 500) {
      const body: { ok: false; error: Record<string, unknown> } = {
        ok: false,
        error: { code: error.code, message: error.message },
      };
      if (error.code === 'METHOD_NOT_ALLOWED') {
        // The allowed methods go in the `Allow` header (RFC 9110), not in the body.
        return { status, body, allow: String(error.details?.['allow'] ?? '') };
      }
      if (error.details) body.error['details'] = error.details;
      return { status, body };
    }
  }
  // INVARIANT: 5xx bodies say nothing about internals; the trace id finds the detail in the logs.
  const unavailable = error instanceof ZtError;
  return {
    status: unavailable ? 503 : 500,
    body: {
      ok: false,
      error: {
        code: unavailable ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR',
        message: 'the gateway could not complete the request; nothing was allowed',
        trace_id: traceId,
      },
    },
  };
}
