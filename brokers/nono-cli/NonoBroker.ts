import {
  assertOnlyKeys,
  assertSafeString,
  Broker,
  type BrokerBackend,
  type BrokerOptions,
  type ExecutionResult,
  integerIn,
  invalidSpec,
  isPlainObject,
} from '../contract.js';
import { envAllowlist, envNames, envValues } from '../environment.js';
import { builtinParamsShape, type CedarType } from '../paramsShape.js';
import { assertProgramUnchanged, programPath, programSha256 } from '../program.js';
import { runProcess } from '../runProcess.js';

/**
 * The nono broker: runs an approved command under `nono run` (Landlock on Linux, Seatbelt on macOS) with
 * capability flags generated from a permissions manifest. Everything not granted is denied; the network is
 * blocked unless the manifest lists domains. The manifest is validated strictly because every string in it
 * becomes a command-line argument of a security tool. The program is bound by content: its SHA-256 is in
 * the canonical spec and checked again just before nono starts (nono runs it by path, so a window remains
 * between that check and nono's exec).
 */

/** Network permissions as asked: blocked (the default), or an allowlist of domains and ports. */
export type NonoNetworkInput =
  | { mode: 'blocked' }
  | { mode: 'allowlist'; domains: string[]; ports?: Array<string | number> };

/**
 * Network permissions in the canonical spec: always the three fields (empty sets when blocked), so a
 * policy needs no `has` test.
 */
export interface NonoNetwork {
  mode: 'blocked' | 'allowlist';
  /** Sorted. */
  domains: string[];
  /** `443` or `8000-8080`, sorted. */
  ports: string[];
}

/** What an agent asks to run, with what it may touch. */
export interface NonoInput {
  /** Absolute path of the program, then its arguments. */
  command: string[];
  /** Absolute paths readable (and nothing else). */
  read?: string[];
  /** Absolute paths readable and writable. A path is in `read` or `write`, never both. */
  write?: string[];
  network?: NonoNetworkInput;
  /** Names of variables passed in, each in the operator's `allowedEnv`. */
  env?: string[];
  /** Default 60 000 ms, at most 600 000. */
  timeoutMs?: number;
}

/**
 * The canonical spec: what is sent as `params`, hashed into `params_sha256`, and read by policies as
 * `context.params` (shape: {@link NONO_PARAMS_SHAPE}).
 */
export interface NonoSpec {
  /** `command[0]` as given. */
  program: string;
  /** SHA-256 hex of the program file the broker read (symlinks followed). */
  programSha256: string;
  /** The whole argv, program first, as JSON text: one exact, ordered string a policy can compare. */
  argv: string;
  /** Sorted. */
  read: string[];
  /** Sorted. */
  write: string[];
  network: NonoNetwork;
  /** Sorted. */
  env: string[];
  timeoutMs: number;
}

/** The flag names of the nono CLI, in one place because they changed between nono releases. */
export interface NonoFlags {
  read: string;
  write: string;
  blockNetwork: string;
  allowDomain: string;
  allowPort: string;
}

/** Options of {@link nonoBackend}. */
export interface NonoBackendOptions {
  /** The nono executable. Default `nono` looked up in the broker's `PATH`. */
  nonoPath?: string;
  /** Overrides of {@link DEFAULT_NONO_FLAGS} for the installed nono version. */
  flags?: Partial<NonoFlags>;
  /**
   * The variables a spec may name: the operator's allowlist, never the spec's. Default none. Names that
   * steer the loader, a shell or an interpreter, and `NONO_*` (nono's own settings), are refused with
   * `INVALID_OPTIONS`.
   */
  allowedEnv?: readonly string[];
  /**
   * Where the values of allowed names come from at run time, and nono's `PATH` and `HOME` (which the
   * command inherits). Default `process.env`.
   */
  envSource?: Record<string, string | undefined>;
  maxOutputBytes?: number;
}

