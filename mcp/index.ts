/**
 * `zt mcp-proxy` as a library: an MCP gateway between any MCP client and server. Every `tools/call` is
 * decided by the gateway (`mcp.<server>.<tool>`, the arguments as `params`) before the server sees it,
 * `tools/list` is filtered to what the agent may call, and every answer is verified against the pinned
 * root key through the SDK.
 */

export type { McpToolSchema, ToolDeclarations } from './declarations.js';
export { toolDeclarations } from './declarations.js';
export type { HttpProxy, HttpProxyOptions } from './httpProxy.js';
export { MCP_PATH, parseListenAddress, startHttpProxy } from './httpProxy.js';
export type { McpProxySessionOptions } from './McpProxySession.js';
export { DECISION_META_KEY, McpProxySession } from './McpProxySession.js';
export type { McpProxyErrorCode } from './serverName.js';
export { assertServerName, McpProxyError, SERVER_NAME_PATTERN } from './serverName.js';
export type { StdioProxyOptions } from './stdioProxy.js';
export { runStdioProxy } from './stdioProxy.js';
export type { UpstreamSpec } from './upstream.js';
export { listServerTools, upstreamTransport } from './upstream.js';
