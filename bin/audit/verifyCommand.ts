import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import {
  type AuditReport,
  AuditVerifier,
  type AuditVerifierOptions,
  BUNDLE_FILES,
  checkpointsOf,
} from '../../core/auditBundle.js';
import { ChainVerifierOptionsError } from '../../core/ChainVerifier.js';
import type { AuditRecord } from '../../core/records.js';
import { AuditInputError, AuditUsageError, loadPublicKeys, readJsonFile } from './auditFiles.js';
import { formatReport } from './formatReport.js';
import { type LineBatch, LinePool } from './LinePool.js';
import { Progress } from './Progress.js';
import { openInput, readAuditInput } from './readAuditInput.js';
import { SignaturePool } from './SignaturePool.js';

export { AuditInputError, AuditUsageError, loadPublicKeys } from './auditFiles.js';

/** Exit statuses of `zt-audit`. */
export const EXIT = { OK: 0, TAMPERED: 1, USAGE: 2, INCOMPLETE: 3 } as const;

/** Everything `zt-audit` touches of its process, injectable so tests run it in-process. */
export interface AuditCliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown; isTTY?: boolean };
  /** For `verify -`. */
  stdin?: AsyncIterable<string | Uint8Array>;
  /** The clock for checkpoint ages (tests). */
  now?: () => Date;
}

