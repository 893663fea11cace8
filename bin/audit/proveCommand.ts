import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUNDLE_FILES, checkpointsOf } from '../../core/auditBundle.js';
import type { Checkpoint } from '../../core/checkpoint.js';
import { KeyTrustError } from '../../core/keyTrust.js';
import { leafHash } from '../../core/merkle.js';
import {
  type AuditReceipt,
  InclusionProofBuilder,
  RECEIPT_FORMAT,
  verifyReceipt,
} from '../../core/receipt.js';
import { parseAuditRecord, RecordFormatError } from '../../core/recordParser.js';
import type { KeyRecord } from '../../core/records.js';
import { AuditInputError, AuditUsageError, loadPublicKeys, readJsonFile } from './auditFiles.js';
import { openInput, readAuditInput } from './readAuditInput.js';
import type { AuditCliIo } from './verifyCommand.js';

export interface ProveArgs {
  seq: number;
  bundle: string;
  /** A checkpoint body to prove against instead of the bundle's checkpoint.json. */
  checkpoint?: string;
  out?: string;
}

/** A bundle that cannot yield a receipt (the record is missing or broken, the records do not match the checkpoint). */
export class ProveError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Streams the bundle's records.jsonl, calling `fn(line, index)` for each non-blank line. */
async function eachLine(path: string, fn: (line: string, index: number) => void): Promise<void> {
  let index = 0;
  try {
    await readAuditInput(openInput(path), {
      start: () => undefined,
      line: (text) => {
        if (text.trim() !== '') fn(text, index++);
      },
      record: () => {
        throw new ProveError('BUNDLE_INVALID', `${path} is not JSON Lines`);
      },
      unreadable: () => {
        throw new ProveError('BUNDLE_INVALID', `${path} is not JSON Lines`);
      },
    });
  } catch (e) {
    if (e instanceof ProveError) throw e;
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new AuditInputError(`cannot read \`${path}\` (${why})`);
  }
}

/**
 * `zt-audit prove SEQ --bundle DIR`: a receipt for record SEQ, computed offline in two streaming passes
 * (find the record and its certificate; then both inclusion proofs against the checkpoint), O(log n)
 * memory. The receipt is checked against the checkpoint root before it is written.
 */
