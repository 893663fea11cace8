import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import express, { type Request, type Response } from 'express';
import { ZtError } from '../core/errors/index.js';
import type { RequestKeeping } from '../core/gateway/index.js';
import { AuditReader } from '../core/gateway/index.js';
import { checkpointOrigin } from '../core/log/index.js';
import { isPublicRoute } from '../core/model/index.js';
import {
  type Clock,
  emitEvent,
  type GatewayEvents,
  type KeyValueStore,
  systemClock,
} from '../core/ports/index.js';
import type { ApiGatewayProxyEvent } from '../lambdas/apigw.js';
import { createApiHandler, MAX_BODY_BYTES, type RequestLogLine } from '../lambdas/http.js';
import { type GatewayParts, wireGateway } from '../lambdas/wiring.js';
import { CheckpointScheduler } from './CheckpointScheduler.js';
import { type ConsoleHandle, startConsole } from './console/ConsoleServer.js';
import { DATA_DIR_FILES, openDataDir } from './dataDir.js';
import {
  ADMIN_PROFILE,
  LOCAL_ACCOUNT_ID,
  LocalCredentialStore,
  type LocalIdentity,
} from './LocalCredentialStore.js';
import { loadOrCreateLogId, newLogId } from './logIdentity.js';
import { verifySigV4 } from './SigV4Verifier.js';

export interface EmulatorOptions {
  /** Data dir for the store, the root key and the credentials file. Default `.zt` under the cwd. */
  dataDir?: string;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8787; 0 picks a free port. */
  port?: number;
  /**
   * Other names clients reach this server by (a proxy's or a DNS name), exactly as they send them in
   * `Host` (`name` or `name:port`). A signed request for any host but these and the bound address is 403.
   */
  publicHosts?: readonly string[];
  region?: string;
  /**
   * Listens on the gateway's events port (decisions, appended records, failed appends, lost lane races),
   * beside the emulator's own checkpoint scheduler.
   */
  events?: GatewayEvents;
  /** Start from an empty data dir. */
  reset?: boolean;
  /** Keep the store in memory instead of on disk (tests): no store file, no data dir lock. */
  inMemory?: boolean;
  clock?: Clock;
  /** Request log sink; default one JSON line per request on stdout. `null` silences it. */
  log?: ((line: RequestLogLine | Record<string, unknown>) => void) | null;
  /** Wraps the store, e.g. to inject faults in tests. */
  wrapStore?: (store: KeyValueStore) => KeyValueStore;
  /** Checkpoint every N records / T ms (heartbeat when idle). `false` turns automatic checkpoints off. */
  checkpoints?: { everyRecords?: number; everyMs?: number } | false;
  sessionTtlMs?: number;
  /** How long an allow may wait for its `started` outcome (default 60 000 ms). */
  startWindowMs?: number;
  /**
   * Local approvers: each name gets the profile `zt-approver-<name>` in the credentials file, whose principal
   * may list, approve and reject approvals (the admin may too). Default none.
   */
  approvers?: readonly string[];
  /** How long an `approval_required` request may wait for approvals and its claim (default 1 hour). */
  approvalWindowMs?: number;
  /** How long one approve counts (default 15 minutes). */
  approvalTtlMs?: number;
  /**
   * Keep decisions' request data for replay (`ZT_KEEP_REQUESTS`, `ZT_KEEP_REQUESTS_DAYS`; see
   * core/gateway/keptRequests.ts). Default: keep nothing.
   */
  keepRequests?: RequestKeeping | null;
  /**
   * Serve the read-only console on 127.0.0.1 (`local/console/`): `port` (default 8788, 0 picks one), `token`
   * (default a new random one). Off unless given; `zt-local` turns it on unless `--no-console`. `approver`:
   * the name (one of `approvers`) as whom its approvals inbox approves and rejects; without it the inbox
   * only lists (`zt-local --console-approver NAME`).
   */
  console?:
    | {
        port?: number;
        token?: string;
        verifyMinIntervalMs?: number;
        verifyMaxRecords?: number;
        approver?: string;
      }
    | false;
}

