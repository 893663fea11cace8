import { GatewayError } from './errors.js';
import type { SignedRequest } from './signer.js';

/** The `fetch` shape the transport needs (the global one fits). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Options of {@link sendRequest}. */
export interface TransportOptions {
  /** Defaults to the global `fetch`. */
  fetch?: FetchLike;
  /** Time for the whole exchange, body included. Default {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number;
  /**
   * Return non-2xx answers instead of throwing `HTTP_ERROR` (for `POST /actions`, where a 403 deny
   * carrying a record is a normal answer). Their body must still be JSON.
   */
  acceptAnyStatus?: boolean;
}

/** An answer from the gateway. */
export interface TransportResponse {
  status: number;
  /** Lower-case header names. */
  headers: Record<string, string>;
  bodyText: string;
  /** The parsed body; absent only for an empty body. */
  json?: unknown;
}

export const DEFAULT_TIMEOUT_MS = 10_000;

const DNS_ERROR_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const TIMEOUT_ERROR_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/**
 * Sends a signed request and reads the whole answer. Every way of not getting a usable answer becomes a
 * {@link GatewayError}: `TIMEOUT`, `CONNECTION_FAILED`, `DNS_FAILURE`, `HTTP_ERROR` (non-2xx, unless
 * `acceptAnyStatus`), `NON_JSON_RESPONSE`.
 */
export async function sendRequest(
  req: SignedRequest,
  options: TransportOptions = {},
): Promise<TransportResponse> {
  const fetchFn: FetchLike = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const target = describeTarget(req);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);

  // fetch derives `host` from the URL (the value that was signed) and refuses to be told otherwise.
  const { host: _host, ...headers } = req.headers;
  let status: number;
  let responseHeaders: Record<string, string>;
  let bodyText: string;
  try {
    const init: RequestInit = { method: req.method, headers, signal: controller.signal, redirect: 'manual' };
    if (req.body !== undefined) init.body = req.body;
    const response = await fetchFn(req.url, init);
    status = response.status;
    responseHeaders = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name.toLowerCase()] = value;
    });
    bodyText = await response.text();
  } catch (err) {
    throw transportError(err, timedOut, timeoutMs, target);
  } finally {
    clearTimeout(timer);
  }

  let json: unknown;
  let parsed = false;
  if (bodyText.trim() !== '') {
    try {
      json = JSON.parse(bodyText);
      parsed = true;
    } catch {
      // handled below: what it means depends on the status
    }
  }
  const ok = status >= 200 && status < 300;
  if (!ok && !options.acceptAnyStatus) throw httpError(status, parsed ? json : bodyText, target);
  if (!parsed && (bodyText.trim() !== '' || status !== 204)) {
    throw new GatewayError('NON_JSON_RESPONSE', `${target} answered ${status} with a body that is not JSON`, {
      status,
      body: bodyText,
    });
  }
  const out: TransportResponse = { status, headers: responseHeaders, bodyText };
  if (parsed) out.json = json;
  return out;
}

function describeTarget(req: SignedRequest): string {
  try {
    const url = new URL(req.url);
    return `${req.method} ${url.origin}${url.pathname}`;
  } catch {
    return `${req.method} ${req.url}`;
  }
}

function httpError(status: number, body: unknown, target: string): GatewayError {
  const error = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const serverCode = typeof error?.['code'] === 'string' ? error['code'] : undefined;
  const serverMessage = typeof error?.['message'] === 'string' ? error['message'] : undefined;
  const traceId = typeof error?.['trace_id'] === 'string' ? error['trace_id'] : undefined;
  const message =
    serverCode !== undefined
      ? `${serverCode}: ${serverMessage ?? `${target} answered ${status}`}`
      : `${target} answered ${status}`;
  return new GatewayError('HTTP_ERROR', message, {
    status,
    body,
    ...(serverCode !== undefined ? { serverCode } : {}),
    ...(serverMessage !== undefined ? { serverMessage } : {}),
    ...(traceId !== undefined ? { traceId } : {}),
  });
}

function transportError(err: unknown, timedOut: boolean, timeoutMs: number, target: string): GatewayError {
  if (err instanceof GatewayError) return err;
  if (timedOut) {
    return new GatewayError('TIMEOUT', `${target} did not answer within ${timeoutMs} ms`, { cause: err });
  }
  const codes = errorCodes(err);
  const detail = codes[0] ?? (err instanceof Error ? err.message : String(err));
  if (codes.some((c) => DNS_ERROR_CODES.has(c))) {
    return new GatewayError('DNS_FAILURE', `cannot resolve the host of ${target} (${detail})`, {
      cause: err,
    });
  }
  if (codes.some((c) => TIMEOUT_ERROR_CODES.has(c))) {
    return new GatewayError('TIMEOUT', `${target} timed out (${detail})`, { cause: err });
  }
  return new GatewayError('CONNECTION_FAILED', `cannot reach ${target} (${detail})`, { cause: err });
}

/** The `code`s along an error's `cause` chain (undici wraps the socket error in `TypeError: fetch failed`). */
function errorCodes(err: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (!isRecord(e) || seen.has(e)) continue;
    seen.add(e);
    if (typeof e['code'] === 'string') codes.push(e['code']);
    if (e['cause'] !== undefined) queue.push(e['cause']);
    if (Array.isArray(e['errors'])) queue.push(...e['errors']);
  }
  return codes;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
