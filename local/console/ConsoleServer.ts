import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConflictError,
  ForbiddenError,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZtError,
} from '../../core/errors/index.js';
import type { Gateway } from '../../core/gateway/index.js';
import type { Checkpointer } from '../../core/log/index.js';
import type { Caller } from '../../core/model/index.js';
import type { Clock, KeyValueStore } from '../../core/ports/index.js';
import { ConsoleData } from './ConsoleData.js';
import {
  type ConsoleRefusal,
  checkOrigin,
  checkWriteRequest,
  consoleCookieName,
  newConsoleToken,
  presentedToken,
  tokenMatches,
} from './consoleAuth.js';
import { LogVerification } from './LogVerification.js';

/** The address the console binds: loopback only, whatever address the API is served on. */
export const CONSOLE_HOST = '127.0.0.1';

/**
 * The static files, by URL path: a fixed list, so no path a request names ever reaches the file system
 * (`/../x`, `/%2e%2e/x` and every other name are simply not in it).
 */
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console.css': { file: 'console.css', type: 'text/css; charset=utf-8' },
  '/console.js': { file: 'console.js', type: 'text/javascript; charset=utf-8' },
};

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The folder of the page's files: `static/` beside this module when run from source, else the nearest
 * ancestor's `local/console/static/` (from `dist/local/console/`, the package's own copy: tsc copies no HTML,
 * CSS or browser JS; from a bundle, the checkout it was built in). Null when none is found.
 */
export function consoleStaticDir(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  const beside = join(dir, 'static');
  if (existsSync(join(beside, 'index.html'))) return beside;
  for (let up = 0; up < 8; up++) {
    const candidate = join(dir, 'local', 'console', 'static');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

export interface ConsoleOptions {
  store: KeyValueStore;
  gateway: Gateway;
  checkpointer: Checkpointer;
  /** The local admin, as whom the configuration is read. */
  reader: Caller;
  rootPublicKeys: () => Promise<string[]>;
  clock: Clock;
  /** Default 8788; 0 picks a free port. The host is always 127.0.0.1. */
  port?: number;
  /** The token to require; default a new random one (tests pass their own). */
  token?: string;
  /** Least time between two background verification runs (default 10 s; see `LogVerification`). */
  verifyMinIntervalMs?: number;
  /** Bound of the background verification (records; default 100 000). */
  verifyMaxRecords?: number;
  /**
   * The approver as whom the inbox approves and rejects (`zt-local --console-approver NAME`): one of the
   * emulator's approvers. Without it the inbox only lists.
   */
  approver?: ConsoleApprover | null;
}

/** The one approver identity the console acts as. */
export interface ConsoleApprover {
  /** The name given to `ZT_APPROVERS`. */
  name: string;
  /** Its profile, `zt-approver-<name>`. */
  profile: string;
  /** Its principal: the approval records' `principal_arn`. */
  principalArn: string;
}

/** A running console. */
export interface ConsoleHandle {
  /** `http://127.0.0.1:PORT/` */
  url: string;
  /** The URL to open: `url` with `?token=`. */
  loginUrl: string;
  token: string;
  port: number;
  /** The address the server is bound to (always `127.0.0.1`). */
  address: string;
  close(): Promise<void>;
}

const MAX_LIMIT = 500;

function integer(value: string | null, fallback: number, max: number): number | null {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,16}$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) && n <= max ? n : null;
}

/** `/api/approvals/{id}/approve|reject`: the console's only write routes. */
const VOTE_PATH = /^\/api\/approvals\/([A-Za-z0-9_-]{1,128})\/(approve|reject)$/;
/** A verdict's body is `{params_sha256}`: a few dozen bytes; anything far larger is refused unread. */
const MAX_VOTE_BODY = 4096;

/** The HTTP status of a refusal the gateway's approval service gives (its error classes, as the API maps them). */
function statusOf(error: ZtError): number {
  if (error instanceof ValidationError) return 400;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  return 503;
}

