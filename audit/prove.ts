import { CodedError } from '../core/errors/index.js';
import { type Checkpoint, isEpochBody, laneOfOrigin, leafHash } from '../core/log/index.js';
import type { KeyRecord } from '../core/model/index.js';
import { MAIN_LANE, parseAuditRecord, parseRecordId, RecordFormatError } from '../core/model/index.js';
import {
  type AuditReceipt,
  checkpointsOf,
  InclusionProofBuilder,
  RECEIPT_FORMAT,
} from '../core/verify/index.js';
import { AuditInputError, AuditUsageError, readJsonFile } from './auditFiles.js';
import { readBundleLayout } from './bundle.js';
import { openInput, readAuditInput } from './readAuditInput.js';

export interface ProveArgs {
  /** The record to prove: its id `<lane>-<seq>`, or a seq of the `main` lane. */
  record: string;
  bundle: string;
  /** A checkpoint file to prove against instead of the bundle's checkpoint.json. */
  checkpoint?: string;
}

/** A bundle that cannot yield a receipt (the record is missing or broken, the records do not match the checkpoint). */
export class ProveError extends CodedError<string> {}

/** The lane and seq a `prove` argument names: `<lane>-<seq>`, or a bare seq of `main`. */
export function recordToProve(text: string): { lane: string; seq: number } {
  if (/^[1-9][0-9]{0,15}$/.test(text) && Number.isSafeInteger(Number(text))) {
    return { lane: MAIN_LANE, seq: Number(text) };
  }
  const id = parseRecordId(text);
  if (id === null) {
    throw new AuditUsageError(
      `the record to prove is a record id \`<lane>-<seq>\` or a seq, got \`${text}\``,
    );
  }
  return id;
}

/** Streams a lane file, calling `fn(line, index)` for each non-blank line. */
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
 * `zt-audit prove ID --bundle DIR`: a receipt for one record of any lane, computed offline in two streaming
 * passes over that lane's file (find the record and the certificate of its session key, the latest key
 * record before it in the same lane; then both inclusion proofs against the lane's newest checkpoint in the
 * bundle), O(log n) memory. The proof's root is checked against the checkpoint before anything is returned.
 */
export async function buildReceipt(args: ProveArgs): Promise<AuditReceipt> {
  const { lane, seq } = recordToProve(args.record);
  const layout = await readBundleLayout(args.bundle);
  const file = layout.lanes.find((l) => l.lane === lane);
  const cpPath = args.checkpoint ?? layout.checkpoint;
  if (cpPath === null)
    throw new AuditUsageError(`\`${args.bundle}\` has no checkpoint.json: give --checkpoint FILE`);
  const candidates = checkpointsOf(await readJsonFile(cpPath, 'checkpoint')).filter(
    (c): c is Checkpoint =>
      !isEpochBody(c) &&
      typeof (c as Checkpoint)?.size === 'number' &&
      typeof (c as Checkpoint)?.origin === 'string' &&
      laneOfOrigin((c as Checkpoint).origin) === lane,
  );
  const checkpoint = candidates.sort((a, b) => b.size - a.size)[0];
  if (checkpoint === undefined) {
    throw new ProveError('NOT_CHECKPOINTED', `the checkpoint file holds no checkpoint of lane \`${lane}\``);
  }
  if (seq > checkpoint.size) {
    throw new ProveError(
      'NOT_CHECKPOINTED',
      `record ${lane}-${seq} is not covered by the lane's checkpoint (size ${checkpoint.size}); export a newer bundle`,
    );
  }
  if (file === undefined) throw new ProveError('RECORD_MISSING', `the bundle has no lane \`${lane}\``);

  // Pass 1: the record, and the latest key record before it for each session key (same lane).
  let target: string | null = null;
  const certificates = new Map<string, { seq: number; text: string }>();
  await eachLine(file.path, (line, index) => {
    const at = index + 1;
    if (at > seq) return;
    if (at === seq) target = line;
    else if (line.includes('"kind":"key"')) {
      try {
        const r = parseAuditRecord(line) as KeyRecord;
        if (r.kind === 'key') certificates.set(r.certified_key_id, { seq: at, text: line });
      } catch {
        // A broken key record is no certificate; verify reports it.
      }
    }
  });
  if (target === null) throw new ProveError('RECORD_MISSING', `the bundle has no record ${lane}-${seq}`);
  let record: AuditReceipt['record'];
  try {
    record = parseAuditRecord(target);
  } catch (e) {
    if (e instanceof RecordFormatError) throw new ProveError(e.code, `record ${lane}-${seq}: ${e.message}`);
    throw e;
  }
  if (record.seq !== seq || record.chain !== lane) {
    throw new ProveError('SEQ_MISMATCH', `line ${seq} of lane \`${lane}\` holds record ${record.id}`);
  }
  const cert = certificates.get(record.kms_signature.key_id) ?? null;

  // Pass 2: both proofs, and the root, in one pass.
  const proof = new InclusionProofBuilder(seq - 1, checkpoint.size);
  const certProof = cert ? new InclusionProofBuilder(cert.seq - 1, checkpoint.size) : null;
  await eachLine(file.path, (line, index) => {
    if (index >= checkpoint.size) return;
    const h = leafHash(line);
    proof.append(h);
    certProof?.append(h);
  });
  if (proof.size < checkpoint.size) {
    throw new ProveError(
      'LOG_TRUNCATED',
      `the checkpoint covers ${checkpoint.size} records of lane \`${lane}\`, the bundle holds ${proof.size}`,
    );
  }
  if (proof.root().toString('base64') !== checkpoint.root) {
    throw new ProveError(
      'CHECKPOINT_ROOT_MISMATCH',
      `the bundle's records of lane \`${lane}\` do not match its checkpoint root: verify the bundle`,
    );
  }
  // The lane checkpoint as served: origin, size, root, its signed time when it has one, note.
  const cp: Checkpoint =
    typeof checkpoint.time === 'string'
      ? {
          origin: checkpoint.origin,
          size: checkpoint.size,
          root: checkpoint.root,
          time: checkpoint.time,
          note: checkpoint.note,
        }
      : { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.root, note: checkpoint.note };
  return {
    receipt: RECEIPT_FORMAT,
    record,
    proof: proof.proof(),
    checkpoint: cp,
    certificate:
      cert && certProof
        ? { record: parseAuditRecord(cert.text) as KeyRecord, proof: certProof.proof() }
        : null,
  };
}
