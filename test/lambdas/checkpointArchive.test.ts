import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { verifyCheckpoint } from '../../core/checkpoint.js';
import { InMemoryKeyValueStore } from '../../core/InMemoryKeyValueStore.js';
import { KmsSigner } from '../../lambdas/adapters/KmsSigner.js';
import { checkpointObjectKey, S3CheckpointArchive } from '../../lambdas/adapters/S3CheckpointArchive.js';
import { runCheckpoint } from '../../lambdas/checkpoint.js';
import { type EmfDocument, Metrics } from '../../lambdas/metrics.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { fakeKms } from './fakeKms.js';

const NOW = new Date('2026-11-26T08:00:00.000Z');
const checkpoint = {
  origin: 'zt-infra/main',
  size: 42,
  root: Buffer.alloc(32, 7).toString('base64'),
  note: 'n\n',
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

  it('writes it once per size with COMPLIANCE retention, a checksum and If-None-Match', async () => {
    bucket.mock.on(PutObjectCommand).resolves({});
    const archive = new S3CheckpointArchive({
      client: bucket.client,
      bucket: 'zt-checkpoints',
      chain: 'main',
      retentionDays: 30,
      now: () => NOW,
    });
    expect(await archive.put(checkpoint)).toEqual({
      written: true,
      key: 'checkpoints/main/00000000000000000042.json',
    });
    const [call] = bucket.mock.commandCalls(PutObjectCommand);
    const input = call?.args[0].input;
    expect(input).toMatchObject({
      Bucket: 'zt-checkpoints',
      Key: checkpointObjectKey('main', 42),
      ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256',
      ObjectLockMode: 'COMPLIANCE',
      IfNoneMatch: '*',
    });
    expect(input?.ObjectLockRetainUntilDate).toEqual(new Date('2026-12-26T08:00:00.000Z'));
    // the body is the GET /audit/checkpoint JSON, which zt-audit takes as is
    expect(JSON.parse(String(input?.Body))).toEqual(checkpoint);
  });

  it('treats an already archived size as done, and other errors as failures', async () => {
    const archive = new S3CheckpointArchive({
      client: bucket.client,
      bucket: 'b',
      chain: 'main',
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
      expect(
        () => new S3CheckpointArchive({ client: bucket.client, bucket: 'b', chain: 'main', retentionDays }),
      ).toThrow(/retentionDays must be a positive integer/);
    }
  });
});

describe('when the scheduled checkpoint function runs', () => {
  it('signs with KMS, archives a verifiable note, and counts it; idle runs re-send the same size', async () => {
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
        chain: 'main',
        retentionDays: 7,
      }),
      metrics: new Metrics({ service: 'ZtInfra', write: (l) => lines.push(l), now: () => NOW.getTime() }),
    };
    const first = await runCheckpoint(deps);
    expect(first).toMatchObject({ size: 1, written: true });
    const body = JSON.parse(String(bucket.mock.commandCalls(PutObjectCommand)[0]?.args[0].input.Body));
    expect(verifyCheckpoint(body, [kms.publicKeyPem])).toMatchObject({ ok: true });
    const second = await runCheckpoint(deps);
    expect(second.size).toBe(1);
    expect(kms.signCalls).toHaveLength(2); // the certificate and one checkpoint: the idle run reused it
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
