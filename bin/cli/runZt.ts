import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { GatewayError } from '../../sdk/errors.js';
import { GatewayClient } from '../../sdk/GatewayClient.js';
import type { FetchLike } from '../../sdk/transport.js';
import { isZeroTrustError } from '../../sdk/ZeroTrustClient.js';
import { auditTail } from './auditTailCommand.js';
import { COMMANDS, type CommandContext, EXIT, LocalFileError, UsageError } from './commands.js';
import { decideCommand } from './decideCommand.js';
import { findCredentialsFile } from './findCredentialsFile.js';
import { MCP_PROXY_OPTIONS } from './mcpProxyOptions.js';
import { policiesTest, policiesValidate } from './policiesOfflineCommands.js';
import { ReplayRefusedError } from './policiesReplayCommand.js';
import { COMMAND_LINES, commandUsage, mainUsage, shortUsage } from './usage.js';
import { packageVersion } from './version.js';

export { EXIT } from './commands.js';

/** Everything `zt` touches of its process, injectable so tests run it in-process. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  /** For `--file -`. */
  stdin?: AsyncIterable<string | Uint8Array>;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Replaces the global `fetch` (tests). */
  fetch?: FetchLike;
  /** Stops `audit tail --follow` (tests; the real CLI stops it on SIGINT). */
  signal?: AbortSignal;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const GLOBAL_OPTIONS: Options = {
  endpoint: { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string' },
  'credentials-file': { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

/**
 * Options of each command, beyond the global ones, and its positional arguments (`variadic`: the last one
 * may repeat, and may be absent).
 */
const SPECS: Record<string, { args: string[]; options: Options; variadic?: boolean; offline?: boolean }> = {
  'agents register': {
    args: ['agentId'],
    options: { 'principal-arn': { type: 'string' }, attr: { type: 'string', multiple: true } },
  },
  'agents list': { args: [], options: {} },
  'agents get': { args: ['agentId'], options: {} },
  'agents disable': { args: ['agentId'], options: {} },
  'policies put': {
    args: ['policyId'],
    options: { file: { type: 'string' }, description: { type: 'string' }, shadow: { type: 'boolean' } },
  },
  'policies allow': {
    args: [],
    options: {
      action: { type: 'string' },
      agent: { type: 'string' },
      resource: { type: 'string' },
      reason: { type: 'string' },
      'params-json': { type: 'string' },
      'allow-unregistered': { type: 'boolean' },
      'all-agents': { type: 'boolean' },
    },
  },
  'policies test': {
    args: ['files'],
    variadic: true,
    offline: true,
    options: { policies: { type: 'string' }, schema: { type: 'string' } },
  },
  'policies validate': { args: ['dir'], offline: true, options: { schema: { type: 'string' } } },
  decide: {
    args: ['action'],
    options: {
      as: { type: 'string' },
      resource: { type: 'string' },
      params: { type: 'string' },
      context: { type: 'string' },
      actor: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
    },
  },
  'audit tail': {
    args: [],
    options: {
      lines: { type: 'string', short: 'n' },
      follow: { type: 'boolean' },
      interval: { type: 'string' },
      agent: { type: 'string' },
      action: { type: 'string' },
      decision: { type: 'string' },
      'shadow-diff': { type: 'boolean' },
    },
  },
  'schema put': { args: ['file'], options: { description: { type: 'string' } } },
  'approvals list': { args: [], options: {} },
  'approvals approve': {
    args: ['approvalId'],
    options: { 'params-sha256': { type: 'string' }, ttl: { type: 'string' } },
  },
  'approvals reject': { args: ['approvalId'], options: { 'params-sha256': { type: 'string' } } },
  'schema get': { args: [], options: {} },
  'policies list': { args: [], options: {} },
  'policies replay': {
    args: [],
    options: {
      bundle: { type: 'string' },
      policies: { type: 'string' },
      schema: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
    },
  },
  'policies get': { args: ['policyId'], options: {} },
  'policies delete': { args: ['policyId'], options: {} },
  'audit export': {
    args: [],
    options: {
      out: { type: 'string' },
      bundle: { type: 'string' },
      format: { type: 'string' },
      requests: { type: 'boolean' },
      after: { type: 'string', multiple: true },
      resume: { type: 'boolean' },
      'page-size': { type: 'string' },
    },
  },
  keys: { args: [], options: { 'root-pem': { type: 'boolean' }, remote: { type: 'boolean' } } },
  health: { args: [], options: {} },
  // runs on its own (bin/cli/mcpProxyCommand.ts); listed so the first pass knows its flags
  'mcp-proxy': { args: [], options: MCP_PROXY_OPTIONS },
};

const ALL_OPTIONS: Options = Object.assign({}, GLOBAL_OPTIONS, ...Object.values(SPECS).map((s) => s.options));

/**
 * Runs the `zt` CLI with `argv` (without `node` and the script) and returns its exit status: 0 ok, 1 the
 * gateway refused (or a policy test failed), 2 usage error, 3 the gateway cannot be reached or there are no
 * credentials, 4 `zt decide` was answered deny, 5 `zt decide` got an answer that does not verify.
 * With `--json`, an error is one JSON document on stdout, `{"error":{"code","message"}}`.
 */
export async function runZt(argv: string[], io: CliIo): Promise<number> {
  const out = (text: string) => void io.stdout.write(text);
  const err = (text: string) => void io.stderr.write(text);
  // Known before parsing, so that even a command line that does not parse is answered in JSON.
  const jsonWanted = argv.includes('--json');
  const reporter = new Reporter(out, err, jsonWanted);
  const showHelp = (usage: string) => {
    out(usage);
    return EXIT.OK;
  };

  // Pass 1: find the command words, knowing which flags take a value; a flag no command knows still
  // leaves the words found, so the error shows that command's usage.
  let first: ReturnType<typeof parseArgs<{ options: Options; allowPositionals: true; strict: true }>>;
  let firstError: string | undefined;
  try {
    first = parseArgs({ args: argv, options: ALL_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    firstError = parseArgsMessage((e as Error).message);
    first = parseArgs({
      args: argv,
      options: ALL_OPTIONS,
      allowPositionals: true,
      strict: false,
    }) as typeof first;
  }
  const words = first.positionals;
  const help = first.values['help'] === true;
  if (first.values['version'] === true && firstError === undefined) {
    out(jsonWanted ? `${JSON.stringify({ version: packageVersion() })}\n` : `zt ${packageVersion()}\n`);
    return EXIT.OK;
  }
  const group = words[0];
  if (group === undefined) {
    if (firstError !== undefined) return reporter.usage(firstError, mainUsage());
    if (help) return showHelp(mainUsage());
    return reporter.usage('missing command', mainUsage());
  }
  if (group === 'mcp-proxy') {
    // a long-running command with a command line of its own after `--`: loaded only when used
    const { runMcpProxy } = await import('./mcpProxyCommand.js');
    return runMcpProxy(argv, io);
  }
  const subs = COMMAND_LINES[group];
  if (subs === undefined) return reporter.usage(`unknown command \`${group}\``, mainUsage());
  const single = subs[''] !== undefined;
  const sub = single ? undefined : words[1];
  const name = single ? group : `${group} ${sub ?? ''}`;
  if (!single && sub === undefined) {
    if (help) return showHelp(commandUsage(group));
    return reporter.usage(firstError ?? `missing \`${group}\` command`, commandUsage(group));
  }
  const spec = SPECS[name];
  if (spec === undefined) return reporter.usage(`unknown command \`${name}\``, commandUsage(group));
  const usage = shortUsage(group, sub);
  if (help) return showHelp(commandUsage(group, sub));

  // Pass 2: only the global options and this command's.
  let parsed: typeof first;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    return reporter.usage(parseArgsMessage((e as Error).message), usage);
  }
  const args = parsed.positionals.slice(single ? 1 : 2);
  const minArgs = spec.variadic ? spec.args.length - 1 : spec.args.length;
  if (args.length < minArgs) return reporter.usage(`missing <${spec.args[args.length]}>`, usage);
  if (!spec.variadic && args.length > spec.args.length)
    return reporter.usage(`unexpected argument \`${args[spec.args.length]}\``, usage);
  const values = parsed.values as CommandContext['values'];
  const flag = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);

  const env = io.env;
  const endpoint = flag('endpoint') ?? nonEmpty(env['ZT_ENDPOINT']) ?? 'http://127.0.0.1:8787';
  const profile =
    (name === 'decide' ? flag('as') : undefined) ??
    flag('profile') ??
    nonEmpty(env['AWS_PROFILE']) ??
    'zt-admin';
  const region =
    flag('region') ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']) ?? 'us-east-1';
  let timeoutMs: number | undefined;
  const timeoutArg = flag('timeout');
  if (timeoutArg !== undefined) {
    timeoutMs = Number(timeoutArg);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      return reporter.usage(
        `\`--timeout\` must be a positive number of milliseconds, got \`${timeoutArg}\``,
        usage,
      );
    }
  }
  const credsFile = findCredentialsFile(flag('credentials-file'), env, io.cwd);
  if (values['verbose'] === true && !spec.offline) {
    const fileNote =
      credsFile.source === 'data-dir'
        ? `${credsFile.path} (the emulator's, found in the data dir)`
        : (credsFile.path ?? '~/.aws/credentials (AWS default)');
    err(`zt: endpoint ${endpoint}, region ${region}, profile ${profile}\nzt: credentials file ${fileNote}\n`);
  }

  let client: GatewayClient | undefined;
  if (!spec.offline) {
    try {
      client = new GatewayClient({
        endpoint,
        region,
        profile,
        ...(credsFile.path !== undefined ? { credentialsFile: credsFile.path } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(io.fetch !== undefined ? { fetch: io.fetch } : {}),
      });
    } catch (e) {
      return reporter.usage((e as Error).message, usage);
    }
  }

  const ctx: CommandContext = {
    // offline commands never touch it
    client: client as GatewayClient,
    positionals: args,
    values,
    json: values['json'] === true,
    out,
    err,
    stderrIsTTY: io.stderr.isTTY === true,
    readInput: (path) => (path === '-' ? readAll(io.stdin) : readFile(resolve(io.cwd, path), 'utf8')),
    resolvePath: (path) => resolve(io.cwd, path),
    credentialsFile: credsFile.path,
    dataDir: resolve(io.cwd, nonEmpty(env['ZT_DATA_DIR']) ?? '.zt'),
    endpointFlag: flag('endpoint') !== undefined,
    connection: {
      endpoint,
      region,
      profile,
      ...(credsFile.path !== undefined ? { credentialsFile: credsFile.path } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(io.fetch !== undefined ? { fetch: io.fetch } : {}),
    },
    ...(io.signal !== undefined ? { signal: io.signal } : {}),
  };
  const command = LATER_COMMANDS[name] ?? COMMANDS[name];
  try {
    const status = await command!(ctx);
    return typeof status === 'number' ? status : EXIT.OK;
  } catch (e) {
    const credentialsPath =
      credsFile.path ??
      nonEmpty(env['AWS_SHARED_CREDENTIALS_FILE']) ??
      join(homedir(), '.aws', 'credentials');
    return reportFailure(e, reporter, { usage, profile, credentialsPath });
  }
}

/** The commands of the developer loop (decide, offline policy checks, audit tail), in files of their own. */
const LATER_COMMANDS: Record<string, (ctx: CommandContext) => Promise<number | undefined>> = {
  decide: decideCommand,
  'policies test': policiesTest,
  'policies validate': policiesValidate,
  'audit tail': auditTail,
};

/** Writes errors as `zt: CODE: message` lines on stderr, or, with `--json`, as one JSON document on stdout. */
class Reporter {
  constructor(
    private readonly out: (t: string) => void,
    private readonly err: (t: string) => void,
    readonly json: boolean,
  ) {}

  /** A usage error: the message and the command's usage (exit 2). */
  usage(message: string, usage: string): number {
    if (this.json) this.error('USAGE', message);
    else this.err(`zt: ${message}\n\n${usage}`);
    return EXIT.USAGE;
  }

  /** One coded error; `detail` lines (Cedar diagnostics) follow it on stderr, or go in `details` as JSON. */
  error(
    code: string,
    message: string,
    extra: { detail?: string; details?: unknown; hint?: string } = {},
  ): void {
    if (this.json) {
      const error: Record<string, unknown> = { code, message };
      if (extra.details !== undefined) error['details'] = extra.details;
      this.out(`${JSON.stringify({ error })}\n`);
      return;
    }
    this.err(
      `zt: ${code}: ${message}\n${extra.detail ?? ''}${extra.hint !== undefined ? `zt: ${extra.hint}\n` : ''}`,
    );
  }
}

const VERIFICATION_FAILURES = new Set([
  'MISSING_RECORD',
  'RECORD_INVALID',
  'RECORD_MISMATCH',
  'RECORD_STALE',
  'UNTRUSTED_KEY',
  'SIGNATURE_INVALID',
  'NON_JSON_RESPONSE',
  'TRUST_NOT_PINNED',
]);

function reportFailure(
  e: unknown,
  reporter: Reporter,
  context: { usage: string; profile: string; credentialsPath: string },
): number {
  if (e instanceof UsageError) return reporter.usage(e.message, context.usage);
  if (e instanceof LocalFileError) {
    reporter.error(e.code, e.message);
    return EXIT.USAGE;
  }
  if (e instanceof ReplayRefusedError) {
    reporter.error(e.code, e.message);
    return EXIT.REFUSED;
  }
  const code = e instanceof GatewayError || isZeroTrustError(e) ? e.code : undefined;
  if (code === 'CREDENTIALS_UNAVAILABLE') {
    const missing = !existsSync(context.credentialsPath);
    reporter.error(
      missing ? 'CREDENTIALS_FILE_MISSING' : 'CREDENTIALS_UNAVAILABLE',
      missing
        ? `the credentials file \`${context.credentialsPath}\` does not exist, so there is no profile \`${context.profile}\``
        : `no credentials for profile \`${context.profile}\` in \`${context.credentialsPath}\``,
      {
        hint: 'start the local gateway (`npm run local`, which writes .zt/aws-credentials) or pass --profile / --credentials-file',
      },
    );
    return EXIT.UNREACHABLE;
  }
  if (e instanceof GatewayError) {
    switch (e.code) {
      case 'HTTP_ERROR': {
        const trace = e.traceId !== undefined ? ` (trace id ${e.traceId})` : '';
        const message = e.serverMessage ?? e.message;
        reporter.error(e.serverCode ?? `HTTP_${e.status}`, `${message}${trace}`, {
          detail: errorDetails(e.body, e.serverMessage ?? ''),
          ...(detailsOf(e.body) !== undefined ? { details: detailsOf(e.body) } : {}),
        });
        return EXIT.REFUSED;
      }
      case 'TIMEOUT':
      case 'CONNECTION_FAILED':
      case 'DNS_FAILURE':
      case 'NON_JSON_RESPONSE':
        reporter.error(e.code, e.message);
        return EXIT.UNREACHABLE;
      default:
        reporter.error(e.code, e.message);
        return EXIT.REFUSED;
    }
  }
  if (isZeroTrustError(e)) {
    if (e.code === 'TIMEOUT' || e.code === 'CONNECTION_FAILED' || e.code === 'DNS_FAILURE') {
      reporter.error(e.code, e.message);
      return EXIT.UNREACHABLE;
    }
    if (VERIFICATION_FAILURES.has(e.code)) {
      reporter.error(e.code, `the answer was not believed (nothing may run): ${e.message}`);
      return EXIT.UNVERIFIED;
    }
    reporter.error(e.serverCode ?? e.code, e.message);
    return EXIT.REFUSED;
  }
  reporter.error('INTERNAL', e instanceof Error ? e.message : String(e));
  return EXIT.REFUSED;
}

function detailsOf(body: unknown): unknown {
  const error = isObject(body) && isObject(body['error']) ? body['error'] : undefined;
  return error?.['details'];
}

/**
 * The `error.details` of a server error as lines: Cedar diagnostics as `line:column: message`, other
 * details as JSON. Empty when there are none.
 */
function errorDetails(body: unknown, shownMessage: string): string {
  const error = isObject(body) && isObject(body['error']) ? body['error'] : undefined;
  const details = error !== undefined && isObject(error['details']) ? error['details'] : undefined;
  if (details === undefined) return '';
  const { diagnostics, ...rest } = details;
  let text = '';
  if (Array.isArray(diagnostics)) {
    for (const d of diagnostics) {
      // A diagnostic the server message already spells out is not repeated.
      if (!isObject(d) || (typeof d['message'] === 'string' && shownMessage.includes(d['message']))) continue;
      text += `  ${String(d['line'] ?? '?')}:${String(d['column'] ?? '?')}: ${String(d['message'] ?? '')}\n`;
    }
  }
  if (Object.keys(rest).length > 0) text += `  ${JSON.stringify(rest)}\n`;
  return text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readAll(stdin: AsyncIterable<string | Uint8Array> | undefined): Promise<string> {
  if (stdin === undefined) throw new Error('no standard input');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** A `parseArgs` error as a house-style message: first sentence, lower-case, input in backticks. */
function parseArgsMessage(message: string): string {
  const sentence = (message.split('\n')[0] ?? message).split('. ')[0] ?? message;
  const text = sentence.replace(/'([^']*)'/g, '`$1`').replace(/\.$/, '');
  return text.charAt(0).toLowerCase() + text.slice(1);
}
