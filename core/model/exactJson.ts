import { ValidationError } from '../errors/errors.js';

/**
 * Request bodies must mean exactly what their records hash. `JSON.parse` silently turns `1e400` into
 * `Infinity`, `9007199254740993` into `9007199254740992` and `1e-400` into `0`, keeps the last of two
 * equal keys, and accepts lone UTF-16 surrogates that RFC 8785 cannot canonicalize; nesting has no
 * bound. So a body is read twice: `JSON.parse` for the value, and {@link assertExactJsonText} over the
 * same text for what the value can no longer show. Each refusal is a 400 naming where in the body.
 */

/**
 * The deepest nesting of objects and arrays a body may have, the body object itself being level 1.
 * The same as DynamoDB's limit for nested attributes; deep enough for any real `context` or `params`,
 * and it keeps the recursive canonicalization and policy evaluation far from the stack limit.
 */
export const MAX_JSON_DEPTH = 32;

/** JSON numbers are read as IEEE 754 doubles, which hold every integer exactly only up to 2^53 - 1. */
const MAX_EXACT = Number.MAX_SAFE_INTEGER;

/** A run of string characters that need no look: no quote, no backslash, no surrogate code unit. */
const PLAIN_RUN = /[^"\\\ud800-\udfff]*/y;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_SHOWN = 40;

/** One open object or array while scanning, and where the scan is inside it. */
interface Frame {
  array: boolean;
  /** Array: the index of the current element. */
  index: number;
  /** Object: the key of the current member (`null` before the first). */
  key: string | null;
  /** Object: the keys seen so far. */
  keys: Set<string>;
  /** Object: the next string is a key. */
  expectKey: boolean;
}

/**
 * Refuses JSON text that parses but would not be recorded exactly: a number outside ±(2^53 - 1) or one
 * that rounds to 0 (`NUMBER_OUT_OF_RANGE`), a lone surrogate in a string or key (`LONE_SURROGATE`), a key
 * twice in one object (`DUPLICATE_KEY`), nesting deeper than {@link MAX_JSON_DEPTH} (`NESTING_TOO_DEEP`).
 * Only number tokens outside strings count. `text` must already be valid JSON (`JSON.parse` succeeded);
 * the scan is iterative, so no nesting can exhaust the stack. Non-integer numbers within range are
 * doubles, as RFC 8785 reads them. Throws a {@link ValidationError} with `details.field`.
 */
export function assertExactJsonText(text: string): void {
  const stack: Frame[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x7b || c === 0x5b) {
      // `{` or `[`
      if (stack.length >= MAX_JSON_DEPTH) throw tooDeep(pathOf(stack));
      const array = c === 0x5b;
      stack.push({ array, index: 0, key: null, keys: new Set(), expectKey: !array });
      i += 1;
    } else if (c === 0x7d || c === 0x5d) {
      // `}` or `]`
      stack.pop();
      i += 1;
    } else if (c === 0x2c) {
      // `,`
      if (top?.array) top.index += 1;
      else if (top) top.expectKey = true;
      i += 1;
    } else if (c === 0x3a) {
      // `:`
      if (top) top.expectKey = false;
      i += 1;
    } else if (c === 0x22) {
      // `"`: a string. Only keys, and strings with escapes or surrogates, need decoding (by JSON.parse
      // itself, so escapes mean exactly what they mean to the parser); the rest pass as they are.
      const { end, plain } = scanString(text, i);
      const isKey = top !== undefined && !top.array && top.expectKey;
      if (isKey || !plain) {
        const value = plain ? text.slice(i + 1, end - 1) : (JSON.parse(text.slice(i, end)) as string);
        if (isKey) {
          if (top.keys.has(value)) throw duplicateKey(value, pathOf(stack.slice(0, -1)));
          top.keys.add(value);
          top.key = value;
        }
        if (!plain && LONE_SURROGATE.test(value)) throw loneSurrogate(value, pathOf(stack));
      }
      i = end;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      // `-` or a digit: a number token.
      let j = i + 1;
      while (j < n && isNumberChar(text.charCodeAt(j))) j += 1;
      const token = text.slice(i, j);
      if (!isExactNumberToken(token)) throw outOfRange(token, pathOf(stack));
      i = j;
    } else {
      // whitespace, or a letter of true, false, null
      i += 1;
    }
  }
}

