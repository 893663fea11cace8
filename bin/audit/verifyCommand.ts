import { type VerifyLogArgs, verifyAuditLog } from '../../audit/verifyLog.js';
import { formatReport } from './formatReport.js';
import { Progress } from './Progress.js';

export { AuditInputError, AuditUsageError } from '../../audit/auditFiles.js';
export { EXIT, exitStatus } from '../../audit/verifyLog.js';

/** Everything `zt-audit` touches of its process, injectable so tests run it in-process. */
export interface AuditCliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  /** For `verify -`. */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** The clock for checkpoint ages (tests). */
  now?: () => Date;
}

export type VerifyArgs = Omit<VerifyLogArgs, 'now' | 'stdin' | 'progress'> & { json: boolean };

/**
 * `zt-audit verify`: the library's `verifyAuditLog` (audit/verifyLog.ts) with a progress bar on a terminal,
 * then the findings and a summary (or the report as JSON). Returns the exit status: 0 valid, 1 tamper
 * evidence, 2 usage or I/O error, 3 incomplete or stale.
 */
export async function verifyCommand(args: VerifyArgs, io: AuditCliIo): Promise<number> {
  const { json, ...rest } = args;
  const { report, exit, stateWritten } = await verifyAuditLog({
    ...rest,
    now: io.now?.() ?? new Date(),
    ...(io.stdin !== undefined ? { stdin: io.stdin } : {}),
    progress: (total) => (io.stderr.isTTY === true ? new Progress(io.stderr, total) : null),
  });
  io.stdout.write(
    json ? `${JSON.stringify({ ...report, exit, stateWritten }, null, 2)}\n` : formatReport(report),
  );
  if (!json && args.state !== undefined) {
    io.stdout.write(
      stateWritten
        ? `state: ${args.state} now remembers ${report.epoch ? `epoch ${report.epoch.epoch}` : 'this checkpoint'}\n`
        : `state: ${args.state} left as it was (only a valid run updates it)\n`,
    );
  }
  return exit;
}
