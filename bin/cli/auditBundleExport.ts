import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUNDLE_FILES } from '../../core/auditBundle.js';
import type { GatewayClient } from '../../sdk/GatewayClient.js';

/** Options of {@link exportAuditBundle}. */
export interface ExportBundleOptions {
  /** The bundle directory (created when missing). */
  dir: string;
  /**
   * Resume: `records.jsonl` already holds records 1..after (checked), and only later ones are appended.
   * Without it, the bundle is written from scratch.
   */
  after?: number;
  /** Records per `GET /audit` page. */
  pageSize?: number;
  /** Called after each page with (records in the bundle, records the checkpoint covers). */
  onProgress?: (recordsSoFar: number, total: number) => void;
}

export interface ExportBundleResult {
  dir: string;
  /** Records in `records.jsonl`. */
  records: number;
  /** Records appended by this run. */
  appended: number;
  checkpointSize: number;
}

/** The bundle on disk is not what `--after` says (exit 2: a local problem). */
export class BundleStateError extends Error {
  override readonly name = 'BundleStateError';
}

/** Seq of the last complete line of records.jsonl, and its line count; throws on a partial last line. */
async function bundleTail(path: string): Promise<{ lines: number; lastSeq: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, lastSeq: 0 };
    throw e;
  }
  if (text.length > 0 && !text.endsWith('\n')) {
    throw new BundleStateError(`${path} ends in a partial line: export the bundle again without --after`);
  }
  const lines = text.split('\n').filter((l) => l !== '');
  const last = lines[lines.length - 1];
  let lastSeq = 0;
  if (last !== undefined) {
    try {
      lastSeq = Number((JSON.parse(last) as { seq?: unknown }).seq);
    } catch {
      throw new BundleStateError(`the last line of ${path} is not a record: export the bundle again`);
    }
  }
  return { lines: lines.length, lastSeq };
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.partial`;
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

/**
 * Writes an audit bundle: `records.jsonl` (each record exactly as served), `checkpoint.json` (the body of
 * `GET /audit/checkpoint`) and `keys.json` (`GET /keys`).
 *
 * The checkpoint is asked for first and the records are fetched up to its size, no further: the gateway
 * keeps appending while we page, and a checkpoint fetched after the records could cover records the bundle
 * does not hold, which a verifier must read as a cut tail. This way the checkpoint covers exactly the
 * exported tail. The records of a fresh export go to a temporary file renamed at the end; a resumed export
 * (`after`) appends whole pages, so an interrupted run leaves whole lines and can be resumed again.
 * `checkpoint.json` and `keys.json` are replaced only once the records are written.
 */
export async function exportAuditBundle(
  client: GatewayClient,
  options: ExportBundleOptions,
): Promise<ExportBundleResult> {
  await mkdir(options.dir, { recursive: true });
  const recordsPath = join(options.dir, BUNDLE_FILES.records);
  const after = options.after ?? 0;
  if (options.after !== undefined) {
    const tail = await bundleTail(recordsPath);
    if (tail.lines !== after || tail.lastSeq !== after) {
      throw new BundleStateError(
        `--after ${after}: ${recordsPath} holds ${tail.lines} records ending at seq ${tail.lastSeq}; resume with --after ${tail.lastSeq}`,
      );
    }
  }
  const checkpoint = await client.checkpoint();
  const keys = await client.keys();
  const size = checkpoint.size;
  if (!Number.isSafeInteger(size) || size < after) {
    throw new BundleStateError(
      `the gateway's checkpoint covers ${String(size)} records, fewer than --after ${after}`,
    );
  }

  const fresh = options.after === undefined;
  const target = fresh ? `${recordsPath}.${randomBytes(6).toString('hex')}.partial` : recordsPath;
  const file = await open(target, fresh ? 'wx' : 'a', 0o600);
  let count = after;
  let done = false;
  try {
    if (count < size) {
      const pageSize = options.pageSize ?? 1000;
      for await (const page of client.auditPages({ after, limit: pageSize })) {
        const lines: string[] = [];
        for (const [i, raw] of page.rawRecords.entries()) {
          const seq = page.records[i]?.seq as number;
          if (seq > size) break;
          if (seq !== count + 1) {
            throw new BundleStateError(`the gateway served record ${seq} after record ${count}`);
          }
          // A record served pretty-printed would break JSON Lines: only then is it re-serialized.
          lines.push(/[\r\n]/.test(raw) ? JSON.stringify(page.records[i]) : raw);
          count++;
        }
        if (lines.length > 0) await file.write(`${lines.join('\n')}\n`);
        options.onProgress?.(count, size);
        if (count >= size) break;
      }
    }
    if (count < size) {
      throw new BundleStateError(`the gateway served ${count} records, its checkpoint covers ${size}`);
    }
    await file.sync();
    await file.close();
    if (fresh) await rename(target, recordsPath);
    done = true;
  } finally {
    if (!done) {
      await file.close().catch(() => undefined);
      if (fresh) await rm(target, { force: true }).catch(() => undefined);
    }
  }
  await writeAtomically(
    join(options.dir, BUNDLE_FILES.checkpoint),
    `${JSON.stringify(checkpoint, null, 2)}\n`,
  );
  await writeAtomically(join(options.dir, BUNDLE_FILES.keys), `${JSON.stringify(keys, null, 2)}\n`);
  return { dir: options.dir, records: count, appended: count - after, checkpointSize: size };
}
