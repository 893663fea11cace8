import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { pendingApprovalAges } from '../../core/approvals/approvalItems.js';
import type { LogCheckpoint } from '../../core/log/Checkpointer.js';
import { verifyCheckpoint } from '../../core/log/checkpoint.js';
import { verifyEpoch } from '../../core/log/epoch.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { KmsSigner } from '../../lambdas/adapters/KmsSigner.js';
import { epochObjectKey, S3CheckpointArchive } from '../../lambdas/adapters/S3CheckpointArchive.js';
import { runCheckpoint } from '../../lambdas/checkpoint.js';
import { type EmfDocument, Metrics } from '../../lambdas/metrics.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { fakeKms } from './fakeKms.js';

const NOW = new Date('2026-11-26T08:00:00.000Z');
const lane = { origin: 'zt-infra/main', size: 42, root: Buffer.alloc(32, 7).toString('base64'), note: 'n\n' };
const checkpoint: LogCheckpoint = {
  ...lane,
  epoch: {
    origin: 'zt-infra',
    epoch: 42,
    time: NOW.toISOString(),
    lanes: [{ lane: 'main', size: 42, root: lane.root }],
    note: 'e\n',
  },
  checkpoints: [lane],
};

function s3() {
  const client = new S3Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKID', secretAccessKey: 's' },
  });
  return { client, mock: mockClient(client) };
}

describe('when a checkpoint is archived to S3', () => {
  let bucket: ReturnType<typeof s3>;
  beforeEach(() => {
    bucket = s3();
  });

  it('writes each epoch once with COMPLIANCE retention, a checksum and If-None-Match', async () => {
    bucket.mock.on(PutObjectCommand).resolves({});
    const archive = new S3CheckpointArchive({
      client: bucket.client,
      bucket: 'zt-checkpoints',
      retentionDays: 30,
      now: () => NOW,
    });
    expect(await archive.put(checkpoint)).toEqual({
      written: true,
      key: 'epochs/00000000000000000042.json',
    });
    const [call] = bucket.mock.commandCalls(PutObjectCommand);
    const input = call?.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'zt-checkpoints',
      Key: epochObjectKey(42),
      ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'COMPLIANCE',
      IfNoneMatch: '*',
    });
    expect(input?.ObjectLockRetainUntilDate).toEqual(new Date('2026-12-26T08:00:00.000Z'));
    // the body is the GET /audit/checkpoint JSON (epoch and every lane), which zt-audit takes as is
    expect(JSON.parse(String(input?.Body))).toEqual(checkpoint);
  });

  it('treats an already archived epoch as done, and other errors as failures', async () => {
    const archive = new S3CheckpointArchive({
      client: bucket.client,
      bucket: 'b',
      retentionDays: 1,
    });
    bucket.mock
      .on(PutObjectCommand)
      .rejectsOnce(
        Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
          name: 'PreconditionFailed',
          $metadata: { httpStatusCode: 412 },
        }),
      )
      .rejectsOnce(
        Object.assign(new Error('Access Denied'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        }),
      );
    expect(await archive.put(checkpoint)).toMatchObject({ written: false });
    await expect(archive.put(checkpoint)).rejects.toThrow('Access Denied');
  });

  it('refuses a retention that is not a positive number of days', () => {
    for (const retentionDays of [0, -1, 1.5, Number.NaN]) {
      expect(() => new S3CheckpointArchive({ client: bucket.client, bucket: 'b', retentionDays })).toThrow(
        /retentionDays must be a positive integer/,
      );
    }
  });
});

