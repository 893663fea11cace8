import type { ParseArgsConfig } from 'node:util';

/** The options of `zt mcp-proxy` beyond the global ones (no MCP import: every `zt` command reads this). */
export const MCP_PROXY_OPTIONS: NonNullable<ParseArgsConfig['options']> = {
  server: { type: 'string' },
  agent: { type: 'string' },
  'public-key': { type: 'string', multiple: true },
  listen: { type: 'string' },
  upstream: { type: 'string' },
  'print-declarations': { type: 'boolean' },
};
