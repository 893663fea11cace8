import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import { BrokerError } from './BrokerError.js';
import { assertSafeString, invalidSpec } from './contract.js';

/**
 * The program a spec names is bound by content, not only by path: the canonical spec carries the SHA-256 of
 * the file the broker read, so a binary swapped after the approval no longer matches it.
 */

/** Largest program file a broker hashes (and, for bwrap, copies into the sandbox). */
export const MAX_PROGRAM_BYTES = 256 * 1024 * 1024;
/** Kernel pseudo-filesystems: a path there names no stable file. */
const PSEUDO_ROOTS = ['/proc', '/sys', '/dev'];
const CHUNK = 1 << 20;

/**
 * `command[0]`: an absolute, normalised path (no `.`, `..` or empty segments, no trailing `/`), outside
 * `/proc`, `/sys` and `/dev`. Throws `INVALID_SPEC`.
 */
export function programPath(value: unknown, where: string): string {
  const path = assertSafeString(value, where);
  if (!path.startsWith('/') || path === '/')
    invalidSpec(`${where} must be an absolute file path, got \`${path}\``);
  if (
    path
      .slice(1)
      .split('/')
      .some((part) => part === '' || part === '.' || part === '..')
  ) {
    invalidSpec(`${where} must be normalised (no \`.\`, \`..\` or empty segments), got \`${path}\``);
  }
  if (PSEUDO_ROOTS.some((root) => path === root || path.startsWith(`${root}/`))) {
    invalidSpec(`${where} must not be under /proc, /sys or /dev, got \`${path}\``);
  }
  return path;
}

/**
 * Opens `path` (following symlinks) as an executable regular file of at most {@link MAX_PROGRAM_BYTES}.
 * The type is checked before opening (so a FIFO or a device is never opened) and again on the open file.
 * Throws a plain `Error` saying what is wrong.
 */
async function openProgram(path: string): Promise<{ handle: FileHandle }> {
  const before = await stat(path);
  if (!before.isFile()) throw new Error('it is not a regular file');
  // O_NONBLOCK: should the path become a FIFO between the two checks, open() must not wait for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new Error('it is not a regular file');
    if ((st.mode & 0o111) === 0) throw new Error('it is not executable');
    if (st.size > MAX_PROGRAM_BYTES) throw new Error(`it is larger than ${MAX_PROGRAM_BYTES} bytes`);
    return { handle };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Reads the whole open file, refusing it if it grows past the limit while read. */
async function readAll(handle: FileHandle, onChunk: (chunk: Buffer) => void): Promise<void> {
  let total = 0;
  const buffer = Buffer.alloc(CHUNK);
  for (;;) {
    const { bytesRead } = await handle.read(buffer, 0, CHUNK, null);
    if (bytesRead === 0) return;
    total += bytesRead;
    if (total > MAX_PROGRAM_BYTES) throw new Error(`it is larger than ${MAX_PROGRAM_BYTES} bytes`);
    onChunk(Buffer.from(buffer.subarray(0, bytesRead)));
  }
}

/** SHA-256 hex of the file at `path`, streamed; throws a plain `Error` when it cannot be used. */
async function hashProgram(path: string): Promise<string> {
  const hash = createHash('sha256');
  const { handle } = await openProgram(path);
  try {
    await readAll(handle, (chunk) => hash.update(chunk));
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** SHA-256 hex of the program file at `path`, streamed. Throws `INVALID_SPEC` when it cannot be used. */
export async function programSha256(path: string, where: string): Promise<string> {
  try {
    return await hashProgram(path);
  } catch (err) {
    invalidSpec(`${where} \`${path}\` cannot be run: ${reason(err)}`);
  }
}

/** A program file as read: its bytes, their SHA-256, and the path it resolved to (symlinks followed). */
export interface ProgramFile {
  bytes: Buffer;
  sha256: string;
  realPath: string;
}

/** Reads the program at `path` into memory. Throws a plain `Error` when it cannot be used. */
export async function readProgram(path: string): Promise<ProgramFile> {
  const resolved = await realpath(path);
  const { handle } = await openProgram(resolved);
  const chunks: Buffer[] = [];
  try {
    await readAll(handle, (chunk) => chunks.push(chunk));
  } finally {
    await handle.close();
  }
  const bytes = Buffer.concat(chunks);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex'), realPath: resolved };
}

/**
 * Reads the program at `path` and checks it still hashes to the approved `sha256`. The bytes returned are
 * the ones hashed, so a caller that runs *them* (bwrap copies them into the sandbox) leaves no window
 * between check and use. Throws `PROGRAM_MISMATCH`.
 */
export async function loadApprovedProgram(path: string, sha256: string): Promise<ProgramFile> {
  let program: ProgramFile;
  try {
    program = await readProgram(path);
  } catch (err) {
    throw new BrokerError('PROGRAM_MISMATCH', `the program \`${path}\` cannot be read again: ${reason(err)}`);
  }
  if (program.sha256 !== sha256) {
    throw new BrokerError(
      'PROGRAM_MISMATCH',
      `the program \`${path}\` changed since it was approved: expected sha256 \`${sha256}\`, got \`${program.sha256}\``,
    );
  }
  return program;
}

/** Re-hashes the program just before a backend that runs it by path (nono); throws `PROGRAM_MISMATCH`. */
export async function assertProgramUnchanged(path: string, sha256: string): Promise<void> {
  let actual: string;
  try {
    actual = await hashProgram(path);
  } catch (err) {
    throw new BrokerError('PROGRAM_MISMATCH', `the program \`${path}\` cannot be read again: ${reason(err)}`);
  }
  if (actual !== sha256) {
    throw new BrokerError(
      'PROGRAM_MISMATCH',
      `the program \`${path}\` changed since it was approved: expected sha256 \`${sha256}\`, got \`${actual}\``,
    );
  }
}

function reason(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    if (err.code === 'ENOENT') return 'no such file';
    if (err.code === 'EACCES') return 'permission denied';
    if (err.code === 'ENOTDIR') return 'a path segment is not a directory';
    if (err.code === 'ELOOP') return 'too many symbolic links';
  }
  return err instanceof Error ? err.message : String(err);
}
