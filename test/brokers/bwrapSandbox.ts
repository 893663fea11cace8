import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What the bwrap tests share: whether bubblewrap can run here, and a work dir the sandbox user can use. */

const probe = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', '--', '/usr/bin/true']);
/** True when bubblewrap is installed and can create namespaces on this host. */
export const hasBwrap = probe.status === 0;
export const isRoot = process.geteuid?.() === 0;

export function warnIfNoBwrap(file: string): void {
  if (!hasBwrap) {
    console.warn(
      `${file}: bwrap tests skipped: bubblewrap is missing or cannot create namespaces here (apt-get install -y bubblewrap)`,
    );
  }
}

/**
 * A temp dir for wrapper scripts and markers. As root the broker starts bwrap as `nobody`, so the dir must
 * be searchable and its `marks/` writable by everyone (sticky, like /tmp).
 */
export async function bwrapWorkDir(prefix: string): Promise<{ work: string; marks: string }> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  await chmod(work, 0o755);
  const marks = join(work, 'marks');
  await mkdir(marks);
  await chmod(marks, 0o1777);
  return { work, marks };
}