export async function buildReceiptFromBundle(args: ProveArgs): Promise<AuditReceipt> {
  const recordsPath = join(args.bundle, BUNDLE_FILES.records);
  const cpDoc = await readJsonFile(
    args.checkpoint ?? join(args.bundle, BUNDLE_FILES.checkpoint),
    'checkpoint',
  );
  const candidates = checkpointsOf(cpDoc) as Checkpoint[];
  const checkpoint = candidates.filter((c) => typeof c?.size === 'number').sort((a, b) => b.size - a.size)[0];
  if (checkpoint === undefined) throw new AuditUsageError('the checkpoint file holds no checkpoint');
  if (args.seq > checkpoint.size) {
    throw new ProveError(
      'NOT_CHECKPOINTED',
      `record ${args.seq} is not covered by the checkpoint (size ${checkpoint.size}); export a newer bundle`,
    );
  }

  // Pass 1: the record, and the latest key record before it for each session key.
  let target: string | null = null;
  const certificates = new Map<string, { seq: number; text: string }>();
  await eachLine(recordsPath, (line, index) => {
    const seq = index + 1;
    if (seq > args.seq) return;
    if (seq === args.seq) target = line;
    else if (line.includes('"kind":"key"')) {
      try {
        const r = parseAuditRecord(line) as KeyRecord;
        if (r.kind === 'key') certificates.set(r.certified_key_id, { seq, text: line });
      } catch {
        // A broken key record is no certificate; verify reports it.
      }
    }
  });
  if (target === null) throw new ProveError('RECORD_MISSING', `the bundle has no record ${args.seq}`);
  let record: AuditReceipt['record'];
  try {
    record = parseAuditRecord(target);
  } catch (e) {
    if (e instanceof RecordFormatError) throw new ProveError(e.code, `record ${args.seq}: ${e.message}`);
    throw e;
  }
  if (record.seq !== args.seq) {
    throw new ProveError('SEQ_MISMATCH', `line ${args.seq} of the bundle holds record ${record.seq}`);
  }
  const cert = certificates.get(record.kms_signature.key_id) ?? null;

  // Pass 2: both proofs, and the root, in one pass.
  const proof = new InclusionProofBuilder(args.seq - 1, checkpoint.size);
  const certProof = cert ? new InclusionProofBuilder(cert.seq - 1, checkpoint.size) : null;
  await eachLine(recordsPath, (line, index) => {
    if (index >= checkpoint.size) return;
    const h = leafHash(line);
    proof.append(h);
    certProof?.append(h);
  });
  if (proof.size < checkpoint.size) {
    throw new ProveError(
      'LOG_TRUNCATED',
      `the checkpoint covers ${checkpoint.size} records, the bundle holds ${proof.size}`,
    );
  }
  if (proof.root().toString('base64') !== checkpoint.root) {
    throw new ProveError(
      'CHECKPOINT_ROOT_MISMATCH',
      "the bundle's records do not match its checkpoint root: verify the bundle",
    );
  }
  return {
    receipt: RECEIPT_FORMAT,
    record,
    proof: proof.proof(),
    checkpoint: {
      origin: checkpoint.origin,
      size: checkpoint.size,
      root: checkpoint.root,
      note: checkpoint.note,
    },
    certificate:
      cert && certProof
        ? { record: parseAuditRecord(cert.text) as KeyRecord, proof: certProof.proof() }
        : null,
  };
}

export async function proveCommand(args: ProveArgs, io: AuditCliIo): Promise<number> {
  let receipt: AuditReceipt;
  try {
    receipt = await buildReceiptFromBundle(args);
  } catch (e) {
    if (e instanceof ProveError) {
      io.stderr.write(`zt-audit: ${e.code}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const text = `${JSON.stringify(receipt, null, 2)}\n`;
  if (args.out === undefined) {
    io.stdout.write(text);
    return 0;
  }
  try {
    await writeFile(args.out, text, { mode: 0o644 });
  } catch (e) {
    throw new AuditInputError(
      `cannot write \`${args.out}\` (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  io.stdout.write(
    `wrote a receipt for record ${args.seq} (checkpoint ${receipt.checkpoint.size}) to ${args.out}\n`,
  );
  return 0;
}

export interface VerifyReceiptArgs {
  file: string;
  publicKeys: string[];
  json: boolean;
}

/** `zt-audit verify-receipt FILE --public-key PEM`: 0 proved, 1 not, 2 usage or I/O error. */
export async function verifyReceiptCommand(args: VerifyReceiptArgs, io: AuditCliIo): Promise<number> {
  if (args.publicKeys.length === 0) {
    throw new AuditUsageError('at least one `--public-key PEM` is required: the root public key');
  }
  const keys = await loadPublicKeys(args.publicKeys);
  const receipt = await readJsonFile(args.file, 'receipt');
  let result: ReturnType<typeof verifyReceipt>;
  try {
    result = verifyReceipt(receipt, keys);
  } catch (e) {
    if (e instanceof KeyTrustError) throw new AuditUsageError(e.message);
    throw e;
  }
  if (args.json) {
    io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else if (result.ok) {
    io.stdout.write(
      `verified receipt: record ${result.seq} is in the log of checkpoint ${result.checkpointSize}, signed by ${result.keyId}\n`,
    );
  } else {
    const where = result.seq !== null ? `seq ${result.seq}` : 'receipt';
    io.stdout.write(`${where}: ${result.code}: ${result.message}\nreceipt verification failed\n`);
  }
  return result.ok ? 0 : 1;
}
