/**
 * Measurement primitives for the benchmarks: bounded loops (a count cap AND a wall-time cap, so a slow
 * machine shortens a run instead of stretching it) and order statistics. No I/O.
 */

/** Caps of one measured loop; whichever is hit first ends it. */
export interface Bounds {
  /** Operations to run at most. */
  count: number;
  /** Wall time after which no new operation starts (ms). */
  maxMs: number;
  /** Operations in flight at once. Default 1. */
  concurrency?: number;
}

/** What one bounded loop measured. Latencies are per operation, in milliseconds, in completion order. */
export interface LoadResult {
  /** Operations that resolved. */
  completed: number;
  /** Operations that rejected (they are not in `latenciesMs`). */
  failed: number;
  /** The first rejection, for the report. */
  firstError: unknown;
  elapsedMs: number;
  latenciesMs: number[];
  /** True when the wall-time cap, not the count, ended the loop. */
  timeCapped: boolean;
}

/**
 * Runs `op(i)` up to `count` times with `concurrency` in flight, starting no new operation after `maxMs`.
 * Each worker runs its operations one after the other (closed loop), so the offered load is exactly the
 * concurrency and latency is not inflated by a queue the benchmark built itself.
 */
export async function runBounded(bounds: Bounds, op: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const concurrency = Math.max(1, Math.min(bounds.concurrency ?? 1, bounds.count));
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = 0;
  let firstError: unknown;
  let timeCapped = false;
  const started = performance.now();
  const deadline = started + bounds.maxMs;
  const worker = async (): Promise<void> => {
    for (;;) {
      if (next >= bounds.count) return;
      if (performance.now() >= deadline) {
        timeCapped = true;
        return;
      }
      const i = next++;
      const t0 = performance.now();
      try {
        await op(i);
        latenciesMs.push(performance.now() - t0);
      } catch (error) {
        failed++;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    completed: latenciesMs.length,
    failed,
    firstError,
    elapsedMs: performance.now() - started,
    latenciesMs,
    timeCapped,
  };
}

/**
 * Times a synchronous (or microtask-only) operation in a tight loop, bounded like {@link runBounded}, and
 * returns the mean cost per operation in microseconds. Batches of `batch` calls amortise the clock reads.
 */
export async function timePerOp(
  bounds: { count: number; maxMs: number; batch?: number },
  op: (i: number) => unknown,
): Promise<{ ops: number; perOpUs: number; opsPerSec: number; elapsedMs: number }> {
  const batch = Math.max(1, bounds.batch ?? 50);
  let ops = 0;
  const started = performance.now();
  const deadline = started + bounds.maxMs;
  while (ops < bounds.count && performance.now() < deadline) {
    const n = Math.min(batch, bounds.count - ops);
    for (let k = 0; k < n; k++) {
      const r = op(ops + k);
      if (r instanceof Promise) await r;
    }
    ops += n;
  }
  const elapsedMs = performance.now() - started;
  const perOpUs = ops > 0 ? (elapsedMs * 1000) / ops : Number.NaN;
  return { ops, perOpUs, opsPerSec: ops > 0 ? (ops * 1000) / elapsedMs : 0, elapsedMs };
}

/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN for an empty list. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Throughput and latency summary of a {@link LoadResult}. */
export interface LoadSummary {
  ops: number;
  failed: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  elapsedMs: number;
  timeCapped: boolean;
}

export function summarize(result: LoadResult): LoadSummary {
  return {
    ops: result.completed,
    failed: result.failed,
    opsPerSec: result.elapsedMs > 0 ? (result.completed * 1000) / result.elapsedMs : 0,
    p50Ms: quantile(result.latenciesMs, 0.5),
    p99Ms: quantile(result.latenciesMs, 0.99),
    maxMs: quantile(result.latenciesMs, 1),
    elapsedMs: result.elapsedMs,
    timeCapped: result.timeCapped,
  };
}

/** Rounds for the report: `digits` significant decimals, NaN and infinities become null (valid JSON). */
export function round(value: number, digits = 2): number | null {
  if (!Number.isFinite(value)) return null;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
