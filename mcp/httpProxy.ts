import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpProxySession, type McpProxySessionOptions } from './McpProxySession.js';
import { McpProxyError } from './serverName.js';
import { type UpstreamSpec, upstreamTransport } from './upstream.js';

/** Options of {@link startHttpProxy}. */
export interface HttpProxyOptions extends McpProxySessionOptions {
  /** A loopback address to listen on, `host:port` (`127.0.0.1:8931`, `[::1]:0`, `localhost:8931`); port 0 picks one. */
  listen: string;
  /** The server behind: one connection (or one spawned process) per client session. */
  upstream: UpstreamSpec;
  /** Most client sessions at once (default 64); a new one beyond is a 503. */
  maxSessions?: number;
  /**
   * A session with no request open for this long is closed (default 15 minutes): clients often go away
   * without ending their session. A client holding its event stream open is never idle.
   */
  idleMs?: number;
}

interface Entry {
  transport: StreamableHTTPServerTransport;
  session: McpProxySession;
  /** HTTP requests of this session still open (an event stream stays open while the client listens). */
  open: number;
  lastSeen: number;
}

/** A running Streamable HTTP proxy. */
export interface HttpProxy {
  /** The MCP endpoint clients connect to, e.g. `http://127.0.0.1:8931/mcp`. */
  url: string;
  /** Stops listening and closes every session (each one's pending outcome reports settle first). */
  close(): Promise<void>;
}

/** The path clients use. */
export const MCP_PATH = '/mcp';

/**
 * The proxy over the Streamable HTTP transport: an MCP endpoint at `http://<listen>/mcp` for any number
 * of client sessions (up to `maxSessions`), each relayed to its own connection to the upstream through an
 * {@link McpProxySession}. Loopback only, and every request must name this address in `Host` (and in
 * `Origin`, when sent), so a web page cannot reach it through DNS rebinding: whoever can reach it acts
 * as the agent whose credentials the proxy signs with.
 */
export async function startHttpProxy(options: HttpProxyOptions): Promise<HttpProxy> {
  const { host, port } = parseListenAddress(options.listen);
  const maxSessions = options.maxSessions ?? 64;
  const idleMs = options.idleMs ?? 15 * 60_000;
  const sessions = new Map<string, Entry>();
  const open = new Set<McpProxySession>();
  let hosts = new Set<string>();
  const using = (entry: Entry, res: ServerResponse) => {
    entry.open++;
    res.once('close', () => {
      entry.open--;
      entry.lastSeen = Date.now();
    });
  };
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const entry of sessions.values()) {
        if (entry.open === 0 && now - entry.lastSeen > idleMs) void entry.session.close();
      }
    },
    Math.min(idleMs, 60_000),
  );
  sweep.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    // INVARIANT: only requests addressed to this loopback listener are served (no DNS rebinding).
    if (!hosts.has(req.headers.host ?? '') || (origin !== undefined && !hosts.has(originHost(origin)))) {
      return reply(res, 403, 'the request is not addressed to this loopback proxy (`Host` or `Origin`)');
    }
    if (new URL(req.url ?? '/', 'http://x').pathname !== MCP_PATH) {
      return reply(res, 404, `the mcp endpoint is \`${MCP_PATH}\``);
    }
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const known = sessions.get(sessionId);
      if (!known) return reply(res, 404, 'session not found', -32001);
      using(known, res);
      return known.transport.handleRequest(req, res);
    }
    if (req.method !== 'POST')
      return reply(res, 400, 'a request without `Mcp-Session-Id` must initialize one');
    if (open.size >= maxSessions) return reply(res, 503, `the proxy already serves ${maxSessions} sessions`);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, entry),
    });
    const session = new McpProxySession(transport, upstreamTransport(options.upstream), options);
    const entry: Entry = { transport, session, open: 0, lastSeen: Date.now() };
    using(entry, res);
    open.add(session);
    void session.closed.then(() => {
      open.delete(session);
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    });
    try {
      await session.start();
    } catch (error) {
      await session.close();
      options.log?.(
        `could not reach the mcp server: ${error instanceof Error ? error.message : String(error)}`,
      );
      return reply(res, 502, 'the proxy could not reach the mcp server');
    }
    await transport.handleRequest(req, res);
    // A first request that did not initialize leaves nothing to keep.
    if (transport.sessionId === undefined) await session.close();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log?.(`internal error: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  hosts = new Set([`${shown}:${bound}`, `localhost:${bound}`, `127.0.0.1:${bound}`, `[::1]:${bound}`]);
  return {
    url: `http://${shown}:${bound}${MCP_PATH}`,
    close: async () => {
      clearInterval(sweep);
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.allSettled([...open].map((s) => s.close()));
      await closing;
    },
  };
}

/**
 * `host:port` with a loopback host: `127.0.0.0/8`, `::1` (as `[::1]:port`) or `localhost`.
 *
 * @throws McpProxyError `INVALID_LISTEN_ADDRESS` for anything else.
 */
export function parseListenAddress(listen: string): { host: string; port: number } {
  const match = /^(?:\[(::1)\]|(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3})):(\d{1,5})$/.exec(listen);
  const port = match ? Number(match[3]) : Number.NaN;
  if (!match || port > 65535 || (match[2] !== undefined && !validIpv4(match[2]))) {
    throw new McpProxyError(
      'INVALID_LISTEN_ADDRESS',
      `\`--listen\` must be a loopback address and port such as \`127.0.0.1:8931\` or \`[::1]:8931\` (anyone who can reach it acts as the agent), got \`${listen}\``,
    );
  }
  return { host: match[1] ?? (match[2] as string), port };
}

function validIpv4(host: string): boolean {
  return host === 'localhost' || host.split('.').every((octet) => Number(octet) <= 255);
}

function originHost(origin: string): string {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' ? url.host : '';
  } catch {
    return '';
  }
}

function reply(res: ServerResponse, status: number, message: string, code = -32000): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}
