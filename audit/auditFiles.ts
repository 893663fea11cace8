import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Bad arguments: exit 2, nothing was verified. */
export class AuditUsageError extends Error {
  readonly code: string = 'USAGE';
}

/** A file that cannot be read: exit 2 too, but the usage text would not help. */
export class AuditInputError extends AuditUsageError {
  override readonly code = 'INPUT_UNREADABLE';
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new AuditInputError(`cannot read ${what} file \`${path}\` (${why})`);
  }
}

/** Reads the root public keys: each `--public-key` is a PEM file (or inline PEM text) with one or more keys. */
export async function loadPublicKeys(sources: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const source of sources) {
    const text = source.includes('-----BEGIN') ? source : await readText(source, 'public key');
    const blocks = text.match(PEM_BLOCK);
    if (!blocks) {
      throw new AuditUsageError(
        `\`${source}\` holds no \`-----BEGIN PUBLIC KEY-----\` block; give the root public key (SPKI PEM)`,
      );
    }
    keys.push(...blocks.map((b) => `${b}\n`));
  }
  return keys;
}

/** Reads and parses a JSON file; a file that is not JSON is an input error (exit 2). */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = await readText(path, what);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AuditInputError(
      `${what} file \`${path}\` is not JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

/** Like {@link readJsonFile}, but a file that does not exist is null (a state file's first use). */
export async function readJsonFileIfExists(path: string, what: string): Promise<unknown> {
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
  }
  return readJsonFile(path, what);
}

/** Writes `text` to `path` through a temporary file renamed over it: readers see the old or the new file. */
export async function writeFileAtomically(path: string, text: string, mode = 0o600): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.partial`);
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
