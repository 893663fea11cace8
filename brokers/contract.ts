import type { DecisionRecord } from '../core/model/index.js';
import { canonicalSha256 } from '../core/model/index.js';
import type {
  DecisionRequest,
  OutcomeReport,
  VerifiedDecision,
  ZeroTrustClient,
} from '../sdk/ZeroTrustClient.js';
import { isZeroTrustError } from '../sdk/ZeroTrustClient.js';
import { BrokerError } from './BrokerError.js';

/**
 * The one flow every broker follows (see `ADAPTER_CONTRACT.md`):
 *
 *   1. validate the execution spec strictly; a bad spec never reaches the gateway (`INVALID_SPEC`)
 *   2. ask with `params` = the canonical spec; the SDK verifies the signed answer (signature, actor,
 *      action, resource, `params_sha256`) and anything but a verified allow runs nothing
 *   3. check again, against the spec about to run: same actor/action/resource, `params_sha256` equal to
 *      `canonicalSha256(spec)`, issued within the last `maxDecisionAgeMs` (60 s)
 *   4. claim the allow with a `started` outcome; a 409 means it was used, and nothing runs
 *   5. run, then report `succeeded` (exit 0) or `failed` with the exit code and the SHA-256 of all of stdout
 */

/** The part of {@link ZeroTrustClient} a broker needs. */
export type DecisionClient = Pick<ZeroTrustClient, 'decide' | 'reportOutcome'>;

/** What a finished execution left, as a broker reports it. */
export interface ExecutionResult {
  exitCode: number | null;
  timedOut: boolean;
  /** The captured part of stdout (backends bound it, 1 MiB by default). */
  stdout: Buffer;
  stderr: Buffer;
  /** SHA-256 hex of the whole stdout stream, not only of the captured part. */
  stdoutSha256: string;
}

/** What makes a broker: how to validate a spec, and how to run a valid one. */
export interface BrokerBackend<S> {
  /** Short name, used in messages. */
  readonly name: string;
  /**
   * Returns the canonical spec, as it will be run and as it is sent as `params` (a fresh, plain JSON value
   * with no null and no floats, so Cedar can read it), or throws a {@link BrokerError} with `INVALID_SPEC`.
   * Must refuse unknown fields: whatever is not checked must not be approved. May read the host (e.g. to
   * hash the program file), hence the promise.
   */
  validate(input: unknown): S | Promise<S>;
  /**
   * Runs a validated, approved, claimed spec. Rejects only when it did not start the command: with a
   * {@link BrokerError} to say why (`SANDBOX_UNSAFE`, `PROGRAM_MISMATCH`), any other error being reported
   * as `EXECUTION_ERROR`.
   */
  execute(spec: S): Promise<ExecutionResult>;
}

/** Options of {@link Broker}. */
export interface BrokerOptions {
  client: DecisionClient;
  /** The agent the broker acts for (bound to the client's credentials). */
  actor: string;
  /** The action id asked for, e.g. `broker.bwrap.run`. */
  action: string;
  resource?: string;
  /** Oldest allow the broker will act on. Default 60 000 ms. */
  maxDecisionAgeMs?: number;
  /** Tolerated clock skew for a record dated in the future. Default 5 000 ms. */
  maxClockSkewMs?: number;
  /** Default `() => new Date()`. */
  clock?: () => Date;
  /**
   * Called when the final outcome could not be recorded (the process has run by then, so its result is
   * still returned). Default: a process warning.
   */
  onReportError?: (error: unknown, recordId: string) => void;
}

/** A verified allow for one spec, not yet claimed. */
export interface Approval<S> {
  readonly spec: S;
  readonly paramsSha256: string;
  readonly decision: VerifiedDecision;
}

/** The result of a brokered run. */
export interface BrokerRunResult extends ExecutionResult {
  recordId: string;
  status: 'succeeded' | 'failed';
  /** SHA-256 hex of all of stdout (also past the captured part), as reported. */
  outputSha256: string;
  /** False when the final outcome could not be recorded. */
  outcomeRecorded: boolean;
}

export const DEFAULT_MAX_DECISION_AGE_MS = 60_000;
export const DEFAULT_MAX_CLOCK_SKEW_MS = 5_000;

