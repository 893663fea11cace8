import { BrokerError } from '../BrokerError.js';
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
import { loadApprovedProgram, programPath, programSha256, readProgram } from '../program.js';
import { runProcess } from '../runProcess.js';
import { type BwrapLaunch, bwrapInvocation, type SandboxUser } from './bwrapInvocation.js';
import { sandboxStatusProblems } from './sandboxStatus.js';

/**
 * The bubblewrap broker: runs an approved command in a throw-away Linux sandbox. Read-only `/usr` (and
 * `/bin`, `/lib*` as the host lays them out), a handful of `/etc` files, every namespace unshared (so no
 * network at all, not even the host's loopback), an unprivileged uid and gid with every capability dropped
 * and no further user namespaces, a private tmpfs `/tmp` as the only writable place, a fresh `/proc` (with
 * the sandbox's pid 1 hidden) and `/dev`, the approved program's bytes as the broker hashed them, an empty
 * environment plus the operator-allowed names, a new session (no terminal injection), killed with its
 * parent, and a wall-clock timeout that kills the whole process group. When the broker runs as root, bwrap
 * itself is started as an unprivileged host user too.
 */

/** What an agent asks to run. */
export interface BwrapInput {
  /** Absolute path of the program, then its arguments. No shell. */
  command: string[];
  /** Names of variables passed in, each in the operator's `allowedEnv`. Default none. */
  env?: string[];
  /** Wall-clock limit. Default 30 000 ms, at most 600 000. */
  timeoutMs?: number;
}

/**
 * The canonical spec: what is sent as `params`, hashed into `params_sha256`, and read by policies as
 * `context.params` (shape: {@link BWRAP_PARAMS_SHAPE}).
 */
export interface BwrapSpec {
  /** `command[0]` as given. */
  program: string;
  /** SHA-256 hex of the program file the broker read (symlinks followed): the content approved. */
  programSha256: string;
  /** The whole argv, program first, as JSON text: one exact, ordered string a policy can compare. */
  argv: string;
  /** Names of the variables passed in, sorted. */
  env: string[];
  /** Always `none`: the sandbox has its own empty network namespace. */
  network: 'none';
  timeoutMs: number;
}

/** Options of {@link bwrapBackend}. */
export interface BwrapBackendOptions {
  /** The bubblewrap executable. Default `bwrap` (looked up in `/usr/bin:/bin`). */
  bwrapPath?: string;
  /**
   * The variables a spec may name: the operator's allowlist, never the spec's. Default none. Names that
   * steer the loader, a shell or an interpreter (`LD_*`, `PATH`, `BASH_ENV`, `PYTHON*` ...) are refused
   * with `INVALID_OPTIONS`.
   */
  allowedEnv?: readonly string[];
  /** Where the values of allowed names come from at run time. Default `process.env`. */
  envSource?: Record<string, string | undefined>;
  /** Largest number of bytes kept of stdout and of stderr (the digest covers all). Default 1 MiB. */
  maxOutputBytes?: number;
  /** The uid and gid the command runs as inside the sandbox. Default 65534:65534 (`nobody`). Never 0. */
  sandboxUser?: SandboxUser;
  /**
   * When the broker runs as root: the host uid and gid bwrap is started as, so the sandbox's user maps to
   * an unprivileged host user rather than to root. Default 65534:65534; `null` keeps root (only for hosts
   * that forbid unprivileged user namespaces; the probe still refuses capabilities or uid 0 inside).
   * Ignored when the broker is not root.
   */
  hostUser?: SandboxUser | null;
}

export const BWRAP_ACTION = 'broker.bwrap.run';
/** The declared shape of {@link BwrapSpec}, from `infra/cedar/builtin-actions.json`. */
export const BWRAP_PARAMS_SHAPE: CedarType = builtinParamsShape(BWRAP_ACTION);
export const DEFAULT_BWRAP_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 600_000;
const MAX_ARGS = 256;
const NOBODY: SandboxUser = { uid: 65_534, gid: 65_534 };
const PROBE_TIMEOUT_MS = 10_000;
/** A program every host has, run by the preflight probe to print its own credentials. */
const PROBE_PROGRAMS = ['/usr/bin/cat', '/bin/cat'];

/**
 * Validates an input strictly and returns the canonical spec: defaults filled in, `env` names checked
 * against `allowedEnv` (before anything is read from the host), the program file hashed.
 */
export async function validateBwrapSpec(
  input: unknown,
  options: { allowedEnv?: readonly string[] } = {},
): Promise<BwrapSpec> {
  if (!isPlainObject(input)) invalidSpec('the bwrap spec must be an object');
  assertOnlyKeys(input, ['command', 'env', 'timeoutMs'], 'the bwrap spec');
  const command = input['command'];
  if (!Array.isArray(command) || command.length === 0 || command.length > MAX_ARGS) {
    invalidSpec(`\`command\` must be an array of 1 to ${MAX_ARGS} strings`);
  }
  const argv = command.map((arg, i) =>
    i === 0 ? programPath(arg, '`command[0]`') : assertSafeString(arg, `\`command[${i}]\``),
  );
  const env = envNames(input['env'], envAllowlist(options.allowedEnv, 'bwrap'));
  const timeoutMs = integerIn(input['timeoutMs'], 1, MAX_TIMEOUT_MS, '`timeoutMs`', DEFAULT_BWRAP_TIMEOUT_MS);
  const program = argv[0] as string;
  return {
    program,
    programSha256: await programSha256(program, '`command[0]`'),
    argv: JSON.stringify(argv),
    env,
    network: 'none',
    timeoutMs,
  };
}

