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
import { runProcess } from '../runProcess.js';

/**
 * The nono broker: runs an approved command under `nono run` (Landlock on Linux, Seatbelt on macOS) with
 * capability flags generated from a permissions manifest. Everything not granted is denied; the network is
 * blocked unless the manifest lists domains. The manifest is validated strictly because every string in it
 * becomes a command-line argument of a security tool.
 */

/** Network permissions: blocked (the default), or an allow-list of domains and ports. */
export type NonoNetwork = { mode: 'blocked' } | { mode: 'allowlist'; domains: string[]; ports: string[] };

/** What the agent asks to run, with what it may touch. */
export interface NonoSpec {
  /** Absolute path of the program, then its arguments. */
  command: string[];
  /** Absolute paths readable (and nothing else). */
  read: string[];
  /** Absolute paths readable and writable. A path is in `read` or `write`, never both. */
  write: string[];
  network: NonoNetwork;
  /** Names of the broker's environment variables passed in. */
  env: string[];
  /** Default 60 000 ms, at most 600 000. */
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
  envSource?: Record<string, string | undefined>;
  maxOutputBytes?: number;
}

export const NONO_ACTION = 'broker.nono.run';
export const DEFAULT_NONO_FLAGS: NonoFlags = {
  read: '--read',
  write: '--write',
  blockNetwork: '--block-net',
  allowDomain: '--allow-domain',
  allowPort: '--allow-port',
};
const MAX_ITEMS = 256;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const FORBIDDEN_ENV = /^(LD_|DYLD_)/;
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
  if (value === undefined) return { mode: 'blocked' };
  if (!isPlainObject(value)) invalidSpec('`network` must be an object');
  assertOnlyKeys(value, ['mode', 'domains', 'ports'], '`network`');
  const mode = value['mode'];
  if (mode === 'blocked') {
    if (value['domains'] !== undefined || value['ports'] !== undefined) {
      invalidSpec('`network.mode` `blocked` conflicts with `domains` or `ports`');
    }
    return { mode };
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
  return { mode, domains, ports };
}

/** Validates a nono permissions manifest strictly and returns it with its defaults filled in. */
export function validateNonoSpec(input: unknown): NonoSpec {
  if (!isPlainObject(input)) invalidSpec('the nono spec must be an object');
  assertOnlyKeys(input, ['command', 'read', 'write', 'network', 'env', 'timeoutMs'], 'the nono spec');
  const rawCommand = input['command'];
  if (!Array.isArray(rawCommand) || rawCommand.length === 0 || rawCommand.length > MAX_ITEMS) {
    invalidSpec(`\`command\` must be an array of 1 to ${MAX_ITEMS} strings`);
  }
  const command = rawCommand.map((arg, i) =>
    i === 0 ? absolutePath(arg, '`command[0]`') : assertSafeString(arg, `\`command[${i}]\``),
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
  const env = unique(
    list(input['env'], '`env`').map((name, i) => {
      if (typeof name !== 'string' || !ENV_NAME.test(name)) {
        invalidSpec(`\`env[${i}]\` must be a variable name matching ${ENV_NAME}, got \`${String(name)}\``);
      }
      if (FORBIDDEN_ENV.test(name)) invalidSpec(`\`env[${i}]\` \`${name}\` would steer the dynamic loader`);
      return name;
    }),
    '`env`',
  );
  return {
    command,
    read,
    write,
    network: validateNetwork(input['network']),
    env,
    timeoutMs: integerIn(input['timeoutMs'], 1, 600_000, '`timeoutMs`', 60_000),
  };
}

/** The `nono` argv (after the executable) for a validated spec. Pure. */
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
  args.push('--', ...spec.command);
  return args;
}

/** The nono {@link BrokerBackend}. */
export function nonoBackend(options: NonoBackendOptions = {}): BrokerBackend<NonoSpec> {
  const source = options.envSource ?? process.env;
  const flags = { ...DEFAULT_NONO_FLAGS, ...options.flags };
  return {
    name: 'nono',
    validate: validateNonoSpec,
    async execute(spec: NonoSpec): Promise<ExecutionResult> {
      const env: Record<string, string> = {};
      for (const name of ['PATH', 'HOME', ...spec.env]) {
        const value = source[name];
        if (value !== undefined) env[name] = value;
      }
      return runProcess([options.nonoPath ?? 'nono', ...nonoArgs(spec, flags)], {
        env,
        timeoutMs: spec.timeoutMs,
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
      });
    },
  };
}

/** A {@link Broker} running {@link NonoSpec}s; the action defaults to `broker.nono.run`. */
export function createNonoBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & NonoBackendOptions,
): Broker<NonoSpec> {
  return new Broker(nonoBackend(options), { ...options, action: options.action ?? NONO_ACTION });
}
