import { HASH_PATTERN, KEY_ID_PATTERN, RecordFormatError, TIMESTAMP_PATTERN } from './recordFormat.js';

/**
 * The field readers of the record parser: each checks one field of a parsed record (of the right type,
 * matching its pattern) and returns it; `exactFields` checks an object holds exactly the fields it may. A
 * failure throws a `SCHEMA_INVALID` {@link RecordFormatError} naming the JSON path and what was expected.
 */

/** Sanity bound on free-text fields (a Cedar policy is the largest thing a record carries). */
const MAX_TEXT = 256 * 1024;

export type Obj = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : `\`${value}\``;
  if (typeof value === 'number')
    return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `a ${typeof value}`;
}

export function invalid(path: string, expected: string, value: unknown): RecordFormatError {
  return new RecordFormatError(
    'SCHEMA_INVALID',
    `\`${path}\` must be ${expected}, got ${describe(value)}`,
    path,
  );
}

export function isObject(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function exactFields(
  obj: Obj,
  fields: readonly string[],
  path: string,
  optional: readonly string[] = [],
): void {
  const missing = fields.filter((f) => !Object.hasOwn(obj, f));
  if (missing.length > 0) {
    const where = `${path}.${missing[0]}`;
    throw new RecordFormatError(
      'SCHEMA_INVALID',
      `missing field${missing.length > 1 ? 's' : ''} ${missing.map((f) => `\`${f}\``).join(', ')} in \`${path}\``,
      where,
    );
  }
  const extra = Object.keys(obj).filter((k) => !fields.includes(k) && !optional.includes(k));
  if (extra.length > 0) {
    throw new RecordFormatError(
      'SCHEMA_INVALID',
      `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((f) => `\`${f}\``).join(', ')} in \`${path}\`; allowed: ${[...fields, ...optional].join(', ')}`,
      `${path}.${extra[0]}`,
    );
  }
}

export function str(obj: Obj, field: string, path: string, pattern?: RegExp, hint?: string): string {
  const value = obj[field];
  const at = `${path}.${field}`;
  if (typeof value !== 'string') throw invalid(at, hint ?? 'a string', value);
  if (value.length > MAX_TEXT) throw invalid(at, `at most ${MAX_TEXT} characters`, value);
  if (pattern && !pattern.test(value))
    throw invalid(at, hint ?? `a string matching ${pattern.source}`, value);
  return value;
}

export function nonEmpty(obj: Obj, field: string, path: string): string {
  const value = str(obj, field, path);
  if (value.length === 0) throw invalid(`${path}.${field}`, 'a non-empty string', value);
  return value;
}

export function nullableStr(
  obj: Obj,
  field: string,
  path: string,
  pattern?: RegExp,
  hint?: string,
): string | null {
  if (obj[field] === null) return null;
  return str(obj, field, path, pattern, hint ? `${hint} or null` : undefined);
}

export function hash(obj: Obj, field: string, path: string): string {
  return str(obj, field, path, HASH_PATTERN, '64 lower-case hex digits');
}

export function keyId(obj: Obj, field: string, path: string): string {
  return str(obj, field, path, KEY_ID_PATTERN, '`sha256:` and 64 lower-case hex digits');
}

export function timestamp(obj: Obj, field: string, path: string): string {
  const value = str(obj, field, path, TIMESTAMP_PATTERN, 'an ISO 8601 UTC timestamp with milliseconds');
  const date = new Date(value);
  // The pattern admits `2026-02-30T25:00:00.000Z`; a real instant prints back to the same text.
  if (Number.isNaN(date.getTime()) || date.toISOString() !== value) {
    throw invalid(`${path}.${field}`, 'a real ISO 8601 UTC instant', value);
  }
  return value;
}

export function oneOf<T extends string>(obj: Obj, field: string, path: string, allowed: readonly T[]): T {
  const value = obj[field];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${path}.${field}`, `one of ${allowed.map((a) => `\`${a}\``).join(', ')}`, value);
  }
  return value as T;
}

export function integer(obj: Obj, field: string, path: string, min: number): number {
  const value = obj[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(`${path}.${field}`, `an integer >= ${min}`, value);
  }
  return value;
}

export function nullableInteger(obj: Obj, field: string, path: string): number | null {
  const value = obj[field];
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid(`${path}.${field}`, 'an integer or null', value);
  }
  return value;
}

export function stringArray(obj: Obj, field: string, path: string): string[] {
  const value = obj[field];
  const at = `${path}.${field}`;
  if (!Array.isArray(value)) throw invalid(at, 'an array of strings', value);
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw invalid(`${at}[${i}]`, 'a string', item);
  });
  return value as string[];
}
