import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ProveArgs } from '../../audit/prove.js';
import { HASH_PATTERN } from '../../core/model/index.js';
import { parseDuration } from '../../core/verify/index.js';
import { packageVersion } from '../cli/version.js';
import { proveCommand, verifyReceiptCommand } from './proveCommand.js';
import {
  type AuditCliIo,
  AuditInputError,
  AuditUsageError,
  EXIT,
  type VerifyArgs,
  verifyCommand,
} from './verifyCommand.js';
import { verifyRecordCommand } from './verifyRecordCommand.js';

export const USAGE = `usage: zt-audit verify (FILE | --bundle DIR | -) --public-key PEM [--public-key PEM]...
                       [--keys keys.json] [--checkpoint FILE]... [--max-age DURATION] [--state FILE]
                       [--from-seq N --expect-previous HASH] [--threads N] [--json]
       zt-audit prove (LANE-SEQ | SEQ) --bundle DIR [--checkpoint FILE] [--out FILE]
       zt-audit verify-receipt FILE --public-key PEM [--json]
       zt-audit verify-record (FILE | -) --public-key PEM [--keys keys.json] [--json]

verify: proves an exported log complete, unaltered and in order, trusting nothing but the root public
keys. The log is a set of lanes, each its own hash chain: every record's schema, canonical form and
hash, each lane's sequence and previous_hash links, every signature and session-key certificate; the
checkpoints' and the epoch's root signatures and Merkle roots (a cut lane tail, a dropped lane or a lane
rewritten after a checkpoint fails); the newest signed time's age; the policies and agents every allow
refers to, at the configuration version it names.

A bundle carrying its own checkpoint proves the log only up to that checkpoint's signed time: a bundle
cut back to an older genuine checkpoint still verifies, unless --state remembers a newer one.

  FILE | -              the log: JSON Lines (one stored record per line, lanes in any order), a JSON
                        array of records or a GET /audit page; - reads standard input. Whatever its
                        shape, it is verified as a log from seq 1: a file holding one record (or one
                        decision response) is a one-record log, never rated better than the log it was
                        cut from
  --bundle DIR          a \`zt audit export --bundle\` directory: lanes/<lane>.jsonl, checkpoint.json,
                        keys.json (or records.jsonl, a bundle from before lanes)
  --public-key PEM      a root public key (SPKI PEM file; several keys per file are fine); repeatable.
                        The only trust anchor: a keys file whose root differs is tamper evidence
  --keys FILE           a GET /keys body: adds session keys through their root-signed certificates
  --checkpoint FILE     a GET /audit/checkpoint body (or GET /audit/checkpoints output); repeatable:
                        every checkpoint must be a prefix of the log
  --max-age DURATION    the newest signed time (the epoch's, else a checkpoint's) may be at most this
                        old (500ms, 90s, 15m, 24h, 7d); for notes from before signed times, the newest
                        record a checkpoint covers
  --state FILE          the verifier's memory: the newest epoch a valid run accepted. An older epoch, or
                        one that does not extend it, is tamper evidence; a valid run updates the file
                        (created on first use), any other run leaves it as it was
  --from-seq N          the input starts at seq N (a suffix of the chain)...
  --expect-previous H   ...whose first record links to H, the current_hash of record N-1
  --threads N           worker threads for signatures (default: one per core; 1: none)
  --json                print the report as JSON

prove: a receipt for one record of any lane, named by its id (\`w-1-42\`) or, in main, its seq (the
record, its inclusion proof against its lane's checkpoint, the certificate of its session key), computed
offline from a bundle. verify-receipt checks one with the root key alone.

verify-record: checks one record on its own (a decision response an agent kept, or one record): schema,
hash, signature, and its session key's certificate from --keys. It says nothing about the log the record
belongs to (prove that with a receipt); it refuses a file that holds a list of records.

Exit status: 0 valid, 1 tamper evidence, 2 usage or I/O error, 3 incomplete or stale (no checkpoint or
epoch, records no statement covers, or the newest signed time older than --max-age).
`;

/**
 * A usage error: the message and that command's usage line(s) only (the whole text is `--help`'s); with
 * `--json`, `{"error":{"code","message"}}` on stdout instead.
 */
function usageError(io: AuditCliIo, message: string, command?: string, json = false, code = 'USAGE'): number {
  if (json) {
    io.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`);
    return EXIT.USAGE;
  }
  io.stderr.write(`zt-audit: ${message}\n\n${commandUsage(command)}`);
  return EXIT.USAGE;
}

/** The usage lines of one command (all of them when it is unknown), and where to read more. */
function commandUsage(command: string | undefined): string {
  const lines = USAGE.slice(0, USAGE.indexOf('\n\n')).split('\n');
  const start = lines.findIndex(
    (l) =>
      command !== undefined &&
      l
        .replace(/^usage:/, '')
        .trimStart()
        .startsWith(`zt-audit ${command} `),
  );
  if (start < 0) return `${lines.join('\n')}\n\nRun \`zt-audit --help\` for details.\n`;
  const own = [lines[start] as string];
  for (let i = start + 1; i < lines.length && !/^\s*(usage:\s*)?zt-audit /.test(lines[i] as string); i++)
    own.push(lines[i] as string);
  return `usage: ${own.map((l) => l.replace(/^(usage:)?\s*/, '')).join('\n       ')}\n\nRun \`zt-audit --help\` for details.\n`;
}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new AuditUsageError(e instanceof Error ? e.message : String(e));
  }
}

function positiveInt(text: string, flag: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new AuditUsageError(`${flag} must be an integer >= 1, got \`${text}\``);
  }
  return Number(text);
}

