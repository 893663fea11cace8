import { createHash } from 'node:crypto';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ValidationError,
  ZtError,
} from '../../core/errors/errors.js';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock, KeyValueStore } from '../../core/ports/ports.js';
import { systemClock } from '../../core/ports/ports.js';
import type { ApiGatewayProxyEvent } from '../../lambdas/apigw.js';
import { createApiHandler, type RequestLogLine } from '../../lambdas/http.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';
import type { Emulator } from '../../local/emulator.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';
import { AGENTS, ALLOW, BOUND_AGENT, DECLARATIONS, POLICIES, type Who } from './corpus.js';

export interface Answer {
  status: number;
  body: unknown;
}

export interface Request {
  as: Who;
  method: string;
  path: string;
  body?: unknown;
  rawBody?: string;
}

/** A runtime the corpus is replayed against. */
export interface Target {
  readonly name: string;
  readonly http: boolean;
  rootPem: string;
  call(request: Request): Promise<Answer>;
  /** Every record in the chain, as stored. */
  records(): Promise<string[]>;
  close(): Promise<void>;
}

const ACCOUNT = '111122223333';
export const arnOf = (who: Who) => `arn:aws:iam::${ACCOUNT}:role/${who}`;

/**
 * Registers the corpus agents and the role-bound `dave`, disables carol, writes the policies and the
 * allow shorthand.
 */
export async function seed(target: Target): Promise<void> {
  const ok = async (request: Request, status: number) => {
    const answer = await target.call(request);
    if (answer.status !== status) {
      throw new Error(
        `seed ${request.method} ${request.path}: ${answer.status} ${JSON.stringify(answer.body)}`,
      );
    }
  };
  for (const agent of AGENTS) {
    const body =
      target.http && target.name === 'emulator'
        ? agent
        : { ...agent, principalArn: arnOf(agent.agentId as Who) };
    await ok({ as: 'admin', method: 'POST', path: '/agents', body }, 201);
  }
  await ok({ as: 'admin', method: 'POST', path: '/agents', body: BOUND_AGENT }, 201);
  await ok({ as: 'admin', method: 'DELETE', path: '/agents/carol' }, 200);
  await ok({ as: 'admin', method: 'PUT', path: '/schema', body: { declarations: DECLARATIONS } }, 200);
  for (const p of POLICIES)
    await ok({ as: 'admin', method: 'PUT', path: `/policies/${p.policyId}`, body: { cedar: p.cedar } }, 200);
  await ok({ as: 'admin', method: 'POST', path: '/policies/allow', body: ALLOW }, 201);
}

function statusOf(error: unknown): number {
  if (error instanceof ValidationError) return 400;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  return 500;
}

/** The core use cases called directly, no HTTP and no events. */
export function coreTarget(
  options: { store?: KeyValueStore; clock?: Clock } = {},
): Target & { parts: GatewayParts } {
  const root = InMemoryP256Signer.generate();
  const parts = wireGateway({
    store: options.store ?? new InMemoryKeyValueStore(),
    rootSigner: root,
    clock: options.clock ?? systemClock,
    gatewayPrincipal: 'arn:aws:iam::111122223333:role/zt-gateway',
  });
  const g = parts.gateway;
  const callerOf = (who: Who): Caller => ({ principalArn: arnOf(who), isAdmin: who === 'admin' });
  return {
    name: 'core',
    http: false,
    rootPem: root.publicKeyPem,
    parts,
    async call({ as, method, path, body }) {
      const caller = callerOf(as);
      const seg = path.split('/').filter(Boolean);
      try {
        if (method === 'POST' && path === '/actions') {
          const { decision, record } = await g.decide(caller, body);
          return {
            status: decision === 'allow' ? 200 : 403,
            body: { decision, audit: record, ...pick(record) },
          };
        }
        if (method === 'POST' && path === '/agents')
          return { status: 201, body: await g.registerAgent(caller, body) };
        if (method === 'DELETE' && seg[0] === 'agents')
          return { status: 200, body: await g.disableAgent(caller, seg[1] as string) };
        if (method === 'POST' && path === '/policies/allow')
          return { status: 201, body: await g.allowPolicy(caller, body) };
        if (method === 'PUT' && seg[0] === 'policies')
          return { status: 200, body: await g.putPolicy(caller, seg[1] as string, body) };
        if (method === 'PUT' && path === '/schema')
          return { status: 200, body: await g.putSchema(caller, body) };
        if (method === 'DELETE' && seg[0] === 'policies')
          return { status: 200, body: await g.deletePolicy(caller, seg[1] as string) };
        if (method === 'GET' && path === '/audit')
          return { status: 200, body: await g.auditPage(caller, 0, 1000) };
        if (method === 'GET' && path === '/whoami') return { status: 200, body: await g.whoami(caller) };
        if (method === 'POST' && seg[0] === 'actions' && seg[2] === 'outcome') {
          return {
            status: 200,
            body: { ok: true, audit: await g.reportOutcome(caller, seg[1] as string, body) },
          };
        }
        throw new Error(`core target has no route for ${method} ${path}`);
      } catch (error) {
        if (!(error instanceof ZtError)) throw error;
        return {
          status: statusOf(error),
          body: {
            ok: false,
            error: {
              code: error.code,
              message: error.message,
              ...(error.details ? { details: error.details } : {}),
            },
          },
        };
      }
    },
    records: () => parts.writer.page(0, 100_000),
    close: async () => undefined,
  };
}

