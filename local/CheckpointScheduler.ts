import type { Checkpoint } from '../core/checkpoint.js';

export interface CheckpointSchedulerOptions {
  /** Sign once this many records were appended since the last checkpoint. Default 100. */
  everyRecords?: number;
  /**
   * Also run at most this long after the previous run ended, busy or idle. Default 60_000.
   * When idle this is the heartbeat: `Checkpointer.checkpoint()` reuses the stored note for the unchanged
   * size (a size is signed once, never re-signed) and refreshes the heartbeat item's timestamp.
   */
  everyMs?: number;
  /** Receives checkpoint failures; they are never thrown. */
  onError?(error: unknown): void;
}

/**
 * Runs `checkpointer.checkpoint()` every `everyRecords` appended records or every `everyMs`, whichever
 * comes first, never two at once. Timers are `unref()`ed so they never keep the process alive.
 */
export class CheckpointScheduler {
  readonly #checkpointer: { checkpoint(): Promise<Checkpoint> };
  readonly #everyRecords: number;
  readonly #everyMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #started = false;
  /** Size of the last checkpoint signed or reused. */
  #covered = 0;
  /** Highest seq reported by `notifyAppended`. */
  #head = 0;
  /** A trigger came while a run was in progress: run once more after it. */
  #pending = false;

  constructor(checkpointer: { checkpoint(): Promise<Checkpoint> }, options: CheckpointSchedulerOptions = {}) {
    this.#checkpointer = checkpointer;
    this.#everyRecords = options.everyRecords ?? 100;
    this.#everyMs = options.everyMs ?? 60_000;
    if (!Number.isSafeInteger(this.#everyRecords) || this.#everyRecords < 1) {
      throw new RangeError(`everyRecords must be a positive integer, got \`${this.#everyRecords}\``);
    }
    if (!Number.isFinite(this.#everyMs) || this.#everyMs < 1) {
      throw new RangeError(`everyMs must be a positive number, got \`${this.#everyMs}\``);
    }
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Tells the scheduler record `seq` was appended; runs a checkpoint when `everyRecords` are uncovered. */
  notifyAppended(seq: number): void {
    if (seq > this.#head) this.#head = seq;
    if (this.#started && this.#head - this.#covered >= this.#everyRecords) this.#trigger();
  }

  /** Starts the timer; the first timed run is `everyMs` from now. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#arm();
  }

  /** Stops the timer and resolves once a run in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#pending = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  #arm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#trigger(), this.#everyMs);
    this.#timer.unref();
  }

  #trigger(): void {
    if (!this.#started) return;
    if (this.#running !== null) {
      this.#pending = true;
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#running = this.#run();
  }

  async #run(): Promise<void> {
    try {
      // Deferred a tick so a synchronous throw cannot reach `finally` before `#running` is assigned.
      const checkpoint = await Promise.resolve().then(() => this.#checkpointer.checkpoint());
      if (checkpoint.size > this.#covered) this.#covered = checkpoint.size;
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // a failing error handler must not break the schedule
      }
    } finally {
      this.#running = null;
      if (this.#started) {
        const again = this.#pending && this.#head - this.#covered >= this.#everyRecords;
        this.#pending = false;
        if (again) this.#trigger();
        else this.#arm();
      }
    }
  }
}
