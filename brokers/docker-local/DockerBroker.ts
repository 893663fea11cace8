import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { runProcess } from '../runProcess.js';

/**
 * The Docker broker: `docker run` of an approved image, pinned by digest, and command with every hardening
 * flag on: removed after, no network, read-only root (a small `noexec` tmpfs on `/tmp`), all capabilities
 * dropped, no new privileges, a non-root user, pids/memory/cpu limits, and a wall-clock timeout that kills
 * the CLI's process group and the container (by its generated name). Approved variables reach the
 * container through an env file on a descriptor: never in the CLI's argv, never in its environment.
 */

/** What an agent asks to run. */
export interface DockerInput {
  /** Image reference without a digest, e.g. `alpine:3.20` or `registry.local:5000/tools/jq`. */
  image: string;
  /** `sha256:<64 hex>`, required: the image is run as `<image>@<digest>`, so its content is what is approved. */
  digest: string;
  /** Arguments after the image (the image's entrypoint still applies). Default none. */
  command?: string[];
  /** Names of variables passed in, each in the operator's `allowedEnv`. Default none. */
  env?: string[];
  /** Numeric `uid:gid`, never uid 0. Default `65534:65534` (nobody). */
  user?: string;
  /** Default 64. */
  pidsLimit?: number;
  /** Default 256. */
  memoryMb?: number;
  /** CPUs in thousandths (`--cpus` = cpuMillis / 1000). Default 1000. */
  cpuMillis?: number;
  /** Default 60 000 ms, at most 600 000. */
  timeoutMs?: number;
}

/**
 * The canonical spec: what is sent as `params`, hashed into `params_sha256`, and read by policies as
 * `context.params` (shape: {@link DOCKER_PARAMS_SHAPE}).
 */
export interface DockerSpec {
  image: string;
  digest: string;
  /** The arguments after the image, as JSON text: one exact, ordered string a policy can compare. */
  argv: string;
  /** Names of the variables passed in, sorted. */
  env: string[];
  user: string;
  /** Always `none` (`--network none`). */
  network: 'none';
  pidsLimit: number;
  memoryMb: number;
  cpuMillis: number;
  timeoutMs: number;
}

/** Options of {@link dockerBackend}. */
export interface DockerBackendOptions {
  /** The docker CLI. Default `docker` looked up in the broker's `PATH`. */
  dockerPath?: string;
  /**
   * The variables a spec may name: the operator's allowlist, never the spec's. Default none. Names that
   * steer the loader, a shell or an interpreter are refused with `INVALID_OPTIONS`.
   */
  allowedEnv?: readonly string[];
  /**
   * Where the values of allowed names come from at run time, and the CLI's own `PATH`, `HOME` and
   * `DOCKER_*` connection settings. Default `process.env`.
   */
  envSource?: Record<string, string | undefined>;
  maxOutputBytes?: number;
}

export const DOCKER_ACTION = 'broker.docker.run';
/** The declared shape of {@link DockerSpec}, from `infra/cedar/builtin-actions.json`. */
export const DOCKER_PARAMS_SHAPE: CedarType = builtinParamsShape(DOCKER_ACTION);
const IMAGE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const USER = /^([0-9]{1,10}):([0-9]{1,10})$/;
const MAX_ARGS = 256;
const FIELDS = [
  'image',
  'digest',
  'command',
  'env',
  'user',
  'pidsLimit',
  'memoryMb',
  'cpuMillis',
  'timeoutMs',
] as const;
/** What the CLI itself needs from the broker's environment to find itself and the daemon. */
const CLI_ENV = [
  'PATH',
  'HOME',
  'DOCKER_HOST',
  'DOCKER_CONFIG',
  'DOCKER_CONTEXT',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
];
/** docker reads env-file lines with a 64 KiB scanner; stay well under it. */
const MAX_ENV_LINE = 60_000;

/** Validates an input strictly and returns the canonical spec, defaults filled in. */
export function validateDockerSpec(
  input: unknown,
  options: { allowedEnv?: readonly string[] } = {},
): DockerSpec {
  if (!isPlainObject(input)) invalidSpec('the docker spec must be an object');
  assertOnlyKeys(input, FIELDS, 'the docker spec');
  const image = assertSafeString(input['image'], '`image`');
  if (image.length > 255 || !IMAGE.test(image)) {
    invalidSpec(`\`image\` must be a plain image reference (digest in \`digest\`), got \`${image}\``);
  }
  const digest = input['digest'];
  if (typeof digest !== 'string' || !DIGEST.test(digest)) {
    invalidSpec(`\`digest\` must be \`sha256:\` and 64 lower-case hex digits, got \`${String(digest)}\``);
  }
  const rawCommand = input['command'] ?? [];
  if (!Array.isArray(rawCommand) || rawCommand.length > MAX_ARGS) {
    invalidSpec(`\`command\` must be an array of at most ${MAX_ARGS} strings`);
  }
  const command = rawCommand.map((arg, i) => assertSafeString(arg, `\`command[${i}]\``));
  const env = envNames(input['env'], envAllowlist(options.allowedEnv, 'docker'));
  const user = input['user'] ?? '65534:65534';
  const match = typeof user === 'string' ? USER.exec(user) : null;
  if (match === null) invalidSpec(`\`user\` must be a numeric \`uid:gid\`, got \`${String(user)}\``);
  if (Number(match[1]) === 0) invalidSpec('`user` must not be root (uid 0)');
  return {
    image,
    digest,
    argv: JSON.stringify(command),
    env,
    user: user as string,
    network: 'none',
    pidsLimit: integerIn(input['pidsLimit'], 1, 4096, '`pidsLimit`', 64),
    memoryMb: integerIn(input['memoryMb'], 6, 65_536, '`memoryMb`', 256),
    cpuMillis: integerIn(input['cpuMillis'], 10, 64_000, '`cpuMillis`', 1000),
    timeoutMs: integerIn(input['timeoutMs'], 1, 600_000, '`timeoutMs`', 60_000),
  };
}