/** The shared broker flow around a {@link BrokerBackend}. */
export class Broker<S> {
  readonly #backend: BrokerBackend<S>;
  readonly #options: BrokerOptions;
  readonly #clock: () => Date;
  /** Approvals this broker made from verified answers; no other object is ever believed. */
  readonly #issued = new WeakSet<Approval<S>>();

  constructor(backend: BrokerBackend<S>, options: BrokerOptions) {
    this.#backend = backend;
    this.#options = options;
    this.#clock = options.clock ?? (() => new Date());
  }

  /** Validates, then asks; resolves with a verified allow for exactly the validated spec. Runs nothing. */
  async authorize(input: unknown): Promise<Approval<S>> {
    const spec = await this.#validate(input);
    const paramsSha256 = canonicalSha256(spec);
    const request: DecisionRequest = {
      actor: this.#options.actor,
      action: this.#options.action,
      params: spec,
      ...(this.#options.resource !== undefined ? { resource: this.#options.resource } : {}),
    };
    let decision: VerifiedDecision;
    try {
      decision = await this.#options.client.decide(request);
    } catch (err) {
      throw new BrokerError(
        'DECISION_FAILED',
        `no verified decision for \`${this.#options.action}\`: ${describe(err)}`,
        { cause: err, ...(isZeroTrustError(err) ? { zeroTrustCode: err.code } : {}) },
      );
    }
    if (decision.decision !== 'allow') {
      throw new BrokerError('DENIED', `\`${this.#options.action}\` denied: ${decision.reason}`, {
        zeroTrustCode: 'DENIED',
        recordId: decision.recordId,
      });
    }
    const approval: Approval<S> = Object.freeze({ spec, paramsSha256, decision });
    this.#issued.add(approval);
    return approval;
  }

  /**
   * Runs `input` (the same input given to {@link Broker.authorize}) under `approval`: validates it again,
   * checks the allow against it, claims, runs, reports. The spec run is the one validated here, never
   * `approval.spec`, so an allow for one spec cannot run another, and a program file that changed since the
   * approval changes the spec (its `programSha256`) and is refused with `PARAMS_MISMATCH`.
   */
  async execute(approval: Approval<S>, input: unknown): Promise<BrokerRunResult> {
    // INVARIANT: only an approval made by authorize() from a verified answer is acted on; a hand-built
    // one could carry an invented record naming the id of another allow.
    if (!this.#issued.has(approval)) {
      throw new BrokerError('DECISION_MISMATCH', 'the approval was not issued by this broker');
    }
    const spec = await this.#validate(input);
    const record = approval.decision.record;
    this.#checkRecord(record, canonicalSha256(spec));

    // INVARIANT: nothing runs before the gateway has recorded that this allow is used (single use).
    try {
      await this.#options.client.reportOutcome(record.id, { status: 'started' });
    } catch (err) {
      const used = isZeroTrustError(err, 'ALREADY_STARTED');
      throw new BrokerError(
        used ? 'ALREADY_STARTED' : 'CLAIM_FAILED',
        used
          ? `decision \`${record.id}\` was already claimed`
          : `decision \`${record.id}\` could not be claimed: ${describe(err)}`,
        { cause: err, recordId: record.id, ...(isZeroTrustError(err) ? { zeroTrustCode: err.code } : {}) },
      );
    }

    let result: ExecutionResult;
    try {
      result = await this.#backend.execute(spec);
    } catch (err) {
      // The claim is spent; the chain says the run failed, and the error says why nothing started.
      await this.#report(record.id, { status: 'failed', exit_code: null, output_sha256: null });
      if (err instanceof BrokerError) {
        throw new BrokerError(err.code, err.message, { cause: err, recordId: record.id });
      }
      throw new BrokerError('EXECUTION_ERROR', `${this.#backend.name} could not start: ${describe(err)}`, {
        cause: err,
        recordId: record.id,
      });
    }
    const status = result.exitCode === 0 && !result.timedOut ? 'succeeded' : 'failed';
    const outputSha256 = result.stdoutSha256;
    const outcomeRecorded = await this.#report(record.id, {
      status,
      exit_code: result.exitCode,
      output_sha256: outputSha256,
    });
    return { ...result, recordId: record.id, status, outputSha256, outcomeRecorded };
  }

  /** {@link Broker.authorize} then {@link Broker.execute} of the same input. */
  async run(input: unknown): Promise<BrokerRunResult> {
    const approval = await this.authorize(input);
    return this.execute(approval, input);
  }

  async #validate(input: unknown): Promise<S> {
    try {
      return await this.#backend.validate(input);
    } catch (err) {
      if (err instanceof BrokerError) throw err;
      throw new BrokerError('INVALID_SPEC', `the ${this.#backend.name} spec is invalid: ${describe(err)}`, {
        cause: err,
      });
    }
  }

  /** Step 3: the allow is for this broker, this spec, and recent. */
  #checkRecord(record: DecisionRecord, paramsSha256: string): void {
    const { actor, action } = this.#options;
    const resource = this.#options.resource ?? '';
    const fail = (code: 'DECISION_MISMATCH' | 'PARAMS_MISMATCH' | 'DECISION_STALE', message: string) =>
      new BrokerError(code, message, { recordId: record.id });
    if (record.decision !== 'allow')
      throw fail('DECISION_MISMATCH', `decision \`${record.id}\` is not an allow`);
    if (record.actor !== actor || record.action !== action || record.resource !== resource) {
      throw fail(
        'DECISION_MISMATCH',
        `decision \`${record.id}\` is for \`${record.actor}\`/\`${record.action}\`/\`${record.resource}\`, expected \`${actor}\`/\`${action}\`/\`${resource}\``,
      );
    }
    if (record.params_sha256 !== paramsSha256) {
      throw fail(
        'PARAMS_MISMATCH',
        `decision \`${record.id}\` approved params \`${record.params_sha256}\`, the spec to run is \`${paramsSha256}\``,
      );
    }
    const maxAge = this.#options.maxDecisionAgeMs ?? DEFAULT_MAX_DECISION_AGE_MS;
    const skew = this.#options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    const age = this.#clock().getTime() - Date.parse(record.timestamp);
    if (!(age <= maxAge && age >= -skew)) {
      throw fail(
        'DECISION_STALE',
        `decision \`${record.id}\` was issued at ${record.timestamp}, expected within the last ${maxAge} ms`,
      );
    }
  }

  /** Reports a final outcome; a failure is passed to `onReportError`, never thrown (the process has run). */
  async #report(recordId: string, outcome: OutcomeReport): Promise<boolean> {
    try {
      await this.#options.client.reportOutcome(recordId, outcome);
      return true;
    } catch (err) {
      const onReportError =
        this.#options.onReportError ??
        ((e: unknown, id: string) =>
          process.emitWarning(`zt-infra: the outcome of \`${id}\` was not recorded: ${describe(e)}`, {
            code: 'ZT_OUTCOME_NOT_RECORDED',
          }));
      onReportError(err, recordId);
      return false;
    }
  }
}

