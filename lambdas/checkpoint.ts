import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { pendingApprovalAges } from '../core/approvals/index.js';
import { Checkpointer, type LogCheckpoint } from '../core/log/index.js';
import { MAIN_LANE } from '../core/model/index.js';
import { systemClock } from '../core/ports/index.js';
import { DynamoDbKeyValueStore } from './adapters/DynamoDbKeyValueStore.js';
import { KmsSigner } from './adapters/KmsSigner.js';
import { type ArchiveResult, S3CheckpointArchive } from './adapters/S3CheckpointArchive.js';
import { readCheckpointEnv } from './env.js';
import { Metrics } from './metrics.js';

/**
 * Scheduled checkpoint function (EventBridge, every minute). Brings every lane to its head, signs each
 * lane's checkpoint with the root key in KMS (or reuses the stored one when the lane did not grow), signs
 * the epoch statement over all lanes (a new one each run once the newest is 30 s old, so its signed time
 * says the log was checked recently even when idle), then archives the whole `GET /audit/checkpoint` body
 * to the Object Lock bucket.
 *
 * Configuration is read once at cold start (`readCheckpointEnv`, lambdas/env.ts, which lists the variables).
 * Each run also emits `ApprovalsPending` and `OldestPendingApprovalSeconds` (EMF), which the stack's
 * `ApprovalsPendingTooLongAlarm` watches. A failure throws: the invocation is reported as an error (the Lambda `Errors` metric) and counted in
 * `CheckpointFailures`; the next minute tries again.
 */

export interface CheckpointRunDeps {
  /** Built with the metrics as its events port, so lost state races are counted as they happen. */
  checkpointer: { checkpoint(): Promise<LogCheckpoint> };
  archive: { put(checkpoint: LogCheckpoint): Promise<ArchiveResult> };
  metrics: Metrics;
  /** The pending approvals, measured each run for the "approvals pending too long" alarm. */
  approvals?: { oldestPendingMs(): Promise<{ oldestMs: number | null; pending: number }> };
  /** Where a failed approvals measurement is logged (it never fails the checkpoint). */
  log?: (line: Record<string, unknown>) => void;
}

export interface CheckpointRunResult {
  epoch: number;
  /** Lanes the epoch names. */
  lanes: number;
  /** Records of all lanes it covers. */
  size: number;
  key: string;
  written: boolean;
}

/** One scheduled run: sign (or reuse), archive, count. */
export async function runCheckpoint(deps: CheckpointRunDeps): Promise<CheckpointRunResult> {
  if (deps.approvals) {
    try {
      const { pending, oldestMs } = await deps.approvals.oldestPendingMs();
      deps.metrics.approvalsPending(pending, oldestMs);
    } catch (error) {
      deps.log?.({ level: 'error', msg: 'approvals not measured', error: String(error) });
    }
  }
  try {
    const checkpoint = await deps.checkpointer.checkpoint();
    const archived = await deps.archive.put(checkpoint);
    const size = checkpoint.epoch.lanes.reduce((total, lane) => total + lane.size, 0);
    deps.metrics.checkpoint(size);
    return {
      epoch: checkpoint.epoch.epoch,
      lanes: checkpoint.epoch.lanes.length,
      size,
      key: archived.key,
      written: archived.written,
    };
  } catch (error) {
    deps.metrics.checkpointFailed(error);
    throw error;
  }
}

let ready: Promise<CheckpointRunDeps> | null = null;

/**
 * The checkpoint function's composition root: the store, the root signer, the checkpointer, the archive
 * and the metrics, and nothing of the decision path (no use cases, no policy engine, no Cedar wasm in its
 * bundle; test/cdk/bundle.test.ts checks). Pending approvals are read straight from their items.
 */
async function init(): Promise<CheckpointRunDeps> {
  const env = readCheckpointEnv(process.env);
  const client = { ...(env.region ? { region: env.region } : {}) };
  const store = new DynamoDbKeyValueStore({ client: new DynamoDBClient(client), tableName: env.tableName });
  const rootSigner = await KmsSigner.create(new KMSClient(client), env.rootKeyArn);
  const metrics = new Metrics({ service: env.serviceName, namespace: env.metricsNamespace });
  return {
    checkpointer: new Checkpointer({
      store,
      rootSigner,
      clock: systemClock,
      chain: MAIN_LANE,
      origin: env.checkpointOrigin,
      events: metrics.gatewayEvents(),
    }),
    approvals: { oldestPendingMs: () => pendingApprovalAges(store, systemClock) },
    log: (line) => console.log(JSON.stringify(line)),
    archive: new S3CheckpointArchive({
      client: new S3Client(client),
      bucket: env.bucket,
      retentionDays: env.retentionDays,
    }),
    metrics,
  };
}

export async function handler(): Promise<CheckpointRunResult> {
  ready ??= init().catch((error) => {
    ready = null; // a failed cold start is retried by the next invocation
    throw error;
  });
  const result = await runCheckpoint(await ready);
  console.log(JSON.stringify({ level: 'info', msg: 'checkpoint', ...result }));
  return result;
}
