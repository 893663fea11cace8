import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { McpProxySession, type McpProxySessionOptions } from './McpProxySession.js';
import { type UpstreamSpec, upstreamTransport } from './upstream.js';

/** Options of {@link runStdioProxy}. */
export interface StdioProxyOptions extends McpProxySessionOptions {
  upstream: UpstreamSpec;
  /** The client's side: default this process's stdin and stdout (which then carry only MCP messages). */
  stdin?: Readable;
  stdout?: Writable;
}

/**
 * Runs the proxy between an MCP client on stdio and the upstream server until either side closes (the
 * client's stdin ends, the spawned server exits). Resolves once both are closed and every outcome report
 * has settled.
 */
export async function runStdioProxy(options: StdioProxyOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const downstream = new StdioServerTransport(stdin, options.stdout ?? process.stdout);
  const session = new McpProxySession(downstream, upstreamTransport(options.upstream), options);
  // The SDK's stdio server transport does not notice the end of its input: the client went away.
  const ended = () => void session.close();
  stdin.once('end', ended);
  stdin.once('close', ended);
  try {
    await session.start();
  } catch (error) {
    await session.close();
    throw error;
  }
  await session.closed;
  stdin.off('end', ended);
  stdin.off('close', ended);
}
