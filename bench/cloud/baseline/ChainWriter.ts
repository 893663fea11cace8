/**
 * VENDORED BASELINE, not used by the gateway: `core/ChainWriter.ts` as it was before lanes (commit 9b826a8,
 * deleted in e27c482 "lanes: ..."), the single-chain writer `npm run bench:cloud` compares the lanes with.
 * Only the import paths changed (and `recordId`, which moved to core/ports/storageLayout.ts).
 */

import { InfrastructureError } from '../../../core/errors/index.js';
import { signRecord } from '../../../core/keys/index.js';
import {
  type AuditRecord,
  canonicalize,
  GENESIS_HASH,
  type KindFields,
  RECORD_SCHEMA,
  recordId,
  type UnsignedRecord,
} from '../../../core/model/index.js';
import type { Clock, KeyValueStore, Signer } from '../../../core/ports/index.js';
import { chainPartition, seqKey } from '../../../core/ports/index.js';

export interface ChainHead {
  seq: number;
  hash: string;
}

/** One record appended: the record and its exact stored text. */
export interface AppendedRecord {
  record: AuditRecord;
  text: string;
}

const MAX_ATTEMPTS = 20;

/**
 * Appends records to one chain with single-item conditional writes (no transactions):
 * a record is written at `head.seq + 1` only if that position is empty; a lost race re-reads the
 * head and rebuilds the record. Appends from this process are serialised, so they never race
 * each other; other processes (other Lambda instances) are handled by the conditional write.
 */
export class ChainWriter {
  #head: ChainHead | null = null;
  #tail: Promise<unknown> = Promise.resolve();
  /** Lost races since start: a contention figure for metrics. */
  conflicts = 0;
  /** Called after each durable append (checkpoint scheduling, metrics). Must not throw. */
  onAppended: ((record: AuditRecord) => void) | null = null;

  constructor(
    private readonly store: KeyValueStore,
    private readonly clock: Clock,
    readonly chain = 'main',
  ) {}

  /** Reads the newest record's position from the store. */
  async readHead(): Promise<ChainHead> {
    const [newest] = await this.store.query(chainPartition(this.chain), { limit: 1, descending: true });
    if (!newest) return { seq: 0, hash: GENESIS_HASH };
    const parsed = JSON.parse(newest.data) as { seq: number; current_hash: string };
    return { seq: parsed.seq, hash: parsed.current_hash };
  }

  /**
   * Builds, signs and durably writes one record. `signerFor(timestamp)` picks the key for the record's
   * timestamp (a session key must be certified for it). Resolves only after the conditional write
   * succeeded.
   *
   * `fields` may be a function of the attempt number, called in turn, after this process's earlier
   * appends and again after every lost race: a decision is then re-evaluated against whatever another
   * writer appended first (a disable, a policy delete), so the chain never holds an allow after the
   * change that should have denied it.
   */
  append(
    fields: KindFields | ((attempt: number) => Promise<KindFields>),
    principalArn: string,
    signerFor: (timestamp: Date) => Promise<Signer>,
  ): Promise<AppendedRecord> {
    // INVARIANT: appends from one process run one at a time, in call order.
    const run = this.#tail.then(() => this.#appendNow(fields, principalArn, signerFor));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #appendNow(
    fieldsFor: KindFields | ((attempt: number) => Promise<KindFields>),
    principalArn: string,
    signerFor: (timestamp: Date) => Promise<Signer>,
  ): Promise<AppendedRecord> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let head: ChainHead;
      try {
        head = this.#head ?? (await this.readHead());
      } catch (cause) {
        throw new InfrastructureError('STORE_UNAVAILABLE', 'could not read the chain head', { cause });
      }
      const fields = typeof fieldsFor === 'function' ? await fieldsFor(attempt) : fieldsFor;
      const now = this.clock.now();
      let signer: Signer;
      let record: AuditRecord;
      try {
        signer = await signerFor(now);
        const seq = head.seq + 1;
        const unsigned = {
          schema: RECORD_SCHEMA,
          chain: this.chain,
          seq,
          id: recordId(this.chain, seq),
          timestamp: now.toISOString(),
          principal_arn: principalArn,
          signing_key_id: signer.keyId,
          previous_hash: head.hash,
          ...fields,
        } as UnsignedRecord;
        record = await signRecord(unsigned, signer);
      } catch (cause) {
        throw new InfrastructureError('SIGNING_FAILED', 'could not sign the audit record', { cause });
      }
      // INVARIANT: the stored text is the record's canonical JSON, byte for byte what verifiers read.
      const text = canonicalize(record);
      let written: boolean;
      try {
        written = await this.store.putIfAbsent(chainPartition(this.chain), seqKey(record.seq), text);
      } catch (cause) {
        // The write may or may not have landed: forget the head so the next append re-reads it.
        this.#head = null;
        throw new InfrastructureError('STORE_UNAVAILABLE', 'could not write the audit record', { cause });
      }
      if (written) {
        this.#head = { seq: record.seq, hash: record.current_hash };
        this.onAppended?.(record);
        return { record, text };
      }
      // A retried write whose first attempt landed reports "taken" by our own record: that is success.
      const existing = await this.store.get(chainPartition(this.chain), seqKey(record.seq)).catch(() => null);
      if (existing === text) {
        this.#head = { seq: record.seq, hash: record.current_hash };
        this.onAppended?.(record);
        return { record, text };
      }
      // Another writer took this position: re-read the head and rebuild the record on top of it.
      this.conflicts++;
      this.#head = null;
    }
    throw new InfrastructureError('CHAIN_CONTENTION', `could not append after ${MAX_ATTEMPTS} attempts`);
  }

  /** Records with `seq > after`, in order, as stored. */
  async page(after: number, limit: number): Promise<string[]> {
    const items = await this.store.query(chainPartition(this.chain), {
      after: after > 0 ? seqKey(after) : undefined,
      limit,
    });
    return items.map((i) => i.data);
  }

  async get(seq: number): Promise<string | null> {
    return this.store.get(chainPartition(this.chain), seqKey(seq));
  }
}
