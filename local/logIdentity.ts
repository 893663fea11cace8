import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, readFile, unlink } from 'node:fs/promises';

/** A log id: 128 random bits in lower-case hex. */
const LOG_ID = /^[0-9a-f]{32}$/;

/** A fresh log id, for a log that lives only in memory (nothing to keep it in). */
export function newLogId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The identity of the log kept in a data dir: a random id made the first time and stored in `path` (the
 * data dir's `log-id`), so two data dirs are two logs with two checkpoint origins, and one data dir keeps
 * its origin across restarts. A file that does not hold an id is refused rather than replaced: a new id
 * would silently make the same log look like another one to its witnesses.
 */
export async function loadOrCreateLogId(path: string): Promise<string> {
  const id = newLogId();
  // Written whole to a private temporary name, then linked into place: link() fails with EEXIST when
  // another emulator starting on the same data dir got there first, and then its complete file is read.
  const temporary = `${path}.${id}.tmp`;
  const handle = await open(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(`${id}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, path);
    return id;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  const stored = (await readFile(path, 'utf8')).trim();
  if (!LOG_ID.test(stored)) {
    throw new Error(
      `log id file \`${path}\` must hold 32 lower-case hex digits, got \`${stored.slice(0, 40)}\`; restore it, or start from an empty data dir with --reset`,
    );
  }
  return stored;
}
