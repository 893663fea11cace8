import { parseArgs } from 'node:util';
import { HASH_PATTERN } from '../../core/recordParser.js';
import {
  type AuditCliIo,
  AuditInputError,
  AuditUsageError,
  EXIT,
  type VerifyArgs,
  verifyCommand,
} from './verifyCommand.js';

export const USAGE = `usage: zt-audit verify (FILE | -) --public-key PEM [--public-key PEM]...
                       [--from-seq N --expect-previous HASH] [--json]

Verifies an audit log trusting nothing but the root public keys: every record's schema, canonical form
and hash, the sequence, every previous_hash link, every signature and session-key certificate.

  FILE | -              JSON Lines (one stored record per line, e.g. from \`zt audit export\`), a JSON
                        array of records, a GET /audit page, or one decision response ({ok, ..., audit});
                        - reads standard input
  --public-key PEM      a root public key (SPKI PEM file; several keys per file are fine); repeatable
  --from-seq N          the input starts at seq N (a suffix of the chain)...
  --expect-previous H   ...whose first record links to H, the current_hash of record N-1
  --json                print the report as JSON

A cut tail is not visible in the chain itself: compare the head with a signed checkpoint.
Exit status: 0 valid, 1 tamper evidence (any finding), 2 usage or I/O error.
`;

function usageError(io: AuditCliIo, message: string): number {
  io.stderr.write(`zt-audit: ${message}\n\n${USAGE}`);
  return EXIT.USAGE;
}

function parseVerifyArgs(argv: string[]): VerifyArgs {
  let parsed: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'public-key': { type: 'string', multiple: true },
        'from-seq': { type: 'string' },
        'expect-previous': { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  }
  try {
    parsed = parse();
  } catch (e) {
    throw new AuditUsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new AuditUsageError(
      positionals.length === 0
        ? 'verify needs the log to read: a FILE, or - for standard input'
        : `verify reads one log, got ${positionals.length}: ${positionals.map((p) => `\`${p}\``).join(' ')}`,
    );
  }
  const args: VerifyArgs = {
    input: positionals[0] as string,
    publicKeys: values['public-key'] ?? [],
    json: values.json ?? false,
  };
  const fromSeq = values['from-seq'];
  const expectPrevious = values['expect-previous'];
  if (fromSeq !== undefined) {
    if (!/^[1-9][0-9]{0,15}$/.test(fromSeq) || !Number.isSafeInteger(Number(fromSeq))) {
      throw new AuditUsageError(`--from-seq must be an integer >= 1, got \`${fromSeq}\``);
    }
    args.fromSeq = Number(fromSeq);
    if (args.fromSeq > 1 && expectPrevious === undefined) {
      throw new AuditUsageError(
        `--from-seq ${fromSeq} needs --expect-previous: the current_hash of record ${args.fromSeq - 1}`,
      );
    }
  }
  if (expectPrevious !== undefined) {
    if (fromSeq === undefined) throw new AuditUsageError('--expect-previous goes with --from-seq');
    if (!HASH_PATTERN.test(expectPrevious)) {
      throw new AuditUsageError(
        `--expect-previous must be 64 lower-case hex digits, got \`${expectPrevious}\``,
      );
    }
    args.expectPrevious = expectPrevious;
  }
  return args;
}

/** Runs `zt-audit` with `argv` (without node and the script) and returns the exit status. Never throws. */
export async function runZtAudit(argv: string[], io: AuditCliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) return usageError(io, 'missing command');
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (command !== 'verify')
    return usageError(io, `unknown command \`${command}\`; the command is \`verify\``);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(USAGE);
    return EXIT.OK;
  }
  try {
    return await verifyCommand(parseVerifyArgs(rest), io);
  } catch (e) {
    if (e instanceof AuditInputError) {
      io.stderr.write(`zt-audit: ${e.message}\n`);
      return EXIT.USAGE;
    }
    if (e instanceof AuditUsageError) return usageError(io, e.message);
    io.stderr.write(`zt-audit: unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.USAGE;
  }
}
