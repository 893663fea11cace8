/** Output helpers of the `zt` CLI: aligned tables and short values. */

/** An aligned text table with a header row; every line ends with a newline. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].map((l) => `${l}\n`).join('');
}

/** A cell for any JSON value: strings as is, `-` for missing, JSON for the rest. */
export function cell(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'string') return value.replace(/[\r\n\t]+/g, ' ');
  return JSON.stringify(value);
}

/** `key: value` lines for an object's fields, in the server's order. */
export function fields(obj: Record<string, unknown>, skip: readonly string[] = []): string {
  const keys = Object.keys(obj).filter((k) => !skip.includes(k));
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${`${k}:`.padEnd(width + 1)} ${cell(obj[k])}\n`).join('');
}

/** The first 12 hex digits of a hash, enough to tell versions apart in a table. */
export function shortHash(value: unknown): string {
  return typeof value === 'string' && value.length > 12 ? `${value.slice(0, 12)}…` : cell(value);
}
