import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import type { LogCheckpoint } from '../core/log/index.js';
import { systemClock } from '../core/ports/index.js';
import { DynamoDbKeyValueStore } from './adapters/DynamoDbKeyValueStore.js';
import { KmsSigner } from './adapters/KmsSigner.js';
import { type ArchiveResult, S3CheckpointArchive } from './adapters/S3CheckpointArchive.js';
import { Metrics } from './metrics.js';
import { requiredCheckpointOrigin, wireGateway } from './wiring.js';

/**
 * Scheduled checkpoint function (EventBridge, every minute). Brings every lane to its head, signs each
 * lane's checkpoint with the root key in KMS (or reuses the stored one when the lane did not grow), signs
 * the epoch statement over all lanes (a new one each run once the newest is 30 s old, so its signed time
 * says the log was checked recently even when idle), then archives the whole `GET /audit/checkpoint` body
 * to the Object Lock bucket.
 *
 * Configuration from the environment at cold start: `TABLE_NAME`, `ROOT_KEY_ARN`, `CHECKPOINT_BUCKET`,
 * `CHECKPOINT_RETENTION_DAYS`, `CHECKPOINT_ORIGIN`, optional `CHAIN`, `METRICS_NAMESPACE`, `SERVICE_NAME`.
 * Each run also emits `ApprovalsPending` and `OldestPendingApprovalSeconds` (EMF), which the stack's
 * `ApprovalsPendingTooLongAlarm` watches. A failure throws: the invocation is reported as an error (the Lambda `Errors` metric) and counted in
 * `CheckpointFailures`; the next minute tries again.
 */

export interface CheckpointRunDeps {
  checkpointer: { checkpoint(): Promise<LogCheckpoint>; conflicts: number };
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
  const before = deps.checkpointer.conflicts;
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
  } finally {
    deps.metrics.appendConflicts(deps.checkpointer.conflicts - before);
  }
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

let ready: Promise<CheckpointRunDeps> | null = null;

async function init(): Promise<CheckpointRunDeps> {
  const region = process.env['AWS_REGION'];
  const store = new DynamoDbKeyValueStore({
    client: new DynamoDBClient(region ? { region } : {}),
    tableName: required('TABLE_NAME'),
  });
  // read before anything is called: a deployment without its origin must not sign at all
  const origin = requiredCheckpointOrigin(process.env);
  const rootArn = required('ROOT_KEY_ARN');
  const rootSigner = await KmsSigner.create(new KMSClient(region ? { region } : {}), rootArn);
  const parts = wireGateway({
    store,
    rootSigner,
    clock: systemClock,
    gatewayPrincipal: process.env['GATEWAY_PRINCIPAL_ARN'] ?? 'lambda:checkpoint',
    origin,
    rootArn,
  });
  const retentionDays = Number(required('CHECKPOINT_RETENTION_DAYS'));
  return {
    checkpointer: parts.checkpointer,
    approvals: parts.gateway.approvals,
    log: (line) => console.log(JSON.stringify(line)),
    archive: new S3CheckpointArchive({
      client: new S3Client(region ? { region } : {}),
      bucket: required('CHECKPOINT_BUCKET'),
      retentionDays,
    }),
    metrics: new Metrics({
      service: process.env['SERVICE_NAME'] ?? 'zt-infra',
      ...(process.env['METRICS_NAMESPACE'] ? { namespace: process.env['METRICS_NAMESPACE'] } : {}),
    }),
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
