import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** 32 random bytes, base64url: the console's one secret, printed at startup like a notebook server's. */
export function newConsoleToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The cookie that keeps the token after the first visit; named by port so two consoles never collide. */
export function consoleCookieName(port: number): string {
  return `zt_console_${port}`;
}

/** Why a request is refused before anything is read; `status` is the HTTP status sent. */
export interface ConsoleRefusal {
  status: 401 | 403 | 405;
  code:
    | 'TOKEN_REQUIRED'
    | 'TOKEN_INVALID'
    | 'HOST_NOT_ALLOWED'
    | 'ORIGIN_NOT_ALLOWED'
    | 'METHOD_NOT_ALLOWED'
    | 'CONSOLE_HEADER_REQUIRED'
    | 'CONSOLE_NOT_APPROVING';
  message: string;
}

/** A token compared in constant time: both sides are hashed first, so lengths never differ either. */
export function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** The token a request carries: `?token=`, then the cookie, then `Authorization: Bearer`; null when none. */
export function presentedToken(
  headers: IncomingHttpHeaders,
  query: URLSearchParams,
  cookieName: string,
): { token: string; from: 'query' | 'cookie' | 'header' } | null {
  const fromQuery = query.get('token');
  if (fromQuery !== null) return { token: fromQuery, from: 'query' };
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === cookieName) {
      return { token: decodeURIComponent(part.slice(eq + 1).trim()), from: 'cookie' };
    }
  }
  const auth = headers.authorization;
  if (auth?.startsWith('Bearer ')) return { token: auth.slice('Bearer '.length).trim(), from: 'header' };
  return null;
}

/**
 * Checks what every console request must pass before the token is even looked at: a `Host` naming this
 * console on loopback (a DNS-rebound name is refused), an `Origin` (when sent) of this console only, and
 * no cross-site fetch. Returns null when the request may go on to the token check.
 */
export function checkOrigin(headers: IncomingHttpHeaders, port: number): ConsoleRefusal | null {
  const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  const host = (headers.host ?? '').toLowerCase();
  // INVARIANT: the console answers only requests that name it by its loopback address: a page on a
  // rebound DNS name (attacker.example resolving to 127.0.0.1) sends its own name in Host and is refused.
  if (!hosts.includes(host)) {
    return {
      status: 403,
      code: 'HOST_NOT_ALLOWED',
      message: `host must be one of ${hosts.map((h) => `\`${h}\``).join(', ')}, got \`${headers.host ?? ''}\``,
    };
  }
  const origin = headers.origin;
  if (origin !== undefined && !hosts.some((h) => origin.toLowerCase() === `http://${h}`)) {
    return {
      status: 403,
      code: 'ORIGIN_NOT_ALLOWED',
      message: `origin must be this console (\`http://${hosts[0]}\`), got \`${origin}\``,
    };
  }
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return {
      status: 403,
      code: 'ORIGIN_NOT_ALLOWED',
      message: `requests from other sites are refused, got sec-fetch-site \`${site}\``,
    };
  }
  return null;
}

/** The header the console's page sends on approve/reject: a cross-site form or simple request cannot set it. */
export const CONSOLE_WRITE_HEADER = 'x-zt-console';

/**
 * What an approve/reject POST must carry beyond `checkOrigin` and the token: an `Origin` that is this
 * console's own (a browser sends it on every POST; a missing one is refused rather than trusted) and
 * `X-ZT-Console: 1`, which no HTML form and no cross-site request without a CORS preflight can send (the
 * console answers no preflight). Returns null when the request may go on.
 */
export function checkWriteRequest(headers: IncomingHttpHeaders, port: number): ConsoleRefusal | null {
  const origin = (headers.origin ?? '').toLowerCase();
  if (origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`) {
    return {
      status: 403,
      code: 'ORIGIN_NOT_ALLOWED',
      message: `an approve or reject must come from this console's page (origin \`http://127.0.0.1:${port}\`), got origin \`${headers.origin ?? ''}\``,
    };
  }
  if (headers[CONSOLE_WRITE_HEADER] !== '1') {
    return {
      status: 403,
      code: 'CONSOLE_HEADER_REQUIRED',
      message: `an approve or reject must carry the header \`X-ZT-Console: 1\`, got \`${String(headers[CONSOLE_WRITE_HEADER] ?? '')}\``,
    };
  }
  return null;
}
