import { readFile } from 'node:fs/promises';
import {
  ChainVerifier,
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
} from '../../core/ChainVerifier.js';
import { HASH_PATTERN } from '../../core/recordParser.js';
import { formatReport } from './formatReport.js';
import { openInput, readAuditInput } from './readAuditInput.js';

/** Exit statuses of `zt-audit`. */
export const EXIT = { OK: 0, TAMPERED: 1, USAGE: 2 } as const;

/** Everything `zt-audit` touches of its process, injectable so tests run it in-process. */
export interface AuditCliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** For `verify -`. */
  stdin?: AsyncIterable<string | Uint8Array>;
}

/** Bad arguments: exit 2, nothing was verified. */
export class AuditUsageError extends Error {
  readonly code: string = 'USAGE';
}

/** A file that cannot be read: exit 2 too, but the usage text would not help. */
export class AuditInputError extends AuditUsageError {
  override readonly code = 'INPUT_UNREADABLE';
}

export interface VerifyArgs {
  input: string;
  /** Paths of PEM files (or PEM text), each holding one or more `PUBLIC KEY` blocks. */
  publicKeys: string[];
  fromSeq?: number;
  expectPrevious?: string;
  json: boolean;
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/** Reads the root public keys: each `--public-key` is a PEM file (or inline PEM text) with one or more keys. */
export async function loadPublicKeys(sources: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const source of sources) {
    let text: string;
    if (source.includes('-----BEGIN')) {
      text = source;
    } else {
      try {
        text = await readFile(source, 'utf8');
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
        throw new AuditInputError(`cannot read public key file \`${source}\` (${why})`);
      }
    }
    const blocks = text.match(PEM_BLOCK);
    if (!blocks) {
      throw new AuditUsageError(
        `\`${source}\` holds no \`-----BEGIN PUBLIC KEY-----\` block; give the root public key (SPKI PEM)`,
      );
    }
    keys.push(...blocks.map((b) => `${b}\n`));
  }
  return keys;
}

function isRecordLike(value: unknown): value is { seq?: unknown; previous_hash?: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * `zt-audit verify`: reads the input, runs the core verifier, prints the findings and a summary (or the
 * report as JSON), and returns the exit status: 0 valid, 1 any finding, 2 usage or I/O error.
 */
export async function verifyCommand(args: VerifyArgs, io: AuditCliIo): Promise<number> {
  if (args.publicKeys.length === 0) {
    throw new AuditUsageError(
      'at least one `--public-key PEM` is required: the verifier trusts nothing but the root public keys',
    );
  }
  const trustedRootKeys = await loadPublicKeys(args.publicKeys);
  let source: AsyncIterable<string | Uint8Array>;
  try {
    source = openInput(args.input, io.stdin);
  } catch (e) {
    throw new AuditUsageError(e instanceof Error ? e.message : String(e));
  }

  let verifier: ChainVerifier | null = null;
  const make = (implied?: unknown): ChainVerifier => {
    const opts: ChainVerifierOptions = { trustedRootKeys };
    if (args.fromSeq !== undefined) {
      opts.fromSeq = args.fromSeq;
      opts.expectPrevious = args.expectPrevious;
    } else if (isRecordLike(implied)) {
      // A single record (a decision response): verify it alone, as the suffix that starts with it.
      const { seq, previous_hash: previous } = implied;
      if (typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1) opts.fromSeq = seq;
      if (typeof previous === 'string' && HASH_PATTERN.test(previous)) opts.expectPrevious = previous;
      if (opts.fromSeq !== undefined && opts.fromSeq > 1 && opts.expectPrevious === undefined)
        delete opts.fromSeq;
    }
    try {
      return new ChainVerifier(opts);
    } catch (e) {
      if (e instanceof ChainVerifierOptionsError) throw new AuditUsageError(e.message);
      throw e;
    }
  };
  const current = (): ChainVerifier => {
    verifier ??= make();
    return verifier;
  };

  try {
    await readAuditInput(source, {
      start: (format, single) => {
        verifier = make(format === 'response' || format === 'record' ? single : undefined);
      },
      line: (text) => current().add(text),
      record: (value) => current().addRecord(value as Record<string, unknown>),
      unreadable: (text) => current().add(text),
    });
  } catch (e) {
    if (e instanceof AuditUsageError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code ?? err.message;
    throw new AuditInputError(
      `cannot read \`${args.input === '-' ? 'standard input' : args.input}\` (${why})`,
    );
  }

  const report = current().finish();
  io.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.ok ? EXIT.OK : EXIT.TAMPERED;
}
