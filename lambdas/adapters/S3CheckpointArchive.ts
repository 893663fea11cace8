import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Checkpoint } from '../../core/checkpoint.js';
import { seqKey } from '../../core/storageLayout.js';

/** Where a checkpoint of a chain lands in the bucket: one object per size, never overwritten. */
export function checkpointObjectKey(chain: string, size: number): string {
  return `checkpoints/${encodeURIComponent(chain)}/${seqKey(size)}.json`;
}

export interface S3CheckpointArchiveOptions {
  client: S3Client;
  bucket: string;
  chain: string;
  /** Days each object is locked in COMPLIANCE mode: nobody, root included, can delete or overwrite it. */
  retentionDays: number;
  now?: () => Date;
}

/** What `put` did: wrote a new object, or found this size already archived. */
export type ArchiveResult = { written: true; key: string } | { written: false; key: string };

/**
 * Copies signed checkpoints to an S3 bucket with Object Lock, so a cut tail stays detectable even by
 * someone who controls the table: the object body is exactly the `GET /audit/checkpoint` JSON, which
 * `zt-audit verify --checkpoint FILE` takes as is.
 *
 * Each write carries its own `COMPLIANCE` retention (in addition to the bucket's default) and
 * `If-None-Match: *`, so a size is archived once: the scheduled function re-sends the same checkpoint
 * every idle minute, and a second version of the same note would only cost storage under lock.
 */
export class S3CheckpointArchive {
  readonly #o: S3CheckpointArchiveOptions;

  constructor(options: S3CheckpointArchiveOptions) {
    if (!Number.isSafeInteger(options.retentionDays) || options.retentionDays < 1) {
      throw new RangeError(`retentionDays must be a positive integer, got \`${options.retentionDays}\``);
    }
    this.#o = options;
  }

  async put(checkpoint: Checkpoint): Promise<ArchiveResult> {
    const key = checkpointObjectKey(this.#o.chain, checkpoint.size);
    const now = this.#o.now?.() ?? new Date();
    const retainUntil = new Date(now.getTime() + this.#o.retentionDays * 24 * 60 * 60 * 1000);
    const body = JSON.stringify({
      origin: checkpoint.origin,
      size: checkpoint.size,
      root: checkpoint.root,
      note: checkpoint.note,
    });
    try {
      await this.#o.client.send(
        new PutObjectCommand({
          Bucket: this.#o.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          // Object Lock requires an integrity checksum on PUT; SHA-256 also pins the exact bytes.
          ChecksumAlgorithm: 'SHA256',
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: retainUntil,
          IfNoneMatch: '*',
        }),
      );
      return { written: true, key };
    } catch (error) {
      // 412: this size is archived already (same size means same root: the Checkpointer refuses others).
      // 409: a concurrent conditional write of the same key is in flight; it will land.
      const name = (error as { name?: string })?.name;
      const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (name === 'PreconditionFailed' || status === 412 || status === 409) return { written: false, key };
      throw error;
    }
  }
}
