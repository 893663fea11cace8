import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
 * The Docker broker: `docker run` of an approved image and command with every hardening flag on: removed
 * after, no network, read-only root (a small `noexec` tmpfs on `/tmp`), all capabilities dropped, no new
 * privileges, a non-root user, pids/memory/cpu limits, the image pinned by digest when one is given, and a
 * wall-clock timeout that kills the CLI's process group and the container (by its generated name).
 */

/** What the agent asks to run. */
export interface DockerSpec {
  /** Image reference without a digest, e.g. `alpine:3.20` or `registry.local:5000/tools/jq`. */
  image: string;
  /** `sha256:<64 hex>`: when given the image is run as `<image>@<digest>`. */
  digest: string | null;
  /** Arguments after the image (the image's entrypoint still applies). Default none. */
  command: string[];
  /** Names of the broker's environment variables passed in with `-e NAME` (values never in argv). */
  env: string[];
  /** Numeric `uid:gid`, never uid 0. Default `65534:65534` (nobody). */
  user: string;
  /** Default 64. */
  pidsLimit: number;
  /** Default 256. */
  memoryMb: number;
  /** CPUs in thousandths (`--cpus` = cpuMillis / 1000). Default 1000. */
  cpuMillis: number;
  /** Default 60 000 ms, at most 600 000. */
  timeoutMs: number;
}

/** Options of {@link dockerBackend}. */
export interface DockerBackendOptions {
  /** The docker CLI. Default `docker` looked up in the broker's `PATH`. */
  dockerPath?: string;
  /** Refuse specs without `digest`. Default false. */
  requireDigest?: boolean;
  /** Where the values of `env` names come from (and `PATH`, `DOCKER_HOST`). Default `process.env`. */
  envSource?: Record<string, string | undefined>;
  maxOutputBytes?: number;
}

export const DOCKER_ACTION = 'broker.docker.run';
const IMAGE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const USER = /^([0-9]{1,10}):([0-9]{1,10})$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
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

/** Validates a docker spec strictly and returns it with its defaults filled in. */
export function validateDockerSpec(input: unknown, options: { requireDigest?: boolean } = {}): DockerSpec {
  if (!isPlainObject(input)) invalidSpec('the docker spec must be an object');
  assertOnlyKeys(input, FIELDS, 'the docker spec');
  const image = assertSafeString(input['image'], '`image`');
  if (image.length > 255 || !IMAGE.test(image)) {
    invalidSpec(`\`image\` must be a plain image reference (digest in \`digest\`), got \`${image}\``);
  }
  const digest = input['digest'] ?? null;
  if (digest !== null && (typeof digest !== 'string' || !DIGEST.test(digest))) {
    invalidSpec(`\`digest\` must be \`sha256:\` and 64 lower-case hex digits, got \`${String(digest)}\``);
  }
  if (digest === null && options.requireDigest) invalidSpec('`digest` is required by this broker');
  const rawCommand = input['command'] ?? [];
  if (!Array.isArray(rawCommand) || rawCommand.length > MAX_ARGS) {
    invalidSpec(`\`command\` must be an array of at most ${MAX_ARGS} strings`);
  }
  const command = rawCommand.map((arg, i) => assertSafeString(arg, `\`command[${i}]\``));
  const rawEnv = input['env'] ?? [];
  if (!Array.isArray(rawEnv)) invalidSpec('`env` must be an array of variable names');
  const env: string[] = [];
  for (const [i, name] of rawEnv.entries()) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      invalidSpec(`\`env[${i}]\` must be a variable name matching ${ENV_NAME}, got \`${String(name)}\``);
    }
    if (env.includes(name)) invalidSpec(`\`env[${i}]\` \`${name}\` is listed twice`);
    env.push(name);
  }
  const user = input['user'] ?? '65534:65534';
  const match = typeof user === 'string' ? USER.exec(user) : null;
  if (match === null) invalidSpec(`\`user\` must be a numeric \`uid:gid\`, got \`${String(user)}\``);
  if (Number(match[1]) === 0) invalidSpec('`user` must not be root (uid 0)');
  return {
    image,
    digest: digest as string | null,
    command,
    env,
    user: user as string,
    pidsLimit: integerIn(input['pidsLimit'], 1, 4096, '`pidsLimit`', 64),
    memoryMb: integerIn(input['memoryMb'], 6, 65_536, '`memoryMb`', 256),
    cpuMillis: integerIn(input['cpuMillis'], 10, 64_000, '`cpuMillis`', 1000),
    timeoutMs: integerIn(input['timeoutMs'], 1, 600_000, '`timeoutMs`', 60_000),
  };
}

/** The `docker run` argv (after the executable) for a validated spec and a container name. Pure. */
export function dockerRunArgs(spec: DockerSpec, containerName: string): string[] {
  const args = [
    'run',
    '--rm',
    '--name',
    containerName,
    '--network',
    'none',
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
  // `-e NAME` without a value: docker takes the value from its own environment, so no secret is in argv.
  for (const name of spec.env) args.push('-e', name);
  args.push(spec.digest === null ? spec.image : `${spec.image}@${spec.digest}`, ...spec.command);
  return args;
}

/** The docker {@link BrokerBackend}. */
export function dockerBackend(options: DockerBackendOptions = {}): BrokerBackend<DockerSpec> {
  const source = options.envSource ?? process.env;
  const docker = options.dockerPath ?? 'docker';
  return {
    name: 'docker',
    validate: (input) => validateDockerSpec(input, { requireDigest: options.requireDigest === true }),
    async execute(spec: DockerSpec): Promise<ExecutionResult> {
      const env: Record<string, string> = {};
      // The CLI needs to find itself and the daemon; nothing else of the broker's environment leaks.
      for (const name of ['PATH', 'HOME', 'DOCKER_HOST', 'DOCKER_CONFIG', ...spec.env]) {
        const value = source[name];
        if (value !== undefined) env[name] = value;
      }
      const name = `zt-${randomUUID()}`;
      return runProcess([docker, ...dockerRunArgs(spec, name)], {
        env,
        timeoutMs: spec.timeoutMs,
        // Killing the CLI does not stop the container: stop it by name.
        onTimeout: () => {
          spawn(docker, ['kill', name], { env, stdio: 'ignore' }).on('error', () => undefined);
        },
        ...(options.maxOutputBytes !== undefined ? { maxOutputBytes: options.maxOutputBytes } : {}),
      });
    },
  };
}

/** A {@link Broker} running {@link DockerSpec}s; the action defaults to `broker.docker.run`. */
export function createDockerBroker(
  options: Omit<BrokerOptions, 'action'> & { action?: string } & DockerBackendOptions,
): Broker<DockerSpec> {
  return new Broker(dockerBackend(options), { ...options, action: options.action ?? DOCKER_ACTION });
}
