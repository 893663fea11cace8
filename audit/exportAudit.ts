import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { AuditRecord } from '../core/model/index.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../core/model/index.js';
import type { GatewayClient } from '../sdk/GatewayClient.js';
import { toOcsfEvent } from './ocsf.js';

/** Options of {@link exportAudit}. */
export interface ExportAuditOptions {
  /** Destination of the JSON Lines export (absolute, or relative to the process's cwd). */
  out: string;
  /** Records per `GET /audit` page. */
  pageSize?: number;
  /** Called after each page with the number of records written so far. */
  onProgress?: (recordsSoFar: number) => void;
  /**
   * `records` (default): each line a record exactly as stored. `ocsf`: each line the record as an OCSF event
   * (audit/ocsf.ts), which keeps the stored text in `raw_data`.
   */
  format?: 'records' | 'ocsf';
}

/**
 * Every record of every lane, lane after lane (the lanes the epoch of `GET /audit/checkpoint` names, sorted by
 * name; `main` alone from a gateway before lanes), each lane in `seq` order, handed to `write` as JSON Lines a
 * page at a time: each line the record's text exactly as served, or its OCSF event with `format: 'ocsf'`.
 * Returns the number of lines written.
 */
export async function streamAudit(
  client: GatewayClient,
  write: (chunk: string) => Promise<unknown> | unknown,
  options: Omit<ExportAuditOptions, 'out'> = {},
): Promise<number> {
  let count = 0;
  const checkpoint = await client.checkpoint();
  const lanes = (checkpoint.epoch?.lanes ?? [{ lane: MAIN_LANE }]).map((l) => l.lane);
  const bad = lanes.find((l) => typeof l !== 'string' || !LANE_NAME_PATTERN.test(l));
  if (bad !== undefined) throw new Error(`the gateway's epoch names an invalid lane \`${String(bad)}\``);
  for (const lane of lanes)
    for await (const page of client.auditPages({
      lane,
      ...(options.pageSize !== undefined ? { limit: options.pageSize } : {}),
    })) {
      const lines = page.rawRecords.map((raw, i) =>
        options.format === 'ocsf'
          ? JSON.stringify(toOcsfEvent(page.records[i] as AuditRecord, raw))
          : // A record served pretty-printed would break JSON Lines: only then is it re-serialized (same content).
            /[\r\n]/.test(raw)
            ? JSON.stringify(page.records[i])
            : raw,
      );
      if (lines.length > 0) await write(`${lines.join('\n')}\n`);
      count += lines.length;
      options.onProgress?.(count);
    }
  return count;
}

/**
 * Writes every audit record of every lane to `out` as JSON Lines, lane after lane (the lanes the epoch of
 * `GET /audit/checkpoint` names, sorted by name; `main` alone from a gateway before lanes), each lane in `seq`
 * order, each line the record's JSON text exactly as the gateway served it. `zt-audit verify FILE` sorts the
 * records back into their lanes by their `chain`. It writes to a temporary file next to `out` and renames it only once
 * the last page is written and synced, so an interrupted export never leaves a partial file under the final
 * name. With `format: 'ocsf'` each line is the record's OCSF event instead, in the same order; a record kind
 * with no OCSF mapping stops the export (`OcsfMappingError`), so no record is left out silently. Returns the
 * number of records written.
 */
export async function exportAudit(client: GatewayClient, options: ExportAuditOptions): Promise<number> {
  const tmp = join(
    dirname(options.out),
    `.${basename(options.out)}.${randomBytes(6).toString('hex')}.partial`,
  );
  const file = await open(tmp, 'wx', 0o600);
  let done = false;
  try {
    const count = await streamAudit(client, (chunk) => file.write(chunk), options);
    await file.sync();
    await file.close();
    await rename(tmp, options.out);
    done = true;
    return count;
  } finally {
    if (!done) {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
    }
  }
}
