import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { GatewayError } from '../../sdk/errors.js';
import { GatewayClient } from '../../sdk/GatewayClient.js';
import type { FetchLike } from '../../sdk/transport.js';
import { COMMANDS, type CommandContext, LocalFileError, UsageError } from './commands.js';
import { findCredentialsFile } from './findCredentialsFile.js';
import { MCP_PROXY_OPTIONS } from './mcpProxyOptions.js';
import { ReplayRefusedError } from './policiesReplayCommand.js';
import { COMMAND_LINES, commandUsage, mainUsage } from './usage.js';

/** Exit statuses of `zt`. */
export const EXIT = { OK: 0, REFUSED: 1, USAGE: 2, UNREACHABLE: 3 } as const;

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
};

/** Options of each command, beyond the global ones, and its positional arguments. */
const SPECS: Record<string, { args: string[]; options: Options }> = {
  'agents register': {
    args: ['agentId'],
    options: { 'principal-arn': { type: 'string' }, attr: { type: 'string', multiple: true } },
  },
  'agents list': { args: [], options: {} },
  'agents get': { args: ['agentId'], options: {} },
  'agents disable': { args: ['agentId'], options: {} },
  'policies put': {
    args: ['policyId'],
    options: { file: { type: 'string' }, description: { type: 'string' } },
  },
  'policies allow': {
    args: [],
    options: {
      action: { type: 'string' },
      agent: { type: 'string' },
      resource: { type: 'string' },
      reason: { type: 'string' },
      'params-json': { type: 'string' },
    },
  },
  'schema put': { args: ['file'], options: { description: { type: 'string' } } },
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
 * Runs the `zt` admin CLI with `argv` (without `node` and the script) and returns its exit status:
 * 0 ok, 1 the gateway refused, 2 usage error, 3 the gateway cannot be reached or there are no credentials.
 */
export async function runZt(argv: string[], io: CliIo): Promise<number> {
  const out = (text: string) => void io.stdout.write(text);
  const err = (text: string) => void io.stderr.write(text);
  const showHelp = (usage: string) => {
    out(usage);
    return EXIT.OK;
  };
  const usageError = (message: string, usage: string) => {
    err(`zt: ${message}\n\n${usage}`);
    return EXIT.USAGE;
  };

  // Pass 1: find the command words, knowing which flags take a value.
  let first: ReturnType<typeof parseArgs<{ options: Options; allowPositionals: true; strict: true }>>;
  try {
    first = parseArgs({ args: argv, options: ALL_OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    return usageError(parseArgsMessage((e as Error).message), mainUsage());
  }
  const words = first.positionals;
  const help = first.values['help'] === true;
  const group = words[0];
  if (group === undefined) {
    if (help) return showHelp(mainUsage());
    return usageError('missing command', mainUsage());
  }
  if (group === 'mcp-proxy') {
    // a long-running command with a command line of its own after `--`: loaded only when used
    const { runMcpProxy } = await import('./mcpProxyCommand.js');
    return runMcpProxy(argv, io);
  }
  const subs = COMMAND_LINES[group];
  if (subs === undefined) return usageError(`unknown command \`${group}\``, mainUsage());
  const single = subs[''] !== undefined;
  const sub = single ? undefined : words[1];
  const name = single ? group : `${group} ${sub ?? ''}`;
  if (!single && sub === undefined) {
    if (help) return showHelp(commandUsage(group));
    return usageError(`missing \`${group}\` command`, commandUsage(group));
  }
  const spec = SPECS[name];
  if (spec === undefined) return usageError(`unknown command \`${name}\``, commandUsage(group));
  const usage = commandUsage(group, sub);
  if (help) return showHelp(usage);

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
    return usageError(parseArgsMessage((e as Error).message), usage);
  }
  const args = parsed.positionals.slice(single ? 1 : 2);
  if (args.length < spec.args.length) return usageError(`missing <${spec.args[args.length]}>`, usage);
  if (args.length > spec.args.length)
    return usageError(`unexpected argument \`${args[spec.args.length]}\``, usage);
  const values = parsed.values as CommandContext['values'];
  const flag = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);

  const env = io.env;
  const endpoint = flag('endpoint') ?? nonEmpty(env['ZT_ENDPOINT']) ?? 'http://127.0.0.1:8787';
  const profile = flag('profile') ?? nonEmpty(env['AWS_PROFILE']) ?? 'zt-admin';
  const region =
    flag('region') ?? nonEmpty(env['AWS_REGION']) ?? nonEmpty(env['AWS_DEFAULT_REGION']) ?? 'us-east-1';
  let timeoutMs: number | undefined;
  const timeoutArg = flag('timeout');
  if (timeoutArg !== undefined) {
    timeoutMs = Number(timeoutArg);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
      return usageError(
        `\`--timeout\` must be a positive number of milliseconds, got \`${timeoutArg}\``,
        usage,
      );
    }
  }
  const credsFile = findCredentialsFile(flag('credentials-file'), env, io.cwd);
  if (values['verbose'] === true) {
    const fileNote =
      credsFile.source === 'data-dir'
        ? `${credsFile.path} (the emulator's, found in the data dir)`
        : (credsFile.path ?? '~/.aws/credentials (AWS default)');
    err(`zt: endpoint ${endpoint}, region ${region}, profile ${profile}\nzt: credentials file ${fileNote}\n`);
  }

  let client: GatewayClient;
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
    return usageError((e as Error).message, usage);
  }

  const ctx: CommandContext = {
    client,
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
  };
  try {
    await COMMANDS[name]!(ctx);
    return EXIT.OK;
  } catch (e) {
    return reportFailure(e, { err, usage, profile, credsFile: credsFile.path });
  }
}

function reportFailure(
  e: unknown,
  context: { err: (t: string) => void; usage: string; profile: string; credsFile: string | undefined },
): number {
  const { err } = context;
  if (e instanceof UsageError) {
    err(`zt: ${e.message}\n\n${context.usage}`);
    return EXIT.USAGE;
  }
  if (e instanceof LocalFileError) {
    err(`zt: ${e.message}\n`);
    return EXIT.USAGE;
  }
  if (e instanceof ReplayRefusedError) {
    err(`zt: ${e.code}: ${e.message}\n`);
    return EXIT.REFUSED;
  }
  if (e instanceof GatewayError) {
    switch (e.code) {
      case 'HTTP_ERROR': {
        const trace = e.traceId !== undefined ? ` (trace id ${e.traceId})` : '';
        err(`zt: ${e.serverCode ?? `HTTP_${e.status}`}: ${e.serverMessage ?? e.message}${trace}\n`);
        err(errorDetails(e.body, e.serverMessage ?? ''));
        return EXIT.REFUSED;
      }
      case 'CREDENTIALS_UNAVAILABLE':
        err(
          `zt: CREDENTIALS_UNAVAILABLE: no credentials for profile \`${context.profile}\` in ` +
            `${context.credsFile !== undefined ? `\`${context.credsFile}\`` : 'the AWS shared files (~/.aws)'}\n` +
            'zt: start the local gateway (`npm run local`, which writes .zt/aws-credentials) or pass ' +
            '--profile / --credentials-file\n',
        );
        return EXIT.UNREACHABLE;
      case 'TIMEOUT':
      case 'CONNECTION_FAILED':
      case 'DNS_FAILURE':
      case 'NON_JSON_RESPONSE':
        err(`zt: ${e.code}: ${e.message}\n`);
        return EXIT.UNREACHABLE;
      default:
        err(`zt: ${e.code}: ${e.message}\n`);
        return EXIT.REFUSED;
    }
  }
  err(`zt: INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
  return EXIT.REFUSED;
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