export interface VerifyArgs {
  /** A log file, `-`, or null with `bundle`. */
  input: string | null;
  /** A bundle directory: its records, checkpoint and keys. */
  bundle?: string;
  /** Paths of PEM files (or PEM text), each holding one or more `PUBLIC KEY` blocks. */
  publicKeys: string[];
  /** A `GET /keys` body; with a bundle, its keys.json by default. */
  keys?: string;
  /** `GET /audit/checkpoint` bodies (or `GET /audit/checkpoints` output). */
  checkpoints: string[];
  fromSeq?: number;
  expectPrevious?: string;
  maxAgeMs?: number;
  /** Worker threads for signatures; default: one per core, 0 or 1 to verify on the main thread. */
  threads?: number;
  json: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reports at this many records or more get a progress bar on a terminal and worker threads. */
const LARGE = 2000;
/** Lines per message to a worker thread. */
const LINE_BATCH = 1024;

/** Maps a report to the exit status: tamper evidence wins over incompleteness. */
export function exitStatus(report: AuditReport): number {
  if (report.status === 'tampered') return EXIT.TAMPERED;
  if (report.status === 'incomplete') return EXIT.INCOMPLETE;
  return EXIT.OK;
}

/**
 * `zt-audit verify`: reads the input (a file, stdin or a bundle), the checkpoints and the keys file, runs
 * the core verifiers in one streaming pass (the per-line work on worker threads for large inputs), prints the
 * findings and a summary (or the report as JSON), and returns the exit status: 0 valid, 1 tamper evidence,
 * 2 usage or I/O error, 3 incomplete or stale.
 */
export async function verifyCommand(args: VerifyArgs, io: AuditCliIo): Promise<number> {
  if (args.publicKeys.length === 0) {
    throw new AuditUsageError(
      'at least one `--public-key PEM` is required: the verifier trusts nothing but the root public keys',
    );
  }
  const trustedRootKeys = await loadPublicKeys(args.publicKeys);
  let inputPath = args.input;
  const checkpointFiles = [...args.checkpoints];
  let keysFile = args.keys;
  if (args.bundle !== undefined) {
    inputPath = join(args.bundle, BUNDLE_FILES.records);
    if (!(await exists(inputPath))) {
      throw new AuditInputError(`\`${args.bundle}\` is not a bundle: it has no ${BUNDLE_FILES.records}`);
    }
    const cp = join(args.bundle, BUNDLE_FILES.checkpoint);
    if (await exists(cp)) checkpointFiles.unshift(cp);
    const keys = join(args.bundle, BUNDLE_FILES.keys);
    if (keysFile === undefined && (await exists(keys))) keysFile = keys;
  }
  if (inputPath === null) throw new AuditUsageError('verify needs a FILE, - or --bundle DIR');
  const checkpoints: unknown[] = [];
  for (const file of checkpointFiles)
    checkpoints.push(...checkpointsOf(await readJsonFile(file, 'checkpoint')));
  const keys = keysFile === undefined ? undefined : await readJsonFile(keysFile, 'keys');

  let source: AsyncIterable<string | Uint8Array>;
  let totalBytes: number | null = null;
  try {
    source = openInput(inputPath, io.stdin);
    if (inputPath !== '-') totalBytes = (await stat(inputPath)).size;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new AuditInputError(`cannot read \`${inputPath}\` (${why})`);
  }
  const progress = io.stderr.isTTY === true ? new Progress(io.stderr, totalBytes) : null;
  if (progress) source = progress.count(source);

  const threads = args.threads ?? availableParallelism();
  let audit: AuditVerifier | null = null;
  let pool: SignaturePool | null = null;
  let entries = 0;
  const make = (): AuditVerifier => {
    const opts: AuditVerifierOptions = {
      trustedRootKeys,
      checkpoints,
      keys,
      now: io.now?.() ?? new Date(),
      deferSignatures: true,
    };
    if (args.maxAgeMs !== undefined) opts.maxAgeMs = args.maxAgeMs;
    // INVARIANT: whatever shape the input takes (JSON Lines, an array, a GET /audit page, a decision
    // response, one record), it is verified as a log: from seq 1 (or the --from-seq asked for), with its
    // completeness checked. A one-record file is a one-record log, never rated better than the whole log.
    // Checking one record on its own is `verify-record`, asked for explicitly.
    if (args.fromSeq !== undefined) {
      opts.fromSeq = args.fromSeq;
      opts.expectPrevious = args.expectPrevious;
    }
    try {
      return new AuditVerifier(opts);
    } catch (e) {
      if (e instanceof ChainVerifierOptionsError) throw new AuditUsageError(e.message);
      throw e;
    }
  };
  const current = (): AuditVerifier => {
    audit ??= make();
    return audit;
  };
  /** After each entry: hand a full batch of signature checks to the pool (or check them here). */
  const after = (): Promise<void> | undefined => {
    entries++;
    if (progress && entries % 4096 === 0) progress.update(entries);
    const chain = current().chain;
    if (chain.pendingSignatureChecks < 512) return undefined;
    if (pool === null && threads > 1 && entries >= LARGE) pool = new SignaturePool(chain, { threads });
    if (pool === null) {
      chain.settleQueuedInline();
      return undefined;
    }
    return pool.submit();
  };

  // JSON Lines on worker threads: lines go out in batches, each line's independent steps run there and
  // the sequential ones here, in order (LinePool). The first LARGE lines are held back: a smaller input
  // is verified inline, without starting workers.
  let linePool: LinePool | null = null;
  let heldLines: string[] = [];
  const applyLines = ({ entries: batch, leaves }: LineBatch): void => {
    const verifier = current();
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i] as string | AuditRecord;
      if (typeof entry === 'string') {
        verifier.add(entry);
        verifier.chain.settleQueuedInline();
      } else {
        verifier.addPrepared(entry, leaves.subarray(i * 32, i * 32 + 32));
      }
      entries++;
      if (progress && entries % 4096 === 0) progress.update(entries);
    }
  };
  const sendLines = async (): Promise<void> => {
    linePool ??= await LinePool.create({ threads, roots: trustedRootKeys, apply: applyLines });
    const held = heldLines;
    heldLines = [];
    for (let i = 0; i < held.length; i += LINE_BATCH) await linePool.send(held.slice(i, i + LINE_BATCH));
  };
  /** Everything held or in flight applied, before an entry of another form or the end. */
  const flushLines = async (): Promise<void> => {
    if (linePool === null) {
      const held = heldLines;
      heldLines = [];
      for (const text of held) {
        current().add(text);
        await after();
      }
      return;
    }
    if (heldLines.length > 0) await sendLines();
    await linePool.drain();
  };

  let report: AuditReport;
  try {
    await readAuditInput(source, {
      start: () => {
        audit = make();
      },
      line: (text) => {
        if (threads <= 1) {
          current().add(text);
          return after();
        }
        heldLines.push(text);
        if (heldLines.length < (linePool === null ? LARGE : LINE_BATCH)) return undefined;
        return sendLines();
      },
      record: async (value) => {
        await flushLines();
        current().addRecord(value as Record<string, unknown>);
        await after();
      },
      unreadable: (text) => {
        current().add(text);
      },
    });
    await flushLines();
    const finalPool = pool as SignaturePool | null;
    if (finalPool) await finalPool.drain();
    current().chain.settleQueuedInline();
    report = current().finish();
  } catch (e) {
    if (e instanceof AuditUsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code ?? err.message;
    throw new AuditInputError(`cannot read \`${inputPath === '-' ? 'standard input' : inputPath}\` (${why})`);
  } finally {
    progress?.end(entries);
    await (pool as SignaturePool | null)?.close();
    await (linePool as LinePool | null)?.close();
  }

  const exit = exitStatus(report);
  io.stdout.write(args.json ? `${JSON.stringify({ ...report, exit }, null, 2)}\n` : formatReport(report));
  return exit;
}
