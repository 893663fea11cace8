import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/**
 * Reads a verifier's input in any of the forms `zt-audit verify` accepts, streaming JSONL:
 *
 * - JSON Lines: one stored record per line (the export format). Read line by line, so memory stays flat.
 * - A JSON document whose first line starts with `[` or is a lone `{`: a JSON array of records, a
 *   `GET /audit` page (`{records: [...]}`), a single decision response (`{ok, ..., audit: {...}}`) or a
 *   single record. Read whole (a document is one value), parsed, and handed over as parsed records.
 * - A single decision response or a `GET /audit` page on one line.
 *
 * The format only says how to find the entries: the caller verifies them as a log whatever it is (a
 * decision response is a one-record log), so no shape is rated better than the log it was cut from.
 */

/** What the input turned out to be. */
export type AuditInputFormat = 'jsonl' | 'array' | 'response' | 'record';

/** Receives the entries of the input, in order. */
export interface AuditInputSink {
  /** Called once, before any entry. */
  start(format: AuditInputFormat): void;
  /** A stored line (JSONL), passed as is. A returned promise is awaited before the next line (back-pressure). */
  line(text: string): void | Promise<void>;
  /** A parsed record (an array element, a response's `audit`). A returned promise is awaited. */
  record(value: unknown): void | Promise<void>;
  /** A JSON array document that does not parse: reported as one unreadable entry. */
  unreadable(text: string): void;
}

/** Opens `path` (or the given stdin for `-`) as a stream, lazily; errors surface when reading. */
export function openInput(
  path: string,
  stdin?: AsyncIterable<string | Uint8Array>,
): AsyncIterable<string | Uint8Array> {
  if (path === '-') {
    if (!stdin) throw new Error('no standard input to read');
    return stdin;
  }
  return lazyFile(path);
}

/**
 * Opens the file only when iteration starts: a stream opened but never read (a run that stops at a
 * usage error first) would emit its ENOENT with nobody listening and crash the process.
 */
async function* lazyFile(path: string): AsyncGenerator<string | Uint8Array> {
  yield* createReadStream(path);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function looksLikeResponse(value: Record<string, unknown>): boolean {
  return !Object.hasOwn(value, 'schema') && isObject(value['audit']);
}

/** A line break as `readline` reads one: `\r\n`, `\n` or a lone `\r`. */
const BREAK = /\r\n|\r|\n/;

/**
 * The lines of `source`, a chunk's worth at a time, split exactly as `readline` with
 * `crlfDelay: Infinity` splits them (a `\r\n` across two chunks is one break; no empty line after a final
 * break), without its per-line overhead.
 */
export async function* lineBatches(source: AsyncIterable<string | Uint8Array>): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  // The previous chunk ended with `\r`: a `\n` that starts this one belongs to that break.
  let skipLf = false;
  for await (const chunk of source) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer);
    if (text.length === 0) continue;
    if (skipLf) {
      skipLf = false;
      if (text.startsWith('\n')) text = text.slice(1);
    }
    text = rest + text;
    const crAtEnd = text.endsWith('\r');
    const lines = (crAtEnd ? text.slice(0, -1) : text).split(BREAK);
    rest = lines.pop() as string;
    if (crAtEnd) {
      lines.push(rest);
      rest = '';
      skipLf = true;
    }
    if (lines.length > 0) yield lines;
  }
  let text = decoder.end();
  if (skipLf && text.startsWith('\n')) text = text.slice(1);
  text = rest + text;
  if (text.length > 0) yield [text];
}

/** Reads lines one at a time (the head of the input) or hands all the rest over (the body). */
class LineReader {
  readonly #batches: AsyncIterator<string[]>;
  #batch: string[] = [];
  #at = 0;

  constructor(source: AsyncIterable<string | Uint8Array>) {
    this.#batches = lineBatches(source)[Symbol.asyncIterator]();
  }

  async next(): Promise<string | undefined> {
    while (this.#at >= this.#batch.length) {
      const next = await this.#batches.next();
      if (next.done) return undefined;
      this.#batch = next.value;
      this.#at = 0;
    }
    return this.#batch[this.#at++];
  }

  /** Calls `each` on every remaining line in order, awaiting only the promises it returns. */
  async each(each: (line: string) => void | Promise<void>): Promise<void> {
    for (;;) {
      while (this.#at < this.#batch.length) {
        const pending = each(this.#batch[this.#at++] as string);
        if (pending) await pending;
      }
      const next = await this.#batches.next();
      if (next.done) return;
      this.#batch = next.value;
      this.#at = 0;
    }
  }
}

/** Feeds `sink` from `source`. Resolves when the input is exhausted; rejects on an I/O error. */
export async function readAuditInput(
  source: AsyncIterable<string | Uint8Array>,
  sink: AuditInputSink,
): Promise<AuditInputFormat> {
  const lines = new LineReader(source);
  let blankBefore = 0;
  let first: string | undefined;
  for (;;) {
    const next = await lines.next();
    if (next === undefined) break;
    if (next.trim() === '') {
      blankBefore++;
      continue;
    }
    first = next;
    break;
  }
  if (first === undefined) {
    sink.start('jsonl');
    for (let i = 0; i < blankBefore; i++) await sink.line('');
    return 'jsonl';
  }

  const head = first.trim();
  let oneLine: unknown;
  let oneLineOk = false;
  if (head.startsWith('{')) {
    try {
      oneLine = JSON.parse(first);
      oneLineOk = true;
    } catch {
      oneLineOk = false;
    }
  }

  // A JSON document: an array, or an object spread over several lines (pretty-printed: a lone `{`).
  if (head.startsWith('[') || head === '{') {
    const parts = [first];
    await lines.each((line) => {
      parts.push(line);
    });
    const text = parts.join('\n');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      if (head.startsWith('[')) {
        sink.start('array');
        sink.unreadable(text);
        return 'array';
      }
      // Not a document after all: read it as lines, so each bad line is reported where it is.
      sink.start('jsonl');
      for (let i = 0; i < blankBefore; i++) await sink.line('');
      for (const part of parts) await sink.line(part);
      return 'jsonl';
    }
    const elements = Array.isArray(doc)
      ? doc
      : isObject(doc) && Array.isArray(doc['records'])
        ? doc['records']
        : null;
    if (elements) {
      sink.start('array');
      for (const element of elements) await sink.record(element);
      return 'array';
    }
    if (isObject(doc) && looksLikeResponse(doc)) {
      sink.start('response');
      await sink.record(doc['audit']);
      return 'response';
    }
    sink.start('record');
    await sink.record(doc);
    return 'record';
  }

  // One line: a decision response, a GET /audit page, or the first line of JSON Lines.
  if (oneLineOk && isObject(oneLine) && looksLikeResponse(oneLine)) {
    sink.start('response');
    await sink.record(oneLine['audit']);
    // Anything after the response is not part of it: every non-blank line is reported, never skipped.
    await lines.each((line) => (line.trim() === '' ? undefined : sink.unreadable(line)));
    return 'response';
  }
  if (
    oneLineOk &&
    isObject(oneLine) &&
    !Object.hasOwn(oneLine, 'schema') &&
    Array.isArray(oneLine['records'])
  ) {
    sink.start('array');
    for (const element of oneLine['records']) await sink.record(element);
    // Anything after it is not part of the page: read it as lines, so it is reported.
    await lines.each((line) => sink.line(line));
    return 'array';
  }
  sink.start('jsonl');
  for (let i = 0; i < blankBefore; i++) await sink.line('');
  await sink.line(first);
  await lines.each((line) => sink.line(line));
  return 'jsonl';
}