/**
 * Serves the console on 127.0.0.1: the page's three static files and a JSON read API, every one behind the
 * startup token (constant-time compared) and the Host/Origin checks of `checkOrigin`. Its GET routes call
 * only reads (see `ConsoleData`, `LogVerification`); its one write is the approvals inbox's approve/reject
 * (`POST /api/approvals/{id}/approve|reject`), made through the gateway's approval service as the
 * `approver` given at startup, and only when one was.
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleHandle> {
  const token = options.token ?? newConsoleToken();
  const dir = consoleStaticDir();
  if (dir === null) {
    throw new ZtError(
      'CONSOLE_FILES_MISSING',
      'the console page files (`local/console/static/`) are not in this installation; start with `--no-console`',
    );
  }
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(STATIC_FILES)) {
    files.set(path, { body: await readFile(join(dir, file)), type });
  }
  const data = new ConsoleData(options);
  const verification = new LogVerification({
    store: options.store,
    checkpointer: options.checkpointer,
    rootPublicKeys: options.rootPublicKeys,
    clock: options.clock,
    ...(options.verifyMaxRecords !== undefined ? { maxRecords: options.verifyMaxRecords } : {}),
    ...(options.verifyMinIntervalMs !== undefined ? { minIntervalMs: options.verifyMinIntervalMs } : {}),
  });
  let port = 0;
  let cookieName = '';

  const send = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
    res
      .writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', ...extra })
      .end(JSON.stringify(body));
  };
  const refuse = (res: ServerResponse, r: ConsoleRefusal) =>
    send(
      res,
      r.status,
      { ok: false, error: { code: r.code, message: r.message } },
      r.status === 401 ? { 'www-authenticate': 'Bearer realm="zt-console"' } : {},
    );

  /** The JSON read routes. */
  const api: Record<string, (q: URLSearchParams) => Promise<{ status: number; body: unknown }>> = {
    '/api/timeline': async (q) => {
      const after = integer(q.get('after'), 0, Number.MAX_SAFE_INTEGER);
      const limit = integer(q.get('limit'), 100, MAX_LIMIT);
      if (after === null || limit === null || limit < 1) {
        return bad(`\`after\` must be a non-negative integer and \`limit\` 1-${MAX_LIMIT}`);
      }
      const lane = q.get('lane') ?? undefined;
      if (lane !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(lane)) {
        return bad(`\`lane\` must be a lane name, got \`${lane}\``);
      }
      const actor = q.get('actor') ?? undefined;
      const action = q.get('action') ?? undefined;
      return {
        status: 200,
        body: await data.timeline({
          after,
          limit,
          ...(lane !== undefined ? { lane } : {}),
          ...(actor !== undefined ? { actor } : {}),
          ...(action !== undefined ? { action } : {}),
        }),
      };
    },
    '/api/tallies': async () => ({ status: 200, body: await data.tallies() }),
    '/api/approvals': async () => ({
      status: 200,
      body: {
        approver: approver
          ? { name: approver.name, profile: approver.profile, principal_arn: approver.principalArn }
          : null,
        ...(await data.approvals()),
      },
    }),
    '/api/policies': async () => ({ status: 200, body: await data.policies() }),
    '/api/log': async () => {
      // Verified in the background while the page looks: this answer shows the newest finished run.
      void verification.refresh();
      return { status: 200, body: { ...(await data.checkpoints()), verification: verification.view } };
    },
  };

  const approver = options.approver ?? null;
  const approverCaller: Caller | null = approver
    ? { principalArn: approver.principalArn, isAdmin: false, isApprover: true }
    : null;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const refusal = checkOrigin(req.headers, port);
    if (refusal) return refuse(res, refusal);
    const url = new URL(req.url ?? '/', `http://${CONSOLE_HOST}`);
    const vote = req.method === 'POST' ? VOTE_PATH.exec(url.pathname) : null;
    if (req.method !== 'GET' && req.method !== 'HEAD' && vote === null) {
      // INVARIANT: the console writes nothing but an approve/reject; every other path is GET (and HEAD) only.
      return refuse(res, {
        status: 405,
        code: 'METHOD_NOT_ALLOWED',
        message: `the console is read-only here: only GET is allowed, got \`${req.method}\``,
      });
    }
    const presented = presentedToken(req.headers, url.searchParams, cookieName);
    // INVARIANT: nothing of the console (page, script, data) is served without the token.
    if (presented === null) {
      return refuse(res, {
        status: 401,
        code: 'TOKEN_REQUIRED',
        message: 'the console needs its token: open the URL with `?token=` that zt-local printed at startup',
      });
    }
    if (!tokenMatches(token, presented.token)) {
      return refuse(res, {
        status: 401,
        code: 'TOKEN_INVALID',
        message: 'the console token is wrong: open the URL with `?token=` that zt-local printed at startup',
      });
    }
    if (vote !== null) return castVote(req, res, vote[1] as string, vote[2] as 'approve' | 'reject');
    if (presented.from === 'query') {
      // Keep the token in a cookie the browser sends only to this console, and drop it from the address bar.
      url.searchParams.delete('token');
      res
        .writeHead(303, {
          ...SECURITY_HEADERS,
          location: url.pathname + (url.search === '?' ? '' : url.search),
          'set-cookie': `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        })
        .end();
      return;
    }
    const file = files.get(url.pathname);
    if (file) {
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type }).end(file.body);
      return;
    }
    const route = api[url.pathname];
    if (!route) {
      return send(res, 404, {
        ok: false,
        error: { code: 'NOT_FOUND', message: `no console path \`${url.pathname}\`` },
      });
    }
    try {
      const { status, body } = await route(url.searchParams);
      send(res, status, body);
    } catch (error) {
      send(res, 500, {
        ok: false,
        error: { code: 'CONSOLE_READ_FAILED', message: 'the console could not read the store' },
      });
      process.stderr.write(`zt-local console: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
  };

  /** An approve/reject from the inbox: token already checked; same-origin page, approver, then the service. */
  const castVote = async (
    req: IncomingMessage,
    res: ServerResponse,
    approvalId: string,
    verdict: 'approve' | 'reject',
  ) => {
    // INVARIANT: a write comes from the console's own page: its Origin and a header no cross-site form sends.
    const refusal = checkWriteRequest(req.headers, port);
    if (refusal) return refuse(res, refusal);
    if (approverCaller === null) {
      return refuse(res, {
        status: 403,
        code: 'CONSOLE_NOT_APPROVING',
        message:
          'this console has no approver: start zt-local with `--console-approver NAME` (one of `ZT_APPROVERS`) to approve or reject here',
      });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_VOTE_BODY) {
        return send(
          res,
          413,
          {
            ok: false,
            error: { code: 'PAYLOAD_TOO_LARGE', message: `a verdict is at most ${MAX_VOTE_BODY} bytes` },
          },
          { connection: 'close' },
        );
      }
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 400, {
        ok: false,
        error: {
          code: 'MALFORMED_JSON',
          message: 'the verdict must be a JSON object `{"params_sha256": "..."}`',
        },
      });
    }
    try {
      // The gateway's own use case, as the approver's principal: the record is bound to it, and the service
      // refuses the requesting agent, a second approve by the same approver, a wrong digest and the rest.
      const record = await options.gateway.voteApproval(approverCaller, approvalId, verdict, body);
      send(res, 200, {
        ok: true,
        record: {
          id: record.id,
          seq: record.seq,
          verdict: record.verdict,
          principal_arn: record.principal_arn,
          expires_at: record.expires_at,
        },
      });
    } catch (error) {
      if (error instanceof ZtError && !(error instanceof InfrastructureError)) {
        return send(res, statusOf(error), { ok: false, error: { code: error.code, message: error.message } });
      }
      send(res, 503, {
        ok: false,
        error: {
          code: 'CONSOLE_WRITE_FAILED',
          message: 'the console could not record the verdict; see the output of zt-local',
        },
      });
      process.stderr.write(`zt-local console: ${error instanceof Error ? error.stack : String(error)}\n`);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  // INVARIANT: the console listens on 127.0.0.1 only, never on the API's --host.
  server.listen(options.port ?? 8788, CONSOLE_HOST);
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok);
    server.once('error', fail);
  });
  port = (server.address() as AddressInfo).port;
  cookieName = consoleCookieName(port);
  server.keepAliveTimeout = 5000;
  const base = `http://${CONSOLE_HOST}:${port}/`;
  return {
    url: base,
    loginUrl: `${base}?token=${token}`,
    token,
    port,
    address: (server.address() as AddressInfo).address,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      // A run in progress reads the store: let it end before the store closes.
      await verification.idle();
    },
  };
}

function bad(message: string): { status: number; body: unknown } {
  return { status: 400, body: { ok: false, error: { code: 'VALIDATION_FAILED', message } } };
}
