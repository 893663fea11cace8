import { BrokerError } from './BrokerError.js';
import { invalidSpec } from './contract.js';

/**
 * Which environment variables a broker may pass to what it runs. The set is the broker operator's (a
 * constructor option), never the spec's: a spec may only pick names from it. Values are read by the broker
 * at run time and never go into `params`.
 */

/** A portable variable name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Names whose value chooses which code runs or what it trusts (the dynamic loader, shells, interpreters,
 * tools that run a command named in a variable). Approving such a name would approve code nobody reviewed, so they are
 * refused even in an operator's allowlist. The list cannot be complete: an operator must not allow a name
 * that the approved program itself treats as code.
 */
const STEERING_NAMES = new Set([
  // shells and the search path
  'PATH',
  'ENV',
  'BASH_ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'PROMPT_COMMAND',
  'IFS',
  'CDPATH',
  'GLOBIGNORE',
  'BASH_XTRACEFD',
  'HOME',
  'SHELL',
  // glibc
  'GCONV_PATH',
  'LOCPATH',
  'NLSPATH',
  'HOSTALIASES',
  'RESOLV_HOST_CONF',
  'GLIBC_TUNABLES',
  // interpreters
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_REPL_EXTERNAL_MODULE',
  'NODE_EXTRA_CA_CERTS',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'CLASSPATH',
  'TCLLIBPATH',
  // tools that run a command named in a variable
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'BROWSER',
  'LESSOPEN',
  'LESSCLOSE',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
]);

/** Prefixes of the same kind: the loader, exported bash functions, Perl, Python, Ruby, Lua, git, malloc. */
const STEERING_PREFIXES = [
  'LD_',
  'DYLD_',
  'BASH_FUNC_',
  'PERL',
  'PYTHON',
  'RUBY',
  'GEM_',
  'LUA_',
  'GIT_',
  'MALLOC_',
];

/** True when `name` steers which code runs, so no allowlist may hold it. */
export function steersCode(name: string): boolean {
  const upper = name.toUpperCase();
  return STEERING_NAMES.has(upper) || STEERING_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

/**
 * Checks an operator's allowlist once, at construction: names well formed, unique, none that steers code
 * and none in `reserved` (names the broker sets itself). Throws `INVALID_OPTIONS`.
 */
export function envAllowlist(
  names: readonly string[] | undefined,
  broker: string,
  reserved: readonly RegExp[] = [],
): ReadonlySet<string> {
  const allowed = new Set<string>();
  if (names === undefined) return allowed;
  if (!Array.isArray(names)) {
    throw new BrokerError('INVALID_OPTIONS', `the ${broker} \`allowedEnv\` must be an array of names`);
  }
  for (const name of names) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      throw new BrokerError(
        'INVALID_OPTIONS',
        `the ${broker} \`allowedEnv\` holds \`${String(name)}\`, expected a name matching ${ENV_NAME}`,
      );
    }
    if (steersCode(name) || reserved.some((re) => re.test(name))) {
      throw new BrokerError(
        'INVALID_OPTIONS',
        `the ${broker} \`allowedEnv\` holds \`${name}\`, which chooses what code runs or is set by the broker`,
      );
    }
    allowed.add(name);
  }
  return allowed;
}

/**
 * The spec's `env`: names from `allowed` only, each once, returned sorted (the order means nothing, and a
 * Cedar set has none). Throws `INVALID_SPEC`.
 */
export function envNames(raw: unknown, allowed: ReadonlySet<string>): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.length > 256) invalidSpec('`env` must be an array of at most 256 names');
  const names: string[] = [];
  for (const [i, name] of raw.entries()) {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      invalidSpec(`\`env[${i}]\` must be a variable name matching ${ENV_NAME}, got \`${String(name)}\``);
    }
    if (!allowed.has(name)) {
      invalidSpec(
        `\`env[${i}]\` \`${name}\` is not in the broker's allowlist, expected one of: ${[...allowed].join(', ') || '(none)'}`,
      );
    }
    if (names.includes(name)) invalidSpec(`\`env[${i}]\` \`${name}\` is listed twice`);
    names.push(name);
  }
  return names.sort();
}

/** The values of `names` that are set in `source` (an unset name is passed as absent, not as empty). */
export function envValues(
  names: readonly string[],
  source: Record<string, string | undefined>,
): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of names) {
    const value = source[name];
    if (value !== undefined) values[name] = value;
  }
  return values;
}
