import { readFile } from 'node:fs/promises';
import { AuditInputError, AuditUsageError, loadPublicKeys, readJsonFile } from '../../audit/auditFiles.js';
import { exitStatus } from '../../audit/verifyLog.js';
import { HASH_PATTERN } from '../../core/model/index.js';
import {
  AuditVerifier,
  type AuditVerifierOptions,
  ChainVerifierOptionsError,
} from '../../core/verify/index.js';
import { formatReport } from './formatReport.js';
import type { AuditCliIo } from './verifyCommand.js';

export interface VerifyRecordArgs {
  /** A file holding one decision response or one record, or `-` for standard input. */
  input: string;
  publicKeys: string[];
  /** A `GET /keys` body: the certificate of the session key that signed the record. */
  keys?: string;
  json: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

async function readAll(source: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The one record a `verify-record` input holds: the `audit` of a decision (or outcome) response, or a
 * record itself. Anything that could be a log (an array, a `GET /audit` page, several lines) is refused:
 * a log is verified as a log, by `verify`.
 */
export function singleRecordOf(doc: unknown, source: string): unknown {
  if (Array.isArray(doc) || (isObject(doc) && Array.isArray(doc['records']))) {
    throw new AuditUsageError(
      `\`${source}\` holds a list of records; verify-record checks one record, \`zt-audit verify\` checks a log`,
    );
  }
  if (!isObject(doc)) {
    throw new AuditUsageError(
      `\`${source}\` must hold one decision response or one record (a JSON object), got ${doc === null ? 'null' : typeof doc}`,
    );
  }
  return !Object.hasOwn(doc, 'schema') && isObject(doc['audit']) ? doc['audit'] : doc;
}

/**
 * `zt-audit verify-record`: checks one record on its own (a decision response an agent kept): schema,
 * hash, signature, and the certificate of its session key (from `--keys`). Says nothing about the log it
 * belongs to: completeness is proved by a receipt (`prove`, `verify-receipt`) or by verifying the log.
 * Exit status: 0 valid, 1 tamper evidence, 2 usage or I/O error.
 */
export async function verifyRecordCommand(args: VerifyRecordArgs, io: AuditCliIo): Promise<number> {
  if (args.publicKeys.length === 0) {
    throw new AuditUsageError(
      'at least one `--public-key PEM` is required: the verifier trusts nothing but the root public keys',
    );
  }
  const trustedRootKeys = await loadPublicKeys(args.publicKeys);
  const keys = args.keys === undefined ? undefined : await readJsonFile(args.keys, 'keys');
  let text: string;
  try {
    if (args.input === '-') {
      if (!io.stdin) throw new Error('no standard input to read');
      text = await readAll(io.stdin);
    } else {
      text = await readFile(args.input, 'utf8');
    }
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new AuditInputError(`cannot read \`${args.input}\` (${why})`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new AuditInputError(
      `\`${args.input}\` is not one JSON document (${e instanceof Error ? e.message : String(e)}); verify-record checks one record, \`zt-audit verify\` checks a log`,
    );
  }
  const record = singleRecordOf(doc, args.input);
  const opts: AuditVerifierOptions = {
    trustedRootKeys,
    keys,
    now: io.now?.() ?? new Date(),
    singleRecord: true,
  };
  // The record is verified as the one-record suffix that starts with it.
  const { seq, previous_hash: previous } = record as { seq?: unknown; previous_hash?: unknown };
  // Record 1 must link to the genesis hash (the default); a later one to what it names.
  if (
    typeof seq === 'number' &&
    Number.isSafeInteger(seq) &&
    seq > 1 &&
    typeof previous === 'string' &&
    HASH_PATTERN.test(previous)
  ) {
    opts.fromSeq = seq;
    opts.expectPrevious = previous;
  }
  let audit: AuditVerifier;
  try {
    audit = new AuditVerifier(opts);
  } catch (e) {
    if (e instanceof ChainVerifierOptionsError) throw new AuditUsageError(e.message);
    throw e;
  }
  audit.addRecord(record as Record<string, unknown>);
  const report = audit.finish();
  const exit = exitStatus(report);
  io.stdout.write(args.json ? `${JSON.stringify({ ...report, exit }, null, 2)}\n` : formatReport(report));
  return exit;
}
