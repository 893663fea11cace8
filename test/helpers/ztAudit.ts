import { Readable } from 'node:stream';
import { runZtAudit } from '../../bin/audit/runZtAudit.js';
import type { InMemoryP256Signer } from '../../core/keys/signing.js';
import { type Checkpoint, signCheckpoint } from '../../core/log/checkpoint.js';
import { leafHash, rootFromLeaves } from '../../core/log/merkle.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** One hour after the test chains' first record (2026-11-26T08:00:00.000Z). */
export const NOW = new Date('2026-11-26T09:00:19.000Z');

/** A checkpoint over the first `size` lines, signed by `signer` (the root). */
export function checkpointOver(
  lines: string[],
  signer: InMemoryP256Signer,
  size = lines.length,
): Promise<Checkpoint> {
  const root = rootFromLeaves(lines.slice(0, size).map((l) => leafHash(l)));
  return signCheckpoint({ origin: 'zt-infra/main', size, root }, signer);
}

/** `zt-audit` in-process at {@link NOW}, with its output captured. */
export async function run(argv: string[], stdin?: string): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runZtAudit(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    stdin: stdin === undefined ? undefined : Readable.from([stdin]),
    now: () => NOW,
  });
  return { code, stdout, stderr };
}