export const NONO_ACTION = 'broker.nono.run';
/** The declared shape of {@link NonoSpec}, from `infra/cedar/builtin-actions.json`. */
export const NONO_PARAMS_SHAPE: CedarType = builtinParamsShape(NONO_ACTION);
export const DEFAULT_NONO_FLAGS: NonoFlags = {
  read: '--read',
  write: '--write',
  blockNetwork: '--block-net',
  allowDomain: '--allow-domain',
  allowPort: '--allow-port',
};
const MAX_ITEMS = 256;
/** nono's own settings: a spec must not reconfigure the sandbox tool. */
const RESERVED_ENV = [/^NONO_/i];
const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DOMAIN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})+$`);
const PORT_RANGE = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/;

/** An absolute, normalised path: no `.`/`..` segments, no `//`, no trailing `/` (except `/` itself). */
function absolutePath(value: unknown, where: string): string {
  const path = assertSafeString(value, where);
  if (!path.startsWith('/')) invalidSpec(`${where} must be an absolute path, got \`${path}\``);
  if (path !== '/') {
    const parts = path.slice(1).split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) {
      invalidSpec(`${where} must be normalised (no \`.\`, \`..\` or empty segments), got \`${path}\``);
    }
  }
  return path;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ITEMS) {
    invalidSpec(`${where} must be an array of at most ${MAX_ITEMS} items`);
  }
  return value;
}

function unique(items: string[], where: string): string[] {
  const seen = new Set<string>();
  for (const item of items) {
    if (seen.has(item)) invalidSpec(`${where} lists \`${item}\` twice`);
    seen.add(item);
  }
  return items;
}

/** `443` or `8000-8080`, each in 1-65535, low <= high; returned in that canonical text form. */
function portRange(value: unknown, where: string): string {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') invalidSpec(`${where} must be a port or a \`low-high\` range`);
  const match = PORT_RANGE.exec(text);
  if (match === null) invalidSpec(`${where} must be a port or a \`low-high\` range, got \`${text}\``);
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  if (low < 1 || high > 65_535 || low > high) {
    invalidSpec(`${where} must be within 1-65535 with low <= high, got \`${text}\``);
  }
  return low === high ? String(low) : `${low}-${high}`;
}

function validateNetwork(value: unknown): NonoNetwork {
  if (value === undefined) return { mode: 'blocked', domains: [], ports: [] };
  if (!isPlainObject(value)) invalidSpec('`network` must be an object');
  assertOnlyKeys(value, ['mode', 'domains', 'ports'], '`network`');
  const mode = value['mode'];
  if (mode === 'blocked') {
    if (value['domains'] !== undefined || value['ports'] !== undefined) {
      invalidSpec('`network.mode` `blocked` conflicts with `domains` or `ports`');
    }
    return { mode, domains: [], ports: [] };
  }
  if (mode !== 'allowlist')
    invalidSpec(`\`network.mode\` must be \`blocked\` or \`allowlist\`, got \`${String(mode)}\``);
  const domains = unique(
    list(value['domains'], '`network.domains`').map((d, i) => {
      const domain = assertSafeString(d, `\`network.domains[${i}]\``);
      if (domain.length > 253 || !DOMAIN.test(domain)) {
        invalidSpec(`\`network.domains[${i}]\` must be a lower-case host name, got \`${domain}\``);
      }
      return domain;
    }),
    '`network.domains`',
  );
  if (domains.length === 0) invalidSpec('`network.mode` `allowlist` needs at least one domain');
  const ports = unique(
    list(value['ports'], '`network.ports`').map((p, i) => portRange(p, `\`network.ports[${i}]\``)),
    '`network.ports`',
  );
  return { mode, domains: domains.sort(), ports: ports.sort() };
}

/**
 * Validates a permissions manifest strictly and returns the canonical spec: defaults filled in, lists
 * sorted, `env` names checked against `allowedEnv` (before anything is read from the host), the program
 * file hashed.
 */
