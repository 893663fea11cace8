import type { GatewayEvents } from '../core/gateway/index.js';
import type { DecisionRecord } from '../core/model/index.js';

/**
 * Operational metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on
 * stdout, which CloudWatch Logs turns into metrics without any API call from the function.
 *
 * Lines are written with `process.stdout.write`, not `console.log`: the Lambda runtime prefixes
 * `console` output with a timestamp, request id and level, and a prefixed line is not EMF.
 *
 * Every metric carries the dimension `Service` (the stack's name), so two stacks in one account do not
 * mix their figures and the alarms can name their metric exactly. No line carries a secret, a signature
 * or a request body: decision lines carry the verified principal (not the body's `actor` claim, which an
 * attacker chooses) so a burst of denies is attributed to the caller that caused it.
 */

/** Names the stack's alarms and the handlers agree on. A public contract, like construct ids. */
export const METRIC_NAMES = {
  /** One per decision, dimension `Decision` = `allow` | `deny`. */
  decisions: 'Decisions',
  /** Lost conditional-write races on the chain head; each one is retried by the writer. */
  appendConflicts: 'AppendConflicts',
  /** Appends that failed for good (store down, contention exhausted): answered 5xx, no record. */
  appendFailures: 'AppendFailures',
  /** Root (KMS) or session signing failed: certification or checkpoint. Answered 5xx, no record. */
  signingFailures: 'SigningFailures',
  /** Checkpoints signed (or reused) and archived by the scheduled function. */
  checkpoints: 'Checkpoints',
  /** Checkpoint runs that failed (signing, store or archive). */
  checkpointFailures: 'CheckpointFailures',
  approvalsPending: 'ApprovalsPending',
  oldestPendingApproval: 'OldestPendingApprovalSeconds',
} as const;

export const DEFAULT_METRICS_NAMESPACE = 'ZtInfra';

/** Structure of one EMF document (see the CloudWatch "Embedded metric format specification"). */
export interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: 'Count' | 'Seconds' }>;
    }>;
  };
  [key: string]: unknown;
}

/**
 * Builds one EMF document. `dimensions` become both the dimension set and top-level members (the spec
 * requires each dimension's value as a member); `properties` are logged but are not dimensions, so they
 * add no metric cardinality (and no cost) while staying searchable in Logs Insights and Contributor Insights.
 */
export function emfDocument(options: {
  namespace: string;
  timestamp: number;
  dimensions: Record<string, string>;
  counts: Record<string, number>;
  properties?: Record<string, string | number>;
  /** Metrics measured in seconds (the rest are counts). */
  seconds?: readonly string[];
}): EmfDocument {
  const names = Object.keys(options.counts);
  return {
    _aws: {
      Timestamp: options.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: options.namespace,
          Dimensions: [Object.keys(options.dimensions)],
          Metrics: names.map((Name) => ({
            Name,
            Unit: options.seconds?.includes(Name) ? ('Seconds' as const) : ('Count' as const),
          })),
        },
      ],
    },
    ...options.properties,
    ...options.dimensions,
    ...options.counts,
  };
}

export interface MetricsOptions {
  /** The `Service` dimension: the stack name in the cloud. */
  service: string;
  namespace?: string;
  /** Where a line goes; default `process.stdout.write` with a newline. */
  write?: (line: string) => void;
  now?: () => number;
}

/** Emits the gateway's operational events as EMF lines. Never throws: a metric must not change an answer. */
export class Metrics {
  readonly #service: string;
  readonly #namespace: string;
  readonly #write: (line: string) => void;
  readonly #now: () => number;

  constructor(options: MetricsOptions) {
    this.#service = options.service;
    this.#namespace = options.namespace ?? DEFAULT_METRICS_NAMESPACE;
    this.#write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
    this.#now = options.now ?? Date.now;
  }

  #emit(
    counts: Record<string, number>,
    extraDimensions: Record<string, string> = {},
    properties?: Record<string, string | number>,
    seconds?: readonly string[],
  ) {
    try {
      const doc = emfDocument({
        namespace: this.#namespace,
        timestamp: this.#now(),
        dimensions: { Service: this.#service, ...extraDimensions },
        counts,
        ...(properties ? { properties } : {}),
        ...(seconds ? { seconds } : {}),
      });
      this.#write(JSON.stringify(doc));
    } catch {
      // a broken stdout must not turn an allow into an error or an error into something else
    }
  }

  /** A decision was durably recorded. */
  decision(record: DecisionRecord): void {
    this.#emit(
      { [METRIC_NAMES.decisions]: 1 },
      { Decision: record.decision },
      {
        // `principal` is the verified caller; Contributor Insights keys the deny-burst rule on it
        principal: record.principal_arn,
        decision: record.decision,
        action: record.action,
        record_id: record.id,
      },
    );
  }

  /** An append or a certification failed: signing failures and other failures are counted apart. */
  appendFailed(error: { code: string }): void {
    const name = error.code === 'SIGNING_FAILED' ? METRIC_NAMES.signingFailures : METRIC_NAMES.appendFailures;
    this.#emit({ [name]: 1 }, {}, { error_code: error.code });
  }

  /** Lost races since the last call (the writer's counter is cumulative; the caller passes the delta). */
  appendConflicts(count: number): void {
    if (count > 0) this.#emit({ [METRIC_NAMES.appendConflicts]: count });
  }

  /**
   * The approvals waiting for approvers and how long the oldest has waited (0 when none): what the
   * "approvals pending too long" alarm watches. Emitted by the scheduled checkpoint function every minute.
   */
  approvalsPending(pending: number, oldestMs: number | null): void {
    this.#emit(
      {
        [METRIC_NAMES.approvalsPending]: pending,
        [METRIC_NAMES.oldestPendingApproval]: Math.floor((oldestMs ?? 0) / 1000),
      },
      {},
      undefined,
      [METRIC_NAMES.oldestPendingApproval],
    );
  }

  checkpoint(size: number): void {
    this.#emit({ [METRIC_NAMES.checkpoints]: 1 }, {}, { size });
  }

  checkpointFailed(error: unknown): void {
    const code = (error as { code?: unknown })?.code;
    const counts: Record<string, number> = { [METRIC_NAMES.checkpointFailures]: 1 };
    if (code === 'SIGNING_FAILED') counts[METRIC_NAMES.signingFailures] = 1;
    this.#emit(counts, {}, { error_code: typeof code === 'string' ? code : 'UNKNOWN' });
  }

  /** The gateway's event sink, for `wireGateway({events})`. */
  gatewayEvents(): GatewayEvents {
    return {
      decision: (record) => this.decision(record),
      appendFailed: (error) => this.appendFailed(error),
      appendConflict: () => this.appendConflicts(1),
    };
  }
}