/**
 * The same rules for a body that arrives as a value (an in-process caller of the core use cases), where
 * only what the value still shows can be checked: numbers outside ±(2^53 - 1) or not finite, lone
 * surrogates, nesting, and values JSON has no form for.
 */
export function assertExactJsonValue(value: unknown): void {
  walk(value, '', 0);
}

function walk(value: unknown, path: string, depth: number): void {
  if (value === null || value === undefined || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) > MAX_EXACT) throw outOfRange(String(value), path);
    return;
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw loneSurrogate(value, path);
    return;
  }
  if (typeof value !== 'object') {
    throw new ValidationError(`${where(path)} is a ${typeof value}: expected a JSON value`, { field: path });
  }
  if (depth >= MAX_JSON_DEPTH) throw tooDeep(path);
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      walk(item, `${path}[${index}]`, depth + 1);
    });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const itemPath = join(path, key);
    if (LONE_SURROGATE.test(key)) throw loneSurrogate(key, itemPath);
    walk(item, itemPath, depth + 1);
  }
}

/** A number token must denote a double within ±(2^53 - 1), and a non-zero token must not round to 0. */
function isExactNumberToken(token: string): boolean {
  const value = Number(token);
  if (!Number.isFinite(value) || Math.abs(value) > MAX_EXACT) return false;
  return value !== 0 || !/[1-9]/.test(token.split(/[eE]/)[0] as string);
}

function isNumberChar(c: number): boolean {
  // digits . + - e E
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2b || c === 0x2d || c === 0x65 || c === 0x45;
}

/**
 * The index just past the closing quote of the string starting at `start` (valid JSON assumed), and
 * whether its text is its value with nothing to check: no escape and no surrogate code unit.
 */
function scanString(text: string, start: number): { end: number; plain: boolean } {
  let plain = true;
  let j = start + 1;
  for (;;) {
    PLAIN_RUN.lastIndex = j;
    PLAIN_RUN.test(text);
    j = PLAIN_RUN.lastIndex;
    if (j >= text.length) return { end: text.length, plain };
    const c = text.charCodeAt(j);
    if (c === 0x22) return { end: j + 1, plain };
    plain = false;
    j += c === 0x5c ? 2 : 1; // an escape, or a surrogate code unit
  }
}

function pathOf(frames: readonly Frame[]): string {
  let path = '';
  for (const frame of frames) {
    if (frame.array) path += `[${frame.index}]`;
    else if (frame.key !== null) path = join(path, frame.key);
  }
  return path;
}

function join(path: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

function where(path: string): string {
  return path === '' ? 'the body' : show(path, 200);
}

/** User input in backticks, clipped, with lone surrogates written as escapes. */
function show(value: string, max = MAX_SHOWN): string {
  const clipped = value.length > max ? `${value.slice(0, max)}...` : value;
  const printable = clipped.replace(
    /[\ud800-\udfff]/g,
    (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `\`${printable.replace(/`/g, "'")}\``;
}

function outOfRange(token: string, path: string): ValidationError {
  return new ValidationError(
    `number ${show(token)} at ${where(path)} cannot be recorded exactly: expected a number within ` +
      `±${MAX_EXACT} that does not round to 0 (send larger integers as strings)`,
    { field: path },
    'NUMBER_OUT_OF_RANGE',
  );
}

function loneSurrogate(value: string, path: string): ValidationError {
  const unit = LONE_SURROGATE.exec(value)?.[0] ?? '';
  return new ValidationError(
    `string at ${where(path)} holds the lone surrogate ${show(unit)}: expected well-formed unicode`,
    { field: path },
    'LONE_SURROGATE',
  );
}

function duplicateKey(key: string, objectPath: string): ValidationError {
  return new ValidationError(
    `key ${show(key)} appears twice in ${where(objectPath)}: expected each key once per object`,
    { field: join(objectPath, key) },
    'DUPLICATE_KEY',
  );
}

function tooDeep(path: string): ValidationError {
  return new ValidationError(
    `${where(path)} nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels: expected at most ${MAX_JSON_DEPTH}`,
    { field: path },
    'NESTING_TOO_DEEP',
  );
}