/**
 * The `docker run` argv (after the executable) for a canonical spec and a container name. Pure. `envFile`
 * is the path docker reads the variables from (a descriptor, `/dev/fd/3`), when there are any.
 */
export function dockerRunArgs(spec: DockerSpec, containerName: string, envFile?: string): string[] {
  const args = [
    'run',
    '--rm',
    '--name',
    containerName,
    '--network',
    spec.network,
    '--read-only',
    '--tmpfs',
    '/tmp:rw,noexec,nosuid,nodev,size=64m',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '--user',
    spec.user,
    '--pids-limit',
    String(spec.pidsLimit),
    '--memory',
    `${spec.memoryMb}m`,
    '--memory-swap',
    `${spec.memoryMb}m`,
    '--cpus',
    (spec.cpuMillis / 1000).toFixed(3),
  ];
  if (envFile !== undefined) args.push('--env-file', envFile);
  args.push(`${spec.image}@${spec.digest}`, ...(JSON.parse(spec.argv) as string[]));
  return args;
}

/**
 * The env-file text for `values`. Throws a plain `Error` for a value docker's line format cannot carry
 * exactly (a NUL, CR or LF, a lone surrogate, a value wrapped in matching quotes, which newer CLIs strip,
 * or a line over {@link MAX_ENV_LINE} characters).
 */
export function dockerEnvFile(values: Record<string, string>): string {
  let text = '';
  for (const [name, value] of Object.entries(values)) {
    const quoted = value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0];
    if (
      /[\0\r\n]/.test(value) ||
      /\p{Cs}/u.test(value) ||
      quoted ||
      name.length + value.length + 1 > MAX_ENV_LINE
    ) {
      throw new Error(`the value of \`${name}\` cannot be passed exactly through docker's env file`);
    }
    text += `${name}=${value}\n`;
  }
  return text;
}

/** The docker {@link BrokerBackend}. Throws `INVALID_OPTIONS` for unsafe options. */
export function dockerBackend(options: DockerBackendOptions = {}): BrokerBackend<DockerSpec> {
  const allowedEnv = [...envAllowlist(options.allowedEnv, 'docker')];
  const source = options.envSource ?? process.env;
  const docker = options.dockerPath ?? 'docker';
  return {
    name: 'docker',
    validate: (input) => validateDockerSpec(input, { allowedEnv }),
    async execute(spec: DockerSpec): Promise<ExecutionResult> {
      // INVARIANT: the CLI's environment holds only its own settings, never a spec-named variable.
      const cliEnv = envValues(CLI_ENV, source);
      const values = envValues(spec.env, source);
      const name = `zt-${randomUUID()}`;
      const envFd = Object.keys(values).length > 0 ? await openedEnvFile(dockerEnvFile(values)) : undefined;
      try {
        return await runProcess(
          [docker, ...dockerRunArgs(spec, name, envFd === undefined ? undefined : '/dev/fd/3')],
          {
            env: cliEnv,
            timeoutMs: spec.timeoutMs,
            ...(envFd !== undefined ? { extraFds: [envFd.fd] } : {}),
            // Killing the CLI does not stop the container: stop it by name.
            onTimeout: () => {
              spawn(docker, ['kill', name], { env: cliEnv, stdio: 'ignore' }).on('error', () => undefined);
            },
            ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
          },
        );
      } finally {
        await envFd?.close();
      }
    },
  };
}

/**
 * `text` in a file that is already unlinked, open for reading: docker opens `/dev/fd/3`, which on Linux
 * reopens the file itself (a pipe from this process would be a socket, which cannot be reopened), and no
 * name for it is left on disk once this returns.
 */
async function openedEnvFile(text: string): Promise<FileHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-docker-env-'));
  try {
    const path = join(dir, 'env');
    await writeFile(path, text, { mode: 0o600 });
    return await open(path, 'r');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A {@link Broker} running docker specs; the action defaults to `broker.docker.run`. */
export function createDockerBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & DockerBackendOptions,
): Broker<DockerSpec> {
  return new Broker(dockerBackend(options), { ...options, action: options.action ?? DOCKER_ACTION });
}
