import { CodedError } from '../core/errors/index.js';
/** Why the proxy refused to start. */
export type McpProxyErrorCode = 'INVALID_SERVER_NAME' | 'INVALID_LISTEN_ADDRESS';

/** A setting the proxy cannot work with; `code` says which. */
export class McpProxyError extends CodedError<McpProxyErrorCode> {}

/** A server name: 1-64 letters, digits, `_` or `-`, starting with a letter or digit. */
export const SERVER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * Refuses a server name that could make two calls share an action id. `mcp.<server>.<tool>`: only the
 * tool (the last segment) may hold a `.`, so a server named `a.b` would make its tool `c` the action of
 * server `a`'s tool `b.c`. The name is the operator's (a flag), never the server's own `serverInfo.name`,
 * which the server chooses and could set to another server's name to borrow its permissions.
 */
export function assertServerName(name: string): void {
  if (typeof name !== 'string' || !SERVER_NAME_PATTERN.test(name)) {
    throw new McpProxyError(
      'INVALID_SERVER_NAME',
      `the server name must be 1-64 letters, digits, \`_\` or \`-\`, starting with a letter or digit (it is the \`<server>\` of \`mcp.<server>.<tool>\`), got \`${String(name)}\``,
    );
  }
}
