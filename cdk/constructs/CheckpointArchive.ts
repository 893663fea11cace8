import { Duration, RemovalPolicy, type Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledge, logicalIdOf } from '../nag.js';

/*
 * Where signed checkpoints are kept: an Object Lock (COMPLIANCE) bucket with its own server access log
 * bucket, the checkpoint function's put-only permission, and the schedule that runs it every minute. A
 * plain class, not a construct: its resources are added to the stack itself, so their construct paths and
 * logical ids are the stack's as before (construct ids are a public contract).
 */

/** The checkpoint bucket (`CheckpointBucket`) and its access log bucket (`CheckpointAccessLogs`). */
export class CheckpointArchive {
  readonly bucket: s3.Bucket;
  readonly accessLogBucket: s3.Bucket;
  readonly #stack: Stack;
  readonly #retentionDays: number;

  /**
   * Adds the two buckets; `retentionDays` (a positive integer, checked with the stack's other props before
   * anything is made) locks each checkpoint and expires the access logs.
   */
  constructor(stack: Stack, props: { retentionDays: number }) {
    this.#stack = stack;
    const retentionDays = props.retentionDays;
    this.#retentionDays = retentionDays;
    this.accessLogBucket = new s3.Bucket(stack, 'CheckpointAccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(retentionDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(
      this.accessLogBucket,
      'AwsSolutions-S1',
      'this is the server access log bucket of the checkpoint bucket; logging it into itself would loop',
    );

    this.bucket = new s3.Bucket(stack, 'CheckpointBucket', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(retentionDays)),
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      serverAccessLogsBucket: this.accessLogBucket,
      serverAccessLogsPrefix: 'checkpoint-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** The checkpoint function's environment: the bucket and the retention it puts on each object. */
  get functionEnvironment(): Record<string, string> {
    return {
      CHECKPOINT_BUCKET: this.bucket.bucketName,
      CHECKPOINT_RETENTION_DAYS: String(this.#retentionDays),
    };
  }

  /** Lets `role` put checkpoint objects (with their retention) under `checkpoints/`, nothing else. */
  allowWriter(role: iam.Role): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // PutObjectRetention: the object carries its own COMPLIANCE retain-until date
        actions: ['s3:PutObject', 's3:PutObjectRetention'],
        resources: [this.bucket.arnForObjects('checkpoints/*')],
      }),
    );
    acknowledge(
      role,
      `AwsSolutions-IAM5[Resource::<${logicalIdOf(this.bucket)}.Arn>/checkpoints/*]`,
      'one object per checkpoint size under checkpoints/ (names are not known at deploy); put only, with Object Lock retention, no read, delete or bypass',
    );
  }

  /** Adds `CheckpointSchedule`: runs `fn` every minute. */
  schedule(fn: lambda.IFunction): void {
    new events.Rule(this.#stack, 'CheckpointSchedule', {
      description: 'zt-infra: sign and archive a checkpoint every minute (a heartbeat when idle)',
      schedule: events.Schedule.rate(Duration.minutes(1)),
      // a missed minute is covered by the next one; retries would only pile up behind a KMS outage
      targets: [new targets.LambdaFunction(fn, { retryAttempts: 0 })],
    });
  }
}
