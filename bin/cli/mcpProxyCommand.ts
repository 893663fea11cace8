import { resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { AuditUsageError, loadPublicKeys } from '../../audit/auditFiles.js';
import { toolDeclarations } from '../../mcp/declarations.js';
import { startHttpProxy } from '../../mcp/httpProxy.js';
import { assertServerName, McpProxyError } from '../../mcp/serverName.js';
import { runStdioProxy } from '../../mcp/stdioProxy.js';
import { listServerTools, type UpstreamSpec } from '../../mcp/upstream.js';
import { ZeroTrustClient, ZeroTrustError } from '../../sdk/ZeroTrustClient.js';
import { findCredentialsFile } from './findCredentialsFile.js';
import { MCP_PROXY_OPTIONS } from './mcpProxyOptions.js';
import { type CliIo, EXIT, GLOBAL_OPTIONS } from './runZt.js';
import { commandUsage } from './usage.js';

/** A bad command line (exit 2, with usage). */
class McpUsageError extends Error {}

/**
 * `zt mcp-proxy`: reads its command line, builds the fail-closed SDK client the proxy decides with, and
 * runs the proxy (stdio, or Streamable HTTP with `--listen`) until the client or the server goes away;
 * or, with `--print-declarations`, prints the Cedar declarations of the server's tools. Diagnostics go to
 * stderr only: on stdio, stdout carries nothing but MCP messages.
 */
export async function runMcpProxy(argv: string[], io: CliIo): Promise<number> {
  const usage = commandUsage('mcp-proxy');
  const err = (text: string) => void io.stderr.write(text);
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...MCP_PROXY_OPTIONS },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
    const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
    if (values['help'] === true) {
      io.stdout.write(usage);
      return EXIT.OK;
    }
    const flag = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
    const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator')?.index ?? argv.length;
    const before = parsed.tokens.filter((t) => t.kind === 'positional' && t.index < terminator);
    const extra = before
      .map((t) => (t.kind === 'positional' ? t.value : ''))
      .filter((v) => v !== 'mcp-proxy');
    if (extra.length > 0) {
      throw new McpUsageError(
        `unexpected argument \`${extra[0]}\`: put the server's command after \`--\` (\`zt mcp-proxy ... -- node server.js\`)`,
      );
    }
    const command = argv.slice(terminator + 1);

    const server = flag('server');
    if (server === undefined)
      throw new McpUsageError('`--server NAME` is required: the `<server>` of `mcp.<server>.<tool>`');
    assertServerName(server);
    const upstreamUrl = flag('upstream');
    if ((upstreamUrl === undefined) === (command.length === 0)) {
      throw new McpUsageError(
        'give the server as `-- COMMAND [ARGS...]` or as `--upstream URL`, one of them',
      );
    }
    let upstream: UpstreamSpec;
    if (upstreamUrl !== undefined) {
      const url = parseUrl(upstreamUrl);
      upstream = { url: url.toString() };
    } else {
      upstream = { command: command[0] as string, args: command.slice(1), cwd: io.cwd };
    }

    if (values['print-declarations'] === true) {
      const tools = await listServerTools(upstream);
      const result = toolDeclarations(server, tools);
      io.stdout.write(`${JSON.stringify(result.declarations, null, 2)}\n`);
      for (const s of result.skipped) err(`zt: not declared: \`${s.tool}\`: ${s.reason}\n`);
      for (const n of result.notes) err(`zt: note: \`${n.tool}\` ${n.note}\n`);
      return EXIT.OK;
    }

    const keySources = (values['public-key'] as string[] | undefined) ?? [];
    if (keySources.length === 0) {
      throw new McpUsageError(
        '`--public-key FILE` is required: the root public key every answer must chain to',
      );
    }
    const trustedKeys = await loadPublicKeys(
      keySources.map((k) => (k.includes('-----BEGIN') ? k : resolve(io.cwd, k))),
    );
    const env = io.env;
    const profile = flag('profile') ?? nonEmpty(env['AWS_PROFILE']);
    const agent =
      flag('agent') ?? (profile?.startsWith('zt-agent-') ? profile.slice('zt-agent-'.length) : undefined);
    if (agent === undefined || agent === '') {
      throw new McpUsageError('`--agent ID` is required unless the profile is `zt-agent-<ID>`');
    }
    const timeout = flag('timeout');
    const timeoutMs = timeout === undefined ? undefined : Number(timeout);
    if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs < 1)) {
      throw new McpUsageError(`\`--timeout\` must be a positive number of milliseconds, got \`${timeout}\``);
    }
    const credentialsFile = findCredentialsFile(flag('credentials-file'), env, io.cwd).path;
    const zt = new ZeroTrustClient({
      endpoint: flag('endpoint') ?? nonEmpty(env['ZT_ENDPOINT']) ?? 'http://127.0.0.1:8787',
      region:
        flag('region') ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']) ?? 'us-east-1',
      trustedKeys,
      ...(profile !== undefined ? { profile } : {}),
      ...(credentialsFile !== undefined ? { credentialsFile } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(io.fetch !== undefined ? { fetch: io.fetch } : {}),
    });
    const session = { zt, actor: agent, server, upstream, log: (m: string) => err(`zt mcp-proxy: ${m}\n`) };
    if (values['verbose'] === true) {
      err(`zt mcp-proxy: agent ${agent}, endpoint ${zt.endpoint}, actions mcp.${server}.<tool>\n`);
    }

    const listen = flag('listen');
    if (listen !== undefined) {
      const proxy = await startHttpProxy({ ...session, listen });
      err(`zt mcp-proxy: listening on ${proxy.url}\n`);
      await new Promise<void>((done) => {
        process.once('SIGINT', done);
        process.once('SIGTERM', done);
      });
      await proxy.close();
      return EXIT.OK;
    }
    await runStdioProxy({
      ...session,
      ...(io.stdin instanceof Readable ? { stdin: io.stdin } : {}),
      ...(io.stdout instanceof Writable ? { stdout: io.stdout } : {}),
    });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof McpUsageError || error instanceof AuditUsageError) {
      err(`zt: ${error.message}\n\n${usage}`);
      return EXIT.USAGE;
    }
    if (error instanceof McpProxyError || error instanceof ZeroTrustError) {
      err(`zt: ${error.code}: ${error.message}\n`);
      return EXIT.USAGE;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      err(`zt: ${error.message.split('\n')[0]}\n\n${usage}`);
      return EXIT.USAGE;
    }
    err(`zt: MCP_SERVER_UNAVAILABLE: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.REFUSED;
  }
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new McpUsageError(`\`--upstream\` must be an http or https URL, got \`${text}\``);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new McpUsageError(`\`--upstream\` must be an http or https URL, got \`${text}\``);
  }
  return url;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
