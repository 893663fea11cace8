import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpToolSchema } from './declarations.js';

/** The MCP server behind the proxy: a command it spawns (stdio), or a Streamable HTTP endpoint. */
export type UpstreamSpec =
  | { command: string; args: string[]; env?: Record<string, string>; cwd?: string }
  | { url: string };

/** Most `tools/list` pages read from one server. */
const MAX_TOOL_PAGES = 100;

/**
 * A new transport to the server: for a command, the process is spawned when the transport starts, with
 * this process's environment (the command runs as it would without the proxy) and its stderr passed
 * through; for a URL, a Streamable HTTP client.
 */
export function upstreamTransport(spec: UpstreamSpec): Transport {
  if ('url' in spec) return new HttpUpstream(new URL(spec.url));
  return new StdioClientTransport({
    command: spec.command,
    args: spec.args,
    env: spec.env ?? inheritedEnvironment(),
    stderr: 'inherit',
    ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
  });
}

/** Every tool a server lists (all pages), as an MCP client sees them; used to print declarations. */
export async function listServerTools(spec: UpstreamSpec): Promise<McpToolSchema[]> {
  const client = new Client({ name: 'zt-mcp-proxy', version: '1.0.0' });
  await client.connect(upstreamTransport(spec));
  try {
    const tools: McpToolSchema[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const result = await client.listTools(cursor === undefined ? {} : { cursor });
      tools.push(...result.tools);
      cursor = result.nextCursor;
      if (cursor === undefined) return tools;
    }
    throw new Error(`the server listed more than ${MAX_TOOL_PAGES} pages of tools`);
  } finally {
    await client.close();
  }
}

/** A Streamable HTTP client that ends its server-side session when it closes (bounded: 2 s). */
class HttpUpstream extends StreamableHTTPClientTransport {
  override async close(): Promise<void> {
    if (this.sessionId !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([this.terminateSession().catch(() => {}), late]);
      clearTimeout(timer);
    }
    await super.close();
  }
}

function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  return env;
}