/** Throws `INVALID_SPEC` with `message`. For backends' `validate`. */
export function invalidSpec(message: string): never {
  throw new BrokerError('INVALID_SPEC', message);
}

/** Refuses fields of `value` not in `allowed`. */
export function assertOnlyKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key))
      invalidSpec(`unknown field \`${key}\` in ${where}, expected one of ${allowed.join(', ')}`);
  }
}

/** True for a plain JSON object (not an array, not null, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A string with no NUL, CR or LF (which would split or truncate an argument or a log line) and no lone
 * surrogate (which canonical JSON cannot represent).
 */
export function assertSafeString(value: unknown, where: string): string {
  if (typeof value !== 'string') invalidSpec(`${where} must be a string, got ${typeof value}`);
  if (/[\0\r\n]/.test(value)) invalidSpec(`${where} must not contain NUL, CR or LF`);
  if (/\p{Cs}/u.test(value)) invalidSpec(`${where} must be well-formed Unicode (no lone surrogate)`);
  return value;
}

/** An integer in `[min, max]`, or `fallback` when absent. */
export function integerIn(
  value: unknown,
  min: number,
  max: number,
  where: string,
  fallback?: number,
): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    invalidSpec(`${where} must be an integer in [${min}, ${max}], got \`${String(value)}\``);
  }
  return value;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