/** The bwrap {@link BrokerBackend}. Throws `INVALID_OPTIONS` for unsafe options. */
export function bwrapBackend(options: BwrapBackendOptions = {}): BrokerBackend<BwrapSpec> {
  const allowedEnv = [...envAllowlist(options.allowedEnv, 'bwrap')];
  const source = options.envSource ?? process.env;
  const sandboxUser = checkedUser(options.sandboxUser ?? NOBODY, 'sandboxUser');
  const isRoot = process.geteuid?.() === 0;
  const hostUser =
    isRoot && options.hostUser !== null ? checkedUser(options.hostUser ?? NOBODY, 'hostUser') : null;
  const launch: BwrapLaunch = { bwrapPath: options.bwrapPath ?? 'bwrap', sandboxUser };

  const start = (
    command: readonly string[],
    program: Buffer,
    realPath: string,
    env: Record<string, string>,
    timeoutMs: number,
  ) => {
    const invocation = bwrapInvocation({ command, programRealPath: realPath, env }, launch);
    return runProcess(invocation.argv, {
      // bwrap gets nothing but a PATH; the sandbox's environment is --clearenv then --setenv (via fd 4).
      env: { PATH: '/usr/bin:/bin' },
      timeoutMs,
      cwd: '/',
      extraFds: [program, invocation.setup],
      ...(hostUser !== null ? { uid: hostUser.uid, gid: hostUser.gid } : {}),
      ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
    });
  };

  // INVARIANT: no command runs until a probe in the same sandbox configuration saw no capability and no
  // uid or gid 0; a passing verdict is cached for this backend, a failing one is probed again next time.
  let verdict: Promise<void> | undefined;
  const probe = async (): Promise<void> => {
    const found = await firstProbeProgram();
    const result = await start(
      [found.path, '/proc/self/status'],
      found.file.bytes,
      found.file.realPath,
      {},
      PROBE_TIMEOUT_MS,
    );
    const problems =
      result.exitCode === 0
        ? sandboxStatusProblems(result.stdout.toString('utf8'))
        : [`the probe exited with \`${String(result.exitCode)}\`: ${firstLine(result.stderr)}`];
    if (problems.length > 0) {
      throw new BrokerError(
        'SANDBOX_UNSAFE',
        `the bwrap sandbox is not safe to run in: ${problems.join('; ')}`,
      );
    }
  };
  const ensureSafe = (): Promise<void> => {
    verdict ??= probe().catch((err: unknown) => {
      verdict = undefined;
      throw err;
    });
    return verdict;
  };

  return {
    name: 'bwrap',
    validate: (input) => validateBwrapSpec(input, { allowedEnv }),
    async execute(spec: BwrapSpec): Promise<ExecutionResult> {
      await ensureSafe();
      const command = JSON.parse(spec.argv) as string[];
      // The bytes hashed here are the bytes bwrap copies into the sandbox: nothing can swap them in between.
      const program = await loadApprovedProgram(spec.program, spec.programSha256);
      return start(command, program.bytes, program.realPath, envValues(spec.env, source), spec.timeoutMs);
    },
  };
}

/** A {@link Broker} running bwrap specs; the action defaults to `broker.bwrap.run`. */
export function createBwrapBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & BwrapBackendOptions,
): Broker<BwrapSpec> {
  return new Broker(bwrapBackend(options), { ...options, action: options.action ?? BWRAP_ACTION });
}

function checkedUser(user: SandboxUser, name: string): SandboxUser {
  const ok = (id: unknown) =>
    typeof id === 'number' && Number.isSafeInteger(id) && id > 0 && id < 4_294_967_295;
  if (!isPlainObject(user) || !ok(user.uid) || !ok(user.gid)) {
    throw new BrokerError(
      'INVALID_OPTIONS',
      `the bwrap \`${name}\` must be \`{uid, gid}\` with both in [1, 4294967294], got \`${JSON.stringify(user)}\``,
    );
  }
  return { uid: user.uid, gid: user.gid };
}

async function firstProbeProgram(): Promise<{ path: string; file: Awaited<ReturnType<typeof readProgram>> }> {
  for (const path of PROBE_PROGRAMS) {
    try {
      return { path, file: await readProgram(path) };
    } catch {
      // Try the next one.
    }
  }
  throw new BrokerError(
    'SANDBOX_UNSAFE',
    `the bwrap sandbox cannot be checked: none of ${PROBE_PROGRAMS.join(', ')} is readable`,
  );
}

function firstLine(bytes: Buffer): string {
  return bytes.toString('utf8').split('\n')[0]?.slice(0, 200) ?? '';
}
