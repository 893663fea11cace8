import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareLanes } from '../core/log/index.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../core/model/index.js';
import { BUNDLE_FILES } from '../core/verify/index.js';
import type { GatewayClient } from '../sdk/GatewayClient.js';
import { writeFileAtomically } from './auditFiles.js';
import { laneFileName } from './bundle.js';

/** Options of {@link exportAuditBundle}. */
export interface ExportBundleOptions {
  /** The bundle directory (created when missing). */
  dir: string;
  /**
   * Resume: every lane file already in the bundle holds that lane's records 1..n (checked), and only later
   * ones are appended. Without it, the bundle is written from scratch.
   */
  resume?: boolean;
  /**
   * Resume, asserting where lanes end: lane -> the seq its file must end at (a number alone is `main`'s, the
   * `--after SEQ` of bundles before lanes). Implies `resume`.
   */
  after?: number | ReadonlyMap<string, number>;
  /** Records per `GET /audit` page. */
  pageSize?: number;
  /**
   * Also write `requests.jsonl`: the request data the gateway kept for replay of the exported records
   * (`GET /audit?requests=true`). Only on a fresh export (not with `resume`).
   */
  requests?: boolean;
  /** Called after each page with (records in the bundle, records the epoch covers), all lanes. */
  onProgress?: (recordsSoFar: number, total: number) => void;
}

export interface ExportBundleResult {
  dir: string;
  /** Records in the bundle, all lanes. */
  records: number;
  /** Records appended by this run, all lanes. */
  appended: number;
  /** The epoch exported (null from a gateway of a release before lanes). */
  epoch: number | null;
  lanes: Array<{ lane: string; records: number; appended: number }>;
  /** Size of the `main` lane's checkpoint. */
  checkpointSize: number;
  /** Lines of `requests.jsonl` (with `requests`), else null. */
  requests: number | null;
}

/** The bundle on disk is not what the options say, or the gateway answered something unusable (exit 2). */
export class BundleStateError extends Error {
  override readonly name = 'BundleStateError';
}