export interface Emulator {
  url: string;
  region: string;
  dataDir: string;
  credentialsFile: string;
  adminProfile: string;
  admin: LocalIdentity;
  /** The approvers' identities, by name, in the order given. */
  approvers: LocalIdentity[];
  credentials: LocalCredentialStore;
  parts: GatewayParts;
  /** The console, when asked for: its URL and the token it requires. */
  console: ConsoleHandle | null;
  close(): Promise<void>;
}

/**
 * Starts the local control plane: the same handlers as the cloud, behind a SigV4 verifier that
 * emulates API Gateway's IAM authorization, over the embedded SQLite store and a local root key, both in
 * the data dir (see `openDataDir` for what is refused there).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const consoleApprover = options.console ? options.console.approver : undefined;
  // Refused before anything opens: the console acts as one of the emulator's approvers, or as none.
  if (consoleApprover !== undefined && !(options.approvers ?? []).includes(consoleApprover)) {
    const known = (options.approvers ?? []).map((n) => `\`${n}\``).join(', ');
    throw new ZtError(
      'CONSOLE_APPROVER_UNKNOWN',
      `the console approver must be one of the emulator's approvers (ZT_APPROVERS: ${known || 'none'}), got \`${consoleApprover}\``,
    );
  }
  const region = options.region ?? 'us-east-1';
  const dataDir = resolve(options.dataDir ?? '.zt');
  const clock = options.clock ?? systemClock;
  const log =
    options.log === null
      ? () => undefined
      : (options.log ?? ((line: object) => process.stdout.write(`${JSON.stringify(line)}\n`)));
  const data = await openDataDir({
    dir: dataDir,
    reset: !!options.reset,
    inMemory: !!options.inMemory,
    log,
    clock,
  });
  const credentialsFile = join(dataDir, 'aws-credentials');
  const credentials = await LocalCredentialStore.open(credentialsFile).catch(async (error: unknown) => {
    await data.close();
    throw error;
  });
  const approvers: LocalIdentity[] = [];
  try {
    for (const name of options.approvers ?? []) approvers.push(await credentials.approver(name));
  } catch (error) {
    await data.close();
    throw error;
  }
  const rootSigner = data.rootSigner;
  // The log's checkpoint origin comes from the data dir's own id (an in-memory log is a new log each run).
  const logId = options.inMemory ? newLogId() : await loadOrCreateLogId(join(dataDir, 'log-id'));
  const store = options.wrapStore ? options.wrapStore(data.store) : data.store;

  // The one events port: the checkpoint scheduler counts appended records; the caller's listener hears all.
  let scheduler: CheckpointScheduler | null = null;
  const listener = options.events;
  // Each event is passed on by name (a listener may be a class instance, whose methods a spread would
  // miss) and through emitEvent, so a listener that throws never reaches the gateway or the scheduler.
  const events: GatewayEvents = {
    decision: (record) => emitEvent(listener, 'decision', record),
    appendFailed: (error) => emitEvent(listener, 'appendFailed', error),
    appendConflict: () => emitEvent(listener, 'appendConflict'),
    appended: (record) => {
      scheduler?.notifyAppended(record);
      emitEvent(listener, 'appended', record);
    },
  };
  const parts = wireGateway({
    store,
    rootSigner,
    clock,
    events,
    gatewayPrincipal: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/zt-emulator`,
    // One process per data dir (its lock), so it holds `main` whatever an earlier run's lease says.
    lane: 'main',
    origin: checkpointOrigin(['local', logId], 'main'),
    issuer: credentials,
    ...(options.sessionTtlMs ? { sessionTtlMs: options.sessionTtlMs } : {}),
    ...(options.startWindowMs !== undefined ? { startWindowMs: options.startWindowMs } : {}),
    ...(options.approvalWindowMs !== undefined ? { approvalWindowMs: options.approvalWindowMs } : {}),
    ...(options.approvalTtlMs !== undefined ? { approvalTtlMs: options.approvalTtlMs } : {}),
    ...(options.keepRequests ? { keepRequests: options.keepRequests } : {}),
  });
  if (options.checkpoints !== false) {
    scheduler = new CheckpointScheduler(parts.checkpointer, {
      everyRecords: options.checkpoints?.everyRecords ?? 100,
      everyMs: options.checkpoints?.everyMs ?? 60_000,
      onError: (error: unknown) => log({ level: 'error', msg: 'checkpoint failed', error: String(error) }),
    });
  }
  const handler = createApiHandler({
    gateway: parts.gateway,
    audit: new AuditReader({ store, checkpoints: parts.checkpointer, clock }),
    adminPrincipalArns: [credentials.admin.principalArn],
    approverPrincipalArns: approvers.map((a) => a.principalArn),
    log,
    logError: (traceId, error) =>
      log({
        level: 'error',
        msg: 'internal error',
        trace_id: traceId,
        error: String((error as Error)?.stack ?? error),
      }),
  });

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(async (req: Request, res: Response) => {
    const started = performance.now();
    const traceId = randomUUID();
    const send = (status: number, body: unknown, code?: string) => {
      res
        .status(status)
        .set({ 'content-type': 'application/json', 'x-zt-trace-id': traceId })
        .send(JSON.stringify(body));
      log({
        level: 'warn',
        msg: 'request',
        time: new Date().toISOString(),
        trace_id: traceId,
        principal: null,
        method: req.method,
        route: 'unauthenticated',
        status,
        error_code: code,
        latency_ms: Math.round((performance.now() - started) * 1000) / 1000,
      });
    };
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === null) {
      send(
        413,
        {
          ok: false,
          error: { code: 'PAYLOAD_TOO_LARGE', message: `request body is over ${MAX_BODY_BYTES} bytes` },
        },
        'PAYLOAD_TOO_LARGE',
      );
      return;
    }
    const rawUrl = req.originalUrl;
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = q === -1 ? '' : rawUrl.slice(q + 1);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    let identity: LocalIdentity | null = null;
    // As API Gateway: only a public route of the table (core/model/routes.ts) skips the signature check.
    const open = isPublicRoute(req.method, path);
    if (!open) {
      const result = await verifySigV4(
        { method: req.method, path, query, headers: req.headersDistinct, body },
        { region, service: 'execute-api', now: clock.now(), lookup: credentials.lookup, allowedHosts },
      );
      if (!result.ok) {
        // As API Gateway: a failed SigV4 check is a 403 and the handler never runs (no record).
        send(403, { ok: false, error: { code: result.code, message: result.message } }, result.code);
        return;
      }
      identity = credentials.identityFor(result.accessKeyId);
    }
    const params = new URLSearchParams(query);
    // As API Gateway: the last value of a repeated key, and every value in the multi-value map. No
    // prototype, so a key named `__proto__` is an ordinary entry.
    const queryStringParameters: Record<string, string> = Object.create(null);
    const multiValueQueryStringParameters: Record<string, string[]> = Object.create(null);
    for (const [k, v] of params) {
      queryStringParameters[k] = v;
      multiValueQueryStringParameters[k] = [...(multiValueQueryStringParameters[k] ?? []), v];
    }
    const event: ApiGatewayProxyEvent = {
      resource: path,
      path,
      httpMethod: req.method,
      headers,
      queryStringParameters: params.size > 0 ? queryStringParameters : null,
      multiValueQueryStringParameters: params.size > 0 ? multiValueQueryStringParameters : null,
      pathParameters: null,
      requestContext: {
        requestId: traceId,
        stage: 'local',
        accountId: LOCAL_ACCOUNT_ID,
        requestTimeEpoch: clock.now().getTime(),
        identity: {
          userArn: identity?.principalArn ?? null,
          accountId: identity ? LOCAL_ACCOUNT_ID : null,
          caller: identity ? identity.profile : null,
          accessKey: identity?.accessKeyId ?? null,
          sourceIp: req.socket.remoteAddress ?? null,
          userAgent: headers['user-agent'] ?? null,
        },
      },
      body: body.length > 0 ? body.toString('base64') : null,
      isBase64Encoded: true,
    };
    const result = await handler(event);
    res
      .status(result.statusCode)
      .set(result.headers ?? {})
      .send(result.body);
  });

  // Known once the port is: until then no request can arrive.
  let allowedHosts: ReadonlySet<string> = new Set();
  const server = app.listen(options.port ?? 8787, options.host ?? '127.0.0.1');
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok);
    server.once('error', fail);
  }).catch(async (error: unknown) => {
    await data.close();
    throw error;
  });
  allowedHosts = servedHosts(server.address() as AddressInfo, options.publicHosts ?? []);
  server.keepAliveTimeout = 5000;
  let consoleHandle: ConsoleHandle | null = null;
  if (options.console) {
    const consolePort = options.console.port ?? 8788;
    const rootPublicKeysFile = join(dataDir, DATA_DIR_FILES.rootPublicKeys);
    consoleHandle = await startConsole({
      store,
      gateway: parts.gateway,
      checkpointer: parts.checkpointer,
      reader: { principalArn: credentials.admin.principalArn, isAdmin: true },
      rootPublicKeys: async () => {
        const text = await readFile(rootPublicKeysFile, 'utf8').catch(() => '');
        const pems = text.match(/-----BEGIN PUBLIC KEY-----[^-]+-----END PUBLIC KEY-----/g) ?? [];
        return pems.length > 0 ? pems.map((p) => `${p}\n`) : [rootSigner.publicKeyPem];
      },
      clock,
      port: consolePort,
      approver: (() => {
        const index = consoleApprover === undefined ? -1 : (options.approvers ?? []).indexOf(consoleApprover);
        const identity = approvers[index];
        return identity && consoleApprover !== undefined
          ? { name: consoleApprover, profile: identity.profile, principalArn: identity.principalArn }
          : null;
      })(),
      ...(options.console.token !== undefined ? { token: options.console.token } : {}),
      ...(options.console.verifyMinIntervalMs !== undefined
        ? { verifyMinIntervalMs: options.console.verifyMinIntervalMs }
        : {}),
      ...(options.console.verifyMaxRecords !== undefined
        ? { verifyMaxRecords: options.console.verifyMaxRecords }
        : {}),
    }).catch(async (error: unknown) => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await data.close();
      const code = (error as NodeJS.ErrnoException).code;
      throw code === 'EADDRINUSE'
        ? new ZtError(
            'CONSOLE_PORT_IN_USE',
            `console port ${consolePort} is in use; choose another with \`--console-port N\` or turn the console off with \`--no-console\``,
          )
        : error;
    });
  }
  scheduler?.start();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    region,
    dataDir,
    credentialsFile,
    adminProfile: ADMIN_PROFILE,
    admin: credentials.admin,
    approvers,
    credentials,
    parts,
    console: consoleHandle,
    close: async () => {
      await consoleHandle?.close();
      await scheduler?.stop();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await data.close();
    },
  };
}

/**
 * The `host` values signed requests may name: the bound address with its port (on a wildcard bind, the
 * loopback addresses too), `localhost` on loopback, and the configured public names.
 */
function servedHosts(address: AddressInfo, publicHosts: readonly string[]): Set<string> {
  const hosts = new Set<string>();
  const add = (name: string) => {
    hosts.add(`${name}:${address.port}`);
    if (address.port === 80) hosts.add(name); // clients leave the default port out of Host
  };
  const wildcard = address.address === '0.0.0.0' || address.address === '::';
  const loopback = wildcard || address.address.startsWith('127.') || address.address === '::1';
  add(address.family === 'IPv6' ? `[${address.address}]` : address.address); // as `url` names it
  if (wildcard) ['127.0.0.1', '[::1]'].forEach(add);
  if (loopback) add('localhost');
  for (const name of publicHosts) if (name.trim() !== '') hosts.add(name.trim().toLowerCase());
  return hosts;
}

/** Reads the whole body, or returns null as soon as it exceeds `limit` bytes. */
function readBody(req: Request, limit: number): Promise<Buffer | null> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      else chunks.push(chunk);
    });
    req.on('end', () => ok(over ? null : Buffer.concat(chunks)));
    req.on('error', fail);
  });
}