function pick(record: unknown): Record<string, unknown> {
  const r = record as Record<string, unknown>;
  return { actor: r['actor'], action: r['action'], resource: r['resource'], reason: r['reason'] };
}

/**
 * The Lambda router over a fresh in-memory store and key, with `admin` as its admin, and every request log
 * line it writes: for tests that send it events themselves.
 */
export function inMemoryRouter(): { handler: ReturnType<typeof createApiHandler>; lines: RequestLogLine[] } {
  const store = new InMemoryKeyValueStore();
  const parts = wireGateway({
    store,
    rootSigner: InMemoryP256Signer.generate(),
    clock: systemClock,
    gatewayPrincipal: 'gw',
  });
  const lines: RequestLogLine[] = [];
  const handler = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
    adminPrincipalArns: [arnOf('admin')],
    log: (line) => lines.push(line),
  });
  return { handler, lines };
}

/** The Lambda handler fed API Gateway REST proxy events shaped like real ones (assumed-role sessions). */
export function handlerTarget(): Target & { parts: GatewayParts } {
  const root = InMemoryP256Signer.generate();
  const store = new InMemoryKeyValueStore();
  const parts = wireGateway({
    store,
    rootSigner: root,
    clock: systemClock,
    gatewayPrincipal: 'arn:aws:iam::111122223333:role/zt-gateway',
  });
  const handler = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer }),
    adminPrincipalArns: [arnOf('admin')],
  });
  let n = 0;
  return {
    name: 'handler',
    http: true,
    rootPem: root.publicKeyPem,
    parts,
    async call({ as, method, path, body, rawBody }) {
      const [p, q] = path.split('?');
      const text = rawBody ?? (body === undefined ? null : JSON.stringify(body));
      const event = apiGatewayEvent(method, p as string, q, text, as, `req-${++n}`);
      const result = await handler(event);
      return { status: result.statusCode, body: JSON.parse(result.body) };
    },
    records: () => parts.writer.page(0, 100_000),
    close: async () => undefined,
  };
}

/**
 * An API Gateway REST proxy event as IAM auth delivers it for an assumed-role session: headers as the
 * client spelled them (the verified `Authorization` among them), the last value of a repeated query key
 * in `queryStringParameters` and all of them in `multiValueQueryStringParameters`. The signature is made
 * up (API Gateway has verified it); one per request id unless given, as a replay would repeat it.
 */
export function apiGatewayEvent(
  method: string,
  path: string,
  query: string | undefined,
  body: string | null,
  who: Who,
  requestId: string,
  signature = createHash('sha256').update(requestId).digest('hex'),
): ApiGatewayProxyEvent {
  const entries = query ? [...new URLSearchParams(query)] : [];
  const params = entries.length > 0 ? Object.fromEntries(entries) : null;
  const multi: Record<string, string[]> = Object.create(null);
  for (const [key, value] of entries) multi[key] = [...(multi[key] ?? []), value];
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: method,
    headers: {
      'Content-Type': 'application/json',
      Host: 'abc123.execute-api.us-east-1.amazonaws.com',
      'X-Amz-Date': '20250304T050607Z',
      Authorization:
        'AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE/20250304/us-east-1/execute-api/aws4_request, ' +
        `SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=${signature}`,
    },
    multiValueHeaders: null,
    queryStringParameters: params,
    multiValueQueryStringParameters: params ? multi : null,
    pathParameters: { proxy: path.slice(1) },
    stageVariables: null,
    requestContext: {
      requestId,
      stage: 'prod',
      httpMethod: method,
      path: `/prod${path}`,
      resourcePath: '/{proxy+}',
      accountId: ACCOUNT,
      apiId: 'abc123',
      requestTimeEpoch: Date.now(),
      identity: {
        userArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${who}/session-${requestId}`,
        accountId: ACCOUNT,
        caller: `AROAEXAMPLE${who.toUpperCase()}:session-${requestId}`,
        accessKey: 'ASIAEXAMPLEEXAMPLE',
        sourceIp: '203.0.113.10',
        userAgent: 'zt-test',
      },
    },
    body,
    isBase64Encoded: false,
  };
}

/** The emulator over real HTTP with real SigV4 signatures. */
export async function emulatorTarget(): Promise<
  Target & { emulator: Emulator; creds: Map<Who, AwsCredentials> }
> {
  const emulator = await startTestEmulator();
  const creds = new Map<Who, AwsCredentials>();
  creds.set('admin', emulator.adminCredentials);
  const mallory = await emulator.credentials.issue('mallory');
  creds.set('mallory', { accessKeyId: mallory.accessKeyId, secretAccessKey: mallory.secretAccessKey });
  const target = {
    name: 'emulator',
    http: true,
    rootPem: emulator.parts.keys.root.publicKeyPem,
    emulator,
    creds,
    async call({ as, method, path, body, rawBody }: Request): Promise<Answer> {
      const credentials = creds.get(as);
      if (!credentials) throw new Error(`no credentials for ${as}`);
      const answer = await send(emulator.url, method, path, {
        credentials,
        ...(rawBody !== undefined ? { rawBody } : body !== undefined ? { body } : {}),
      });
      if (method === 'POST' && path === '/agents' && answer.status === 201) {
        const b = answer.body as { agentId: Who; credentials?: AwsCredentials };
        if (b.credentials) creds.set(b.agentId, b.credentials);
      }
      return { status: answer.status, body: answer.body };
    },
    records: () => emulator.parts.writer.page(0, 100_000),
    close: () => emulator.close(),
  };
  return target;
}