function parseVerifyArgs(argv: string[]): VerifyArgs {
  const { values, positionals } = parse({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      'public-key': { type: 'string', multiple: true },
      bundle: { type: 'string' },
      keys: { type: 'string' },
      checkpoint: { type: 'string', multiple: true },
      'max-age': { type: 'string' },
      state: { type: 'string' },
      'from-seq': { type: 'string' },
      'expect-previous': { type: 'string' },
      threads: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const bundle = values.bundle;
  if (bundle !== undefined && positionals.length > 0) {
    throw new AuditUsageError(`give either a FILE or --bundle DIR, not both (got \`${positionals[0]}\`)`);
  }
  if (bundle === undefined && positionals.length !== 1) {
    throw new AuditUsageError(
      positionals.length === 0
        ? 'verify needs the log to read: a FILE, --bundle DIR, or - for standard input'
        : `verify reads one log, got ${positionals.length}: ${positionals.map((p) => `\`${p}\``).join(' ')}`,
    );
  }
  const args: VerifyArgs = {
    input: bundle === undefined ? (positionals[0] as string) : null,
    publicKeys: values['public-key'] ?? [],
    checkpoints: values.checkpoint ?? [],
    json: values.json ?? false,
  };
  if (bundle !== undefined) args.bundle = bundle;
  if (values.keys !== undefined) args.keys = values.keys;
  if (values.state !== undefined) args.state = values.state;
  const maxAge = values['max-age'];
  if (maxAge !== undefined) {
    const ms = parseDuration(maxAge);
    if (ms === null) {
      throw new AuditUsageError(`--max-age must be a duration like 90s, 15m, 24h or 7d, got \`${maxAge}\``);
    }
    args.maxAgeMs = ms;
  }
  if (values.threads !== undefined) args.threads = positiveInt(values.threads, '--threads');
  const fromSeq = values['from-seq'];
  const expectPrevious = values['expect-previous'];
  if (fromSeq !== undefined) {
    args.fromSeq = positiveInt(fromSeq, '--from-seq');
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

function parseProveArgs(argv: string[]): ProveArgs & { out?: string } {
  const { values, positionals } = parse({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { bundle: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' } },
  });
  if (positionals.length !== 1) {
    throw new AuditUsageError('prove needs one record: its id (LANE-SEQ) or a seq of main');
  }
  if (values.bundle === undefined) throw new AuditUsageError('prove needs --bundle DIR');
  const args: ProveArgs & { out?: string } = { record: positionals[0] as string, bundle: values.bundle };
  if (values.checkpoint !== undefined) args.checkpoint = values.checkpoint;
  if (values.out !== undefined) args.out = values.out;
  return args;
}

/** Runs `zt-audit` with `argv` (without node and the script) and returns the exit status. Never throws. */
export async function runZtAudit(argv: string[], io: AuditCliIo): Promise<number> {
  const [command, ...rest] = argv;
  const json = argv.includes('--json');
  if (command === '--version') {
    io.stdout.write(
      json ? `${JSON.stringify({ version: packageVersion() })}\n` : `zt-audit ${packageVersion()}\n`,
    );
    return EXIT.OK;
  }
  if (command === undefined) return usageError(io, 'missing command');
  if (command === '--help' || command === '-h' || command === 'help') {
    io.stdout.write(USAGE);
    return EXIT.OK;
  }
  if (
    command !== 'verify' &&
    command !== 'prove' &&
    command !== 'verify-receipt' &&
    command !== 'verify-record'
  ) {
    return usageError(
      io,
      `unknown command \`${command}\`; the commands are \`verify\`, \`prove\`, \`verify-receipt\`, \`verify-record\``,
      undefined,
      json,
    );
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(USAGE);
    return EXIT.OK;
  }
  try {
    if (command === 'prove') return await proveCommand(parseProveArgs(rest), io);
    if (command === 'verify-receipt') {
      const { values, positionals } = parse({
        args: rest,
        allowPositionals: true,
        strict: true,
        options: { 'public-key': { type: 'string', multiple: true }, json: { type: 'boolean' } },
      });
      if (positionals.length !== 1) throw new AuditUsageError('verify-receipt needs one receipt FILE');
      return await verifyReceiptCommand(
        {
          file: positionals[0] as string,
          publicKeys: values['public-key'] ?? [],
          json: values.json ?? false,
        },
        io,
      );
    }
    if (command === 'verify-record') {
      const { values, positionals } = parse({
        args: rest,
        allowPositionals: true,
        strict: true,
        options: {
          'public-key': { type: 'string', multiple: true },
          keys: { type: 'string' },
          json: { type: 'boolean' },
        },
      });
      if (positionals.length !== 1) {
        throw new AuditUsageError(
          'verify-record needs one FILE (or - for standard input): the record to check',
        );
      }
      return await verifyRecordCommand(
        {
          input: positionals[0] as string,
          publicKeys: values['public-key'] ?? [],
          ...(values.keys !== undefined ? { keys: values.keys } : {}),
          json: values.json ?? false,
        },
        io,
      );
    }
    return await verifyCommand(parseVerifyArgs(rest), io);
  } catch (e) {
    if (e instanceof AuditInputError) {
      if (json) io.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message } })}\n`);
      else io.stderr.write(`zt-audit: ${e.message}\n`);
      return EXIT.USAGE;
    }
    if (e instanceof AuditUsageError) return usageError(io, e.message, command, json, e.code);
    const message = `unexpected error: ${e instanceof Error ? e.message : String(e)}`;
    if (json) io.stdout.write(`${JSON.stringify({ error: { code: 'INTERNAL', message } })}\n`);
    else io.stderr.write(`zt-audit: ${message}\n`);
    return EXIT.USAGE;
  }
}