export async function validateNonoSpec(
  input: unknown,
  options: { allowedEnv?: readonly string[] } = {},
): Promise<NonoSpec> {
  if (!isPlainObject(input)) invalidSpec('the nono spec must be an object');
  assertOnlyKeys(input, ['command', 'read', 'write', 'network', 'env', 'timeoutMs'], 'the nono spec');
  const rawCommand = input['command'];
  if (!Array.isArray(rawCommand) || rawCommand.length === 0 || rawCommand.length > MAX_ITEMS) {
    invalidSpec(`\`command\` must be an array of 1 to ${MAX_ITEMS} strings`);
  }
  const command = rawCommand.map((arg, i) =>
    i === 0 ? programPath(arg, '`command[0]`') : assertSafeString(arg, `\`command[${i}]\``),
  );
  const read = unique(
    list(input['read'], '`read`').map((p, i) => absolutePath(p, `\`read[${i}]\``)),
    '`read`',
  );
  const write = unique(
    list(input['write'], '`write`').map((p, i) => absolutePath(p, `\`write[${i}]\``)),
    '`write`',
  );
  for (const path of write) {
    if (path === '/') invalidSpec('`write` must not grant `/`');
    if (read.includes(path)) invalidSpec(`\`${path}\` is in both \`read\` and \`write\`; list it once`);
  }
  const network = validateNetwork(input['network']);
  const env = envNames(input['env'], envAllowlist(options.allowedEnv, 'nono', RESERVED_ENV));
  const timeoutMs = integerIn(input['timeoutMs'], 1, 600_000, '`timeoutMs`', 60_000);
  const program = command[0] as string;
  return {
    program,
    programSha256: await programSha256(program, '`command[0]`'),
    argv: JSON.stringify(command),
    read: read.sort(),
    write: write.sort(),
    network,
    env,
    timeoutMs,
  };
}

/** The `nono` argv (after the executable) for a canonical spec. Pure. */
export function nonoArgs(spec: NonoSpec, flags: NonoFlags = DEFAULT_NONO_FLAGS): string[] {
  const args = ['run'];
  for (const path of spec.read) args.push(flags.read, path);
  for (const path of spec.write) args.push(flags.write, path);
  if (spec.network.mode === 'blocked') {
    args.push(flags.blockNetwork);
  } else {
    for (const domain of spec.network.domains) args.push(flags.allowDomain, domain);
    for (const port of spec.network.ports) args.push(flags.allowPort, port);
  }
  // `--`: nothing of the command is ever read as a nono option.
  args.push('--', ...(JSON.parse(spec.argv) as string[]));
  return args;
}

/** The nono {@link BrokerBackend}. Throws `INVALID_OPTIONS` for unsafe options. */
export function nonoBackend(options: NonoBackendOptions = {}): BrokerBackend<NonoSpec> {
  const allowedEnv = [...envAllowlist(options.allowedEnv, 'nono', RESERVED_ENV)];
  const source = options.envSource ?? process.env;
  const flags = { ...DEFAULT_NONO_FLAGS, ...options.flags };
  return {
    name: 'nono',
    validate: (input) => validateNonoSpec(input, { allowedEnv }),
    async execute(spec: NonoSpec): Promise<ExecutionResult> {
      // As late as possible: nono execs the path itself, so this narrows the window but cannot close it.
      await assertProgramUnchanged(spec.program, spec.programSha256);
      const env = { ...envValues(['PATH', 'HOME'], source), ...envValues(spec.env, source) };
      return runProcess([options.nonoPath ?? 'nono', ...nonoArgs(spec, flags)], {
        env,
        timeoutMs: spec.timeoutMs,
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
      });
    },
  };
}

/** A {@link Broker} running nono specs; the action defaults to `broker.nono.run`. */
export function createNonoBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & NonoBackendOptions,
): Broker<NonoSpec> {
  return new Broker(nonoBackend(options), { ...options, action: options.action ?? NONO_ACTION });
}