/** Seq of the last complete line of a lane file, and its line count; throws on a partial last line. */
async function laneTail(path: string): Promise<{ lines: number; lastSeq: number }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, lastSeq: 0 };
    throw e;
  }
  if (text.length > 0 && !text.endsWith('\n')) {
    throw new BundleStateError(`${path} ends in a partial line: export the bundle again without resuming`);
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes an audit bundle (layout: audit/bundle.ts): `checkpoint.json` (the `GET /audit/checkpoint` body: the
 * epoch statement and every lane's checkpoint), `lanes/<lane>.jsonl` for every lane the epoch names (each
 * record exactly as served), and `keys.json` (`GET /keys`).
 *
 * The checkpoint is asked for first and each lane's records are fetched up to the size the epoch signs for
 * it, no further: the gateway keeps appending while we page, and a statement fetched after the records could
 * cover records the bundle does not hold, which a verifier must read as a cut tail. A fresh export writes
 * every lane to a temporary file and renames them all at the end (and removes lane files of an earlier
 * export the epoch does not name); a resumed one appends whole pages to each lane file, so an interrupted
 * run leaves whole lines and can be resumed again. `checkpoint.json` and `keys.json` are replaced only once
 * every lane is written. A bundle from before lanes (`records.jsonl`) is resumed as its `main` lane.
 */
export async function exportAuditBundle(
  client: GatewayClient,
  options: ExportBundleOptions,
): Promise<ExportBundleResult> {
  const lanesDir = join(options.dir, BUNDLE_FILES.lanes);
  await mkdir(lanesDir, { recursive: true });
  const after =
    typeof options.after === 'number'
      ? new Map([[MAIN_LANE, options.after]])
      : (options.after ?? new Map<string, number>());
  const resume = options.resume === true || options.after !== undefined;
  if (resume && options.requests === true) {
    throw new BundleStateError(
      'the kept requests are exported whole: export the bundle again without resuming',
    );
  }
  const kept: string[] = [];
  const legacy = join(options.dir, BUNDLE_FILES.records);
  if (resume && (await exists(legacy))) {
    // A bundle from before lanes: its records are the `main` lane.
    if (await exists(join(lanesDir, laneFileName(MAIN_LANE)))) {
      throw new BundleStateError(
        `${options.dir} holds both ${BUNDLE_FILES.records} and a main lane file: export it again`,
      );
    }
    await rename(legacy, join(lanesDir, laneFileName(MAIN_LANE)));
  }

  const checkpoint = await client.checkpoint();
  const keys = await client.keys();
  const lanes = checkpoint.epoch?.lanes ?? [
    { lane: MAIN_LANE, size: checkpoint.size, root: checkpoint.root },
  ];
  for (const { lane, size } of lanes) {
    // INVARIANT: a lane name from the gateway becomes a file name only when it is a lane name (no path).
    if (typeof lane !== 'string' || !LANE_NAME_PATTERN.test(lane)) {
      throw new BundleStateError(`the gateway's epoch names an invalid lane \`${String(lane)}\``);
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BundleStateError(`the gateway's epoch gives lane \`${lane}\` the size \`${String(size)}\``);
    }
  }
  for (const lane of after.keys()) {
    if (!lanes.some((l) => l.lane === lane)) {
      throw new BundleStateError(`--after names lane \`${lane}\`, which the gateway's epoch does not`);
    }
  }
  const names = new Set(lanes.map((l) => l.lane));
  const existing = (await readdir(lanesDir)).filter((f) => f.endsWith('.jsonl'));
  if (resume) {
    const stray = existing.find((f) => !names.has(f.slice(0, -'.jsonl'.length)));
    if (stray !== undefined) {
      throw new BundleStateError(
        `${join(lanesDir, stray)} is not a lane of the gateway's log: export the bundle again without resuming`,
      );
    }
  }

  const total = lanes.reduce((n, l) => n + l.size, 0);
  let done = 0;
  const results: ExportBundleResult['lanes'] = [];
  const partials: Array<{ tmp: string; path: string }> = [];
  try {
    for (const { lane, size } of [...lanes].sort((a, b) => compareLanes(a.lane, b.lane))) {
      const path = join(lanesDir, laneFileName(lane));
      let start = 0;
      if (resume) {
        const tail = await laneTail(path);
        if (tail.lines !== tail.lastSeq) {
          throw new BundleStateError(
            `${path} holds ${tail.lines} records ending at seq ${tail.lastSeq}: export it again`,
          );
        }
        const asserted = after.get(lane);
        if (asserted !== undefined && asserted !== tail.lastSeq) {
          throw new BundleStateError(
            `--after ${lane}=${asserted}: ${path} holds ${tail.lines} records ending at seq ${tail.lastSeq}; resume with --after ${lane}=${tail.lastSeq}`,
          );
        }
        if (tail.lastSeq > size) {
          throw new BundleStateError(
            `${path} holds ${tail.lastSeq} records, more than the ${size} the gateway's epoch signs: the bundle is of another log, or the log was rolled back`,
          );
        }
        start = tail.lastSeq;
      }
      done += start;
      const target = resume ? path : `${path}.${randomBytes(6).toString('hex')}.partial`;
      if (!resume) partials.push({ tmp: target, path });
      const file = await open(target, resume ? 'a' : 'wx', 0o600);
      let count = start;
      try {
        if (count < size) {
          for await (const page of client.auditPages({
            lane,
            after: start,
            limit: options.pageSize ?? 1000,
            ...(options.requests === true ? { requests: true } : {}),
          })) {
            for (const item of page.requests ?? []) {
              // Only what the epoch covers: request data of a record the bundle does not hold is no use.
              const seq = Number(/-(\d+)$/.exec(String(item['id']))?.[1]);
              if (String(item['id']) === `${lane}-${seq}` && seq > count && seq <= size)
                kept.push(JSON.stringify(item));
            }
            const lines: string[] = [];
            for (const [i, raw] of page.rawRecords.entries()) {
              const seq = page.records[i]?.seq as number;
              if (seq > size) break;
              if (seq !== count + 1) {
                throw new BundleStateError(`the gateway served record ${lane}-${seq} after ${lane}-${count}`);
              }
              // A record served pretty-printed would break JSON Lines: only then is it re-serialized.
              lines.push(/[\r\n]/.test(raw) ? JSON.stringify(page.records[i]) : raw);
              count++;
            }
            if (lines.length > 0) await file.write(`${lines.join('\n')}\n`);
            done += lines.length;
            options.onProgress?.(done, total);
            if (count >= size) break;
          }
        }
        if (count < size) {
          throw new BundleStateError(
            `the gateway served ${count} records of lane \`${lane}\`, its epoch signs ${size}`,
          );
        }
        await file.sync();
      } finally {
        await file.close();
      }
      results.push({ lane, records: count, appended: count - start });
    }
    for (const { tmp, path } of partials) await rename(tmp, path);
    partials.length = 0;
  } finally {
    for (const { tmp } of partials) await rm(tmp, { force: true }).catch(() => undefined);
  }
  if (!resume) {
    for (const f of existing) {
      if (!names.has(f.slice(0, -'.jsonl'.length))) await rm(join(lanesDir, f), { force: true });
    }
    await rm(legacy, { force: true });
    // A fresh export replaces the kept requests too, or removes those of an earlier export.
    if (options.requests === true) {
      await writeFileAtomically(
        join(options.dir, BUNDLE_FILES.requests),
        kept.map((line) => `${line}\n`).join(''),
      );
    } else {
      await rm(join(options.dir, BUNDLE_FILES.requests), { force: true });
    }
  }
  await writeFileAtomically(
    join(options.dir, BUNDLE_FILES.checkpoint),
    `${JSON.stringify(checkpoint, null, 2)}\n`,
  );
  await writeFileAtomically(join(options.dir, BUNDLE_FILES.keys), `${JSON.stringify(keys, null, 2)}\n`);
  const records = results.reduce((n, l) => n + l.records, 0);
  return {
    dir: options.dir,
    records,
    appended: results.reduce((n, l) => n + l.appended, 0),
    epoch: checkpoint.epoch?.epoch ?? null,
    lanes: results,
    checkpointSize: checkpoint.size,
    requests: options.requests === true ? kept.length : null,
  };
}
