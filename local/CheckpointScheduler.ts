/** What the scheduler needs of a checkpoint run (`LogCheckpoint`): each lane's size its epoch covered. */
interface CheckpointRun {
  epoch: { lanes: ReadonlyArray<{ lane: string; size: number }> };
}

export interface CheckpointSchedulerOptions {
  /** Sign once this many records (all lanes together) were appended after the last checkpoint. Default 100. */
  everyRecords?: number;
  /**
   * Also run at most this long after the previous run ended, busy or idle. Default 60_000.
   * When idle this keeps the signed time fresh: `Checkpointer.checkpoint()` reuses each lane's stored note
   * (a size is signed once, never re-signed) and signs a new epoch once the newest is older than its refresh.
   */
  everyMs?: number;
  /** Receives checkpoint failures; they are never thrown. */
  onError?(error: unknown): void;
}

/**
 * Runs `checkpointer.checkpoint()` (every lane and the epoch) every `everyRecords` records appended to any
 * lane or every `everyMs`, whichever comes first, never two at once. Timers are `unref()`ed so they never
 * keep the process alive.
 */
export class CheckpointScheduler {
  readonly #checkpointer: { checkpoint(): Promise<CheckpointRun> };
  readonly #everyRecords: number;
  readonly #everyMs: number;
  readonly #onError: (error: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #started = false;
  /** Each lane's size the last epoch covered. */
  readonly #covered = new Map<string, number>();
  /** Each lane's highest seq reported by `notifyAppended`. */
  readonly #heads = new Map<string, number>();
  /** A trigger came while a run was in progress: run once more after it. */
  #pending = false;

  constructor(
    checkpointer: { checkpoint(): Promise<CheckpointRun> },
    options: CheckpointSchedulerOptions = {},
  ) {
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

  /** Tells the scheduler a record was appended; runs a checkpoint when `everyRecords` are uncovered. */
  notifyAppended(record: { chain: string; seq: number }): void {
    if (record.seq > (this.#heads.get(record.chain) ?? 0)) this.#heads.set(record.chain, record.seq);
    if (this.#started && this.#uncovered() >= this.#everyRecords) this.#trigger();
  }

  /** Records appended to every lane and not covered by the last epoch. */
  #uncovered(): number {
    let total = 0;
    for (const [lane, head] of this.#heads) total += Math.max(0, head - (this.#covered.get(lane) ?? 0));
    return total;
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
      for (const { lane, size } of checkpoint.epoch.lanes) {
        if (size > (this.#covered.get(lane) ?? 0)) this.#covered.set(lane, size);
      }
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // a failing error handler must not break the schedule
      }
    } finally {
      this.#running = null;
      if (this.#started) {
        const again = this.#pending && this.#uncovered() >= this.#everyRecords;
        this.#pending = false;
        if (again) this.#trigger();
        else this.#arm();
      }
    }
  }
}
