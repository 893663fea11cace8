import { lstatSync, readlinkSync } from 'node:fs';

/** A numeric uid and gid. */
export interface SandboxUser {
  uid: number;
  gid: number;
}

/** How bwrap is started. */
export interface BwrapLaunch {
  bwrapPath: string;
  /** The uid and gid the command gets inside the sandbox. */
  sandboxUser: SandboxUser;
}

/** What to run: the argv, the resolved path where the program's bytes (read from fd 3) go, the variables. */
export interface BwrapRun {
  command: readonly string[];
  programRealPath: string;
  env: Record<string, string>;
}

/**
 * bwrap's own argv, and its setup options. The options travel NUL-separated on descriptor 4 (`--args 4`),
 * so approved variable values never show in the host's process list; the program's bytes travel on
 * descriptor 3. Only the command itself stays in the argv (bwrap takes it only from there).
 */
export interface BwrapInvocation {
  argv: string[];
  /** The setup options, as the bytes written to descriptor 4. */
  setup: Buffer;
  /** The same options as a list, for reading. */
  setupArgs: string[];
}

/** Top-level directories bound read-only (or recreated as the host's symlinks). */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
/** The minimal `/etc`: users, the loader cache, Debian alternatives, the zone. No resolver (no network). */
export const ETC_FILES = [
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
  '/etc/localtime',
];

/**
 * The invocation for one run (pure but for reading the host's top-level layout). Throws a plain `Error`
 * when an option would carry a NUL (a value from the broker's environment source).
 */
export function bwrapInvocation(run: BwrapRun, launch: BwrapLaunch): BwrapInvocation {
  const setupArgs: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(dir);
    } catch {
      continue;
    }
    if (stat.isSymbolicLink()) setupArgs.push('--symlink', readlinkSync(dir), dir);
    else if (stat.isDirectory()) setupArgs.push('--ro-bind', dir, dir);
  }
  for (const file of ETC_FILES) setupArgs.push('--ro-bind-try', file, file);
  const program = run.command[0];
  if (program === undefined) throw new Error('the command is empty');
  setupArgs.push(
    '--unshare-all',
    // Explicit, so bwrap fails rather than silently running without a user namespace (--uid needs one).
    '--unshare-user',
    // No user namespace inside: the command cannot give itself capabilities in a namespace of its own.
    '--disable-userns',
    '--uid',
    String(launch.sandboxUser.uid),
    '--gid',
    String(launch.sandboxUser.gid),
    '--cap-drop',
    'ALL',
    '--die-with-parent',
    '--new-session',
    '--tmpfs',
    '/tmp',
    '--proc',
    '/proc',
    // The sandbox's pid 1 is bwrap's reaper: its environment and argv are none of the command's business.
    '--tmpfs',
    '/proc/1',
    '--remount-ro',
    '/proc/1',
    '--dev',
    '/dev',
    // The approved bytes, copied by bwrap from fd 3, replace whatever the path holds on the host.
    '--perms',
    '0555',
    '--ro-bind-data',
    '3',
    run.programRealPath,
  );
  // A symlinked program outside the bound directories: recreate the link, the host's is not there.
  if (program !== run.programRealPath && !isBound(program)) {
    setupArgs.push('--symlink', run.programRealPath, program);
  }
  setupArgs.push(
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
  for (const [name, value] of Object.entries(run.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    setupArgs.push('--setenv', name, value);
  }
  if (setupArgs.some((arg) => arg.includes('\0'))) {
    throw new Error('a bwrap option carries a NUL byte (an environment value?)');
  }
  return {
    argv: [launch.bwrapPath, '--args', '4', '--', ...run.command],
    setup: Buffer.from(setupArgs.map((arg) => `${arg}\0`).join(''), 'utf8'),
    setupArgs,
  };
}

/** True when `path` lies in a tree bound from the host (so the host's symlinks are visible there). */
function isBound(path: string): boolean {
  return (
    SYSTEM_DIRS.some((dir) => path.startsWith(`${dir}/`)) ||
    ETC_FILES.some((file) => path === file || path.startsWith(`${file}/`))
  );
}
