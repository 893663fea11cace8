import { lstatSync, readlinkSync } from 'node:fs';
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
 * The bubblewrap broker: runs an approved command in a throw-away Linux sandbox. Read-only `/usr` (and
 * `/bin`, `/lib*` as the host lays them out), a handful of `/etc` files, every namespace unshared (so no
 * network at all, not even the host's loopback), a private tmpfs `/tmp` as the only writable place, a
 * fresh `/proc` and `/dev`, an empty environment plus the approved names, a new session (no terminal
 * injection), killed with its parent, and a wall-clock timeout that kills the whole process group.
 */

/** What the agent asks to run. Environment *names* only: values come from the broker's environment. */
export interface BwrapSpec {
  /** Absolute path of the program, then its arguments. No shell. */
  command: string[];
  /** Names of the broker's environment variables passed in. Default none. */
  env: string[];
  /** Wall-clock limit. Default 30 000 ms, at most 600 000. */
  timeoutMs: number;
}

/** Options of {@link bwrapBackend}. */
export interface BwrapBackendOptions {
  /** The bubblewrap executable. Default `bwrap` (looked up in `/usr/bin:/bin`). */
  bwrapPath?: string;
  /** Where the values of `env` names come from. Default `process.env`. */
  envSource?: Record<string, string | undefined>;
  /** Largest number of bytes kept of stdout and of stderr. Default 1 MiB. */
  maxOutputBytes?: number;
}

export const BWRAP_ACTION = 'broker.bwrap.run';
export const DEFAULT_BWRAP_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 600_000;
const MAX_ARGS = 256;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** The loader obeys these even for set-uid-free programs; approving a name must not approve a library. */
const FORBIDDEN_ENV = /^(LD_|GCONV_PATH$|LOCPATH$|NLSPATH$|HOSTALIASES$|RESOLV_HOST_CONF$)/;
/** Top-level directories bound read-only (or recreated as the host's symlinks). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** The minimal `/etc`: users, the loader cache, Debian alternatives, the zone. No resolver (no network). */
const ETC_FILES = [
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/localtime',
];

/** Validates a bwrap spec strictly and returns it with its defaults filled in. */
export function validateBwrapSpec(input: unknown): BwrapSpec {
  if (!isPlainObject(input)) invalidSpec('the bwrap spec must be an object');
  assertOnlyKeys(input, ['command', 'env', 'timeoutMs'], 'the bwrap spec');
  const command = input['command'];
  if (!Array.isArray(command) || command.length === 0 || command.length > MAX_ARGS) {
    invalidSpec(`\`command\` must be an array of 1 to ${MAX_ARGS} strings`);
  }
  const argv = command.map((arg, i) => assertSafeString(arg, `\`command[${i}]\``));
  const program = argv[0] as string;
  if (!program.startsWith('/')) invalidSpec(`\`command[0]\` must be an absolute path, got \`${program}\``);
  if (program.split('/').some((part) => part === '..' || part === '.')) {
    invalidSpec(`\`command[0]\` must not contain \`.\` or \`..\` segments, got \`${program}\``);
  }
  const rawEnv = input['env'] ?? [];
  if (!Array.isArray(rawEnv)) invalidSpec('`env` must be an array of variable names');
  const env: string[] = [];
  for (const [i, name] of rawEnv.entries()) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      invalidSpec(`\`env[${i}]\` must be a variable name matching ${ENV_NAME}, got \`${String(name)}\``);
    }
    if (FORBIDDEN_ENV.test(name)) invalidSpec(`\`env[${i}]\` \`${name}\` would steer the dynamic loader`);
    if (env.includes(name)) invalidSpec(`\`env[${i}]\` \`${name}\` is listed twice`);
    env.push(name);
  }
  const timeoutMs = integerIn(input['timeoutMs'], 1, MAX_TIMEOUT_MS, '`timeoutMs`', DEFAULT_BWRAP_TIMEOUT_MS);
  return { command: argv, env, timeoutMs };
}

/**
 * The bubblewrap argv for a validated spec (pure but for reading the host's top-level layout).
 * `envValues` are the values of `spec.env` names that are set.
 */
export function bwrapArgv(spec: BwrapSpec, envValues: Record<string, string>, bwrapPath = 'bwrap'): string[] {
  const argv = [bwrapPath];
  for (const dir of SYSTEM_DIRS) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(dir);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) argv.push('--symlink', readlinkSync(dir), dir);
    else if (stat.isDirectory()) argv.push('--ro-bind', dir, dir);
  }
  for (const file of ETC_FILES) argv.push('--ro-bind-try', file, file);
  argv.push(
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--tmpfs',
    '/tmp',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    // The sandbox root is a tmpfs bwrap made; without this, anything outside the binds is writable.
    '--remount-ro',
    '/',
    '--chdir',
    '/tmp',
    '--clearenv',
    '--setenv',
    'PATH',
    '/usr/bin:/bin',
    '--setenv',
    'HOME',
    '/tmp',
  );
  for (const name of spec.env) {
    const value = envValues[name];
    if (value !== undefined) argv.push('--setenv', name, value);
  }
  argv.push('--', ...spec.command);
  return argv;
}

/** The bwrap {@link BrokerBackend}. */
export function bwrapBackend(options: BwrapBackendOptions = {}): BrokerBackend<BwrapSpec> {
  const source = options.envSource ?? process.env;
  return {
    name: 'bwrap',
    validate: validateBwrapSpec,
    async execute(spec: BwrapSpec): Promise<ExecutionResult> {
      const values: Record<string, string> = {};
      for (const name of spec.env) {
        const value = source[name];
        if (value !== undefined) values[name] = value;
      }
      const result = await runProcess(bwrapArgv(spec, values, options.bwrapPath), {
        // bwrap itself gets nothing but a PATH to be found; the sandbox's environment is set by --setenv.
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: spec.timeoutMs,
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
      });
      return result;
    },
  };
}

/** A {@link Broker} running {@link BwrapSpec}s; the action defaults to `broker.bwrap.run`. */
export function createBwrapBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & BwrapBackendOptions,
): Broker<BwrapSpec> {
  return new Broker(bwrapBackend(options), { ...options, action: options.action ?? BWRAP_ACTION });
}
