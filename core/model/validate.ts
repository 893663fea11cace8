import { ValidationError } from '../errors/errors.js';
import { assertExactJsonValue } from './exactJson.js';

/**
 * Small strict readers for request bodies: every failure names the field, what was expected and what
 * came, and unknown fields are refused (a typo must not silently widen or narrow a request).
 */

export type JsonObject = Record<string, unknown>;

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const ACTION_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : `\`${value}\``;
  return `a ${typeof value}`;
}

/**
 * Reads a JSON object body and refuses fields outside `allowed`, and anything in it that would not be
 * recorded exactly (see `assertExactJsonValue`), so an in-process caller gets the same 400s as HTTP.
 */
export function readObject(value: unknown, allowed: readonly string[], what = 'body'): JsonObject {
  assertExactJsonValue(value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`${what} must be a JSON object, got ${describe(value)}`);
  }
  const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new ValidationError(
      `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `\`${k}\``).join(', ')} in ${what}; allowed: ${allowed.join(', ')}`,
      { unknownFields: unknown },
      'UNKNOWN_FIELD',
    );
  }
  return value as JsonObject;
}

export function readString(
  obj: JsonObject,
  field: string,
  options: { required?: boolean; pattern?: RegExp; maxLength?: number; patternHint?: string } = {},
): string | undefined {
  const value = obj[field];
  if (value === undefined) {
    if (options.required) throw new ValidationError(`\`${field}\` is required`);
    return undefined;
  }
  if (typeof value !== 'string')
    throw new ValidationError(`\`${field}\` must be a string, got ${describe(value)}`);
  const max = options.maxLength ?? 4096;
  if (value.length > max) throw new ValidationError(`\`${field}\` must be at most ${max} characters`);
  if (options.pattern && !options.pattern.test(value)) {
    throw new ValidationError(
      `\`${field}\` must match ${options.patternHint ?? options.pattern.source}, got ${describe(value)}`,
    );
  }
  return value;
}

export function requireString(
  obj: JsonObject,
  field: string,
  options: { pattern?: RegExp; maxLength?: number; patternHint?: string } = {},
): string {
  return readString(obj, field, { ...options, required: true }) as string;
}

export function readPlainObject(obj: JsonObject, field: string): JsonObject | undefined {
  const value = obj[field];
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(`\`${field}\` must be a JSON object, got ${describe(value)}`);
  }
  return value as JsonObject;
}

export function readInteger(
  obj: JsonObject,
  field: string,
  options: { min?: number; max?: number } = {},
): number | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ValidationError(`\`${field}\` must be an integer, got ${describe(value)}`);
  }
  if (options.min !== undefined && value < options.min)
    throw new ValidationError(`\`${field}\` must be >= ${options.min}`);
  if (options.max !== undefined && value > options.max)
    throw new ValidationError(`\`${field}\` must be <= ${options.max}`);
  return value;
}

/** Parses a decimal query parameter within bounds. */
export function parseQueryInteger(
  raw: string | undefined,
  name: string,
  options: { min: number; max: number; default: number },
): number {
  if (raw === undefined || raw === '') return options.default;
  if (!/^\d{1,16}$/.test(raw))
    throw new ValidationError(`query parameter \`${name}\` must be an integer, got \`${raw}\``);
  const n = Number(raw);
  if (n < options.min || n > options.max) {
    throw new ValidationError(
      `query parameter \`${name}\` must be between ${options.min} and ${options.max}, got ${n}`,
    );
  }
  return n;
}