describe('when the scheduled checkpoint function runs', () => {
  it('signs with KMS, archives a verifiable epoch and lane notes, and counts it; a fresh idle run re-sends the same epoch', async () => {
    const kms = fakeKms();
    const bucket = s3();
    bucket.mock.on(PutObjectCommand).resolves({});
    const store = new InMemoryKeyValueStore();
    const rootSigner = await KmsSigner.create(kms.client, kms.keyArn);
    const parts = wireGateway({
      store,
      rootSigner,
      clock: { now: () => NOW },
      gatewayPrincipal: 'lambda:test',
    });
    // one record in the chain: a key certificate
    await parts.writer.ready();
    const lines: string[] = [];
    const deps = {
      checkpointer: parts.checkpointer,
      archive: new S3CheckpointArchive({
        client: bucket.client,
        bucket: 'b',
        retentionDays: 7,
      }),
      metrics: new Metrics({ service: 'ZtInfra', write: (l) => lines.push(l), now: () => NOW.getTime() }),
    };
    const first = await runCheckpoint(deps);
    expect(first).toMatchObject({ epoch: 1, lanes: 1, size: 1, written: true });
    const body = JSON.parse(String(bucket.mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Body));
    expect(verifyCheckpoint(body, [kms.publicKeyPem])).toMatchObject({ ok: true });
    expect(verifyEpoch(body.epoch, [kms.publicKeyPem])).toMatchObject({ ok: true });
    expect(
      body.checkpoints.map((c: unknown) => verifyCheckpoint(c as LogCheckpoint, [kms.publicKeyPem]).ok),
    ).toEqual([true]);
    const second = await runCheckpoint(deps);
    expect(second).toMatchObject({ epoch: 1, size: 1 });
    // the certificate, one lane checkpoint and one epoch: the idle run (same instant) reused both
    expect(kms.signCalls).toHaveLength(3);
    const docs = lines.map((l) => JSON.parse(l) as EmfDocument);
    expect(docs.map((d) => d['Checkpoints'])).toEqual([1, 1]);
  });

  it('counts a signing failure and throws (the invocation fails, the alarm sees it)', async () => {
    const kms = fakeKms();
    const store = new InMemoryKeyValueStore();
    const rootSigner = await KmsSigner.create(kms.client, kms.keyArn);
    const parts = wireGateway({
      store,
      rootSigner,
      clock: { now: () => NOW },
      gatewayPrincipal: 'lambda:test',
    });
    await parts.writer.ready();
    kms.fail('AccessDeniedException');
    const lines: string[] = [];
    await expect(
      runCheckpoint({
        checkpointer: parts.checkpointer,
        archive: { put: async () => ({ written: true, key: 'k' }) },
        metrics: new Metrics({ service: 'ZtInfra', write: (l) => lines.push(l) }),
      }),
    ).rejects.toMatchObject({ code: 'SIGNING_FAILED' });
    const doc = JSON.parse(lines[0] as string) as EmfDocument;
    expect(doc).toMatchObject({ CheckpointFailures: 1, SigningFailures: 1, error_code: 'SIGNING_FAILED' });
  });
});

describe('when approvals are pending at a scheduled run', () => {
  it('emits how many and how long the oldest waited (seconds), the metric the pending-too-long alarm watches', async () => {
    const kms = fakeKms();
    const bucket = s3();
    bucket.mock.on(PutObjectCommand).resolves({});
    let now = NOW.getTime();
    const store = new InMemoryKeyValueStore();
    const clock = { now: () => new Date(now) };
    const parts = wireGateway({
      store,
      rootSigner: await KmsSigner.create(kms.client, kms.keyArn),
      clock,
      gatewayPrincipal: 'lambda:test',
    });
    const admin = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
    const agent = { principalArn: 'arn:aws:iam::111122223333:role/agent', isAdmin: false };
    await parts.gateway.registerAgent(admin, { agentId: 'a', principalArn: agent.principalArn });
    await parts.gateway.putPolicy(admin, 'p', {
      cedar: '@approval\npermit (principal == Agent::"a", action == Action::"deploy.run", resource);',
    });
    await parts.gateway.decide(agent, { actor: 'a', action: 'deploy.run', request_id: 'r-1' });
    now += 45 * 60_000;
    await parts.gateway.decide(agent, { actor: 'a', action: 'deploy.run', request_id: 'r-2' });
    const lines: string[] = [];
    await runCheckpoint({
      checkpointer: parts.checkpointer,
      archive: new S3CheckpointArchive({ client: bucket.client, bucket: 'b', retentionDays: 7 }),
      metrics: new Metrics({ service: 'ZtInfra', write: (l) => lines.push(l), now: () => now }),
      // as the checkpoint function's composition root measures them: from the stored items
      approvals: { oldestPendingMs: () => pendingApprovalAges(store, clock) },
    });
    const doc = lines.map((l) => JSON.parse(l) as EmfDocument).find((d) => 'ApprovalsPending' in d);
    expect(doc).toMatchObject({ ApprovalsPending: 2, OldestPendingApprovalSeconds: 2700 });
    expect(doc?._aws.CloudWatchMetrics[0]?.Metrics).toContainEqual({
      Name: 'OldestPendingApprovalSeconds',
      Unit: 'Seconds',
    });
  });
});
