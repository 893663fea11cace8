import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LogCheckpoint } from '../../core/log/index.js';
import { seqKey } from '../../core/ports/index.js';

/** Where an epoch lands in the bucket: one object per epoch number, never overwritten. */
export function epochObjectKey(epoch: number): string {
  return `epochs/${seqKey(epoch)}.json`;
}

export interface S3CheckpointArchiveOptions {
  client: S3Client;
  bucket: string;
  /** Days each object is locked in COMPLIANCE mode: nobody, root included, can delete or overwrite it. */
  retentionDays: number;
  now?: () => Date;
}

/** What `put` did: wrote a new object, or found this epoch already archived. */
export type ArchiveResult = { written: true; key: string } | { written: false; key: string };

/**
 * Copies signed checkpoints to an S3 bucket with Object Lock, so a cut tail or a dropped lane stays
 * detectable even by someone who controls the table. One object per epoch, `epochs/<20-digit epoch>.json`,
 * whose body is exactly the `GET /audit/checkpoint` JSON: the epoch statement naming every lane's size and
 * root, and every lane's checkpoint at those sizes. `zt-audit verify --checkpoint FILE` takes it as is.
 *
 * Each write carries its own `COMPLIANCE` retention (in addition to the bucket's default) and
 * `If-None-Match: *`, so an epoch is archived once: a run that reuses the newest epoch (nothing changed
 * and it is still fresh) sends it again, and a second version of it would only cost storage under lock.
 */
export class S3CheckpointArchive {
  readonly #o: S3CheckpointArchiveOptions;

  constructor(options: S3CheckpointArchiveOptions) {
    if (!Number.isSafeInteger(options.retentionDays) || options.retentionDays < 1) {
      throw new RangeError(`retentionDays must be a positive integer, got \`${options.retentionDays}\``);
    }
    this.#o = options;
  }

  async put(checkpoint: LogCheckpoint): Promise<ArchiveResult> {
    const key = epochObjectKey(checkpoint.epoch.epoch);
    const now = this.#o.now?.() ?? new Date();
    const retainUntil = new Date(now.getTime() + this.#o.retentionDays * 24 * 60 * 60 * 1000);
    try {
      await this.#o.client.send(
        new PutObjectCommand({
          Bucket: this.#o.bucket,
          Key: key,
          Body: JSON.stringify(checkpoint),
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
      // 412: this epoch is archived already (an epoch number is signed once: the Checkpointer writes it with
      // putIfAbsent). 409: a concurrent conditional write of the same key is in flight; it will land.
      const name = (error as { name?: string })?.name;
      const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
      if (name === 'PreconditionFailed' || status === 412 || status === 409) return { written: false, key };
      throw error;
    }
  }
}
