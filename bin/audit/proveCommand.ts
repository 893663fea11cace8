import { writeFile } from 'node:fs/promises';
import { AuditInputError, AuditUsageError, loadPublicKeys, readJsonFile } from '../../audit/auditFiles.js';
import { buildReceipt, type ProveArgs, ProveError } from '../../audit/prove.js';
import { KeyTrustError } from '../../core/keys/index.js';
import { type AuditReceipt, verifyReceipt } from '../../core/verify/index.js';
import type { AuditCliIo } from './verifyCommand.js';

/** `zt-audit prove ID --bundle DIR [--out FILE]`: the library's `buildReceipt`, printed or written. */
export async function proveCommand(args: ProveArgs & { out?: string }, io: AuditCliIo): Promise<number> {
  let receipt: AuditReceipt;
  try {
    receipt = await buildReceipt(args);
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
    `wrote a receipt for record ${receipt.record.id} (checkpoint ${receipt.checkpoint.size} of lane \`${receipt.record.chain}\`) to ${args.out}\n`,
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
    const time = result.checkpointTime ? `, signed ${result.checkpointTime}` : '';
    io.stdout.write(
      `verified receipt: record ${result.id} is in the log of its lane's checkpoint ${result.checkpointSize}${time}, signed by ${result.keyId}\n`,
    );
  } else {
    const where = result.seq !== null ? `seq ${result.seq}` : 'receipt';
    io.stdout.write(`${where}: ${result.code}: ${result.message}\nreceipt verification failed\n`);
  }
  return result.ok ? 0 : 1;
}
