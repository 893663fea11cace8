import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { GatewayClient } from '../../sdk/GatewayClient.js';

/** Options of {@link exportAudit}. */
export interface ExportAuditOptions {
  /** Destination of the JSON Lines export (absolute, or relative to the process's cwd). */
  out: string;
  /** Records per `GET /audit` page. */
  pageSize?: number;
  /** Called after each page with the number of records written so far. */
  onProgress?: (recordsSoFar: number) => void;
}

/**
 * Writes every audit record, in `seq` order, to `out` as JSON Lines: each line is the record's JSON text
 * exactly as the gateway served it. It writes to a temporary file next to `out` and renames it only once
 * the last page is written and synced, so an interrupted export never leaves a partial file under the final
 * name. Returns the number of records written.
 */
export async function exportAudit(client: GatewayClient, options: ExportAuditOptions): Promise<number> {
  const tmp = join(
    dirname(options.out),
    `.${basename(options.out)}.${randomBytes(6).toString('hex')}.partial`,
  );
  const file = await open(tmp, 'wx', 0o600);
  let count = 0;
  let done = false;
  try {
    for await (const page of client.auditPages(
      options.pageSize !== undefined ? { limit: options.pageSize } : {},
    )) {
      const lines = page.rawRecords.map((raw, i) =>
        // A record served pretty-printed would break JSON Lines: only then is it re-serialized (same content).
        /[\r\n]/.test(raw) ? JSON.stringify(page.records[i]) : raw,
      );
      if (lines.length > 0) await file.write(`${lines.join('\n')}\n`);
      count += lines.length;
      options.onProgress?.(count);
    }
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
