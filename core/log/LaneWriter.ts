import { randomUUID } from 'node:crypto';
import { InfrastructureError, ZtError } from '../errors/errors.js';
import { signRecord } from '../keys/signing.js';
import { canonicalize } from '../model/canonical.js';
import {
  type AuditRecord,
  type KindFields,
  MAIN_LANE,
  RECORD_SCHEMA,
  recordId,
  type UnsignedRecord,
} from '../model/records.js';
import type {
  Clock,
  GatewayEvents,
  KeyValueStore,
  LaneCertificate,
  LaneSigner,
  Signer,
  TransactOp,
} from '../ports/ports.js';
import { emitEvent, MAX_TRANSACTION_OPS } from '../ports/ports.js';
import {
  chainPartition,
  LANE_STATE_SK,
  type LaneState,
  lanePartition,
  listLanes,
  META_LANES_SK,
  P_META,
  seqKey,
} from '../ports/storageLayout.js';
import {
  fenceLane,
  type Held,
  laneCandidates,
  laneStateText,
  parseLaneState,
  readLaneHead,
  takeLane,
} from './laneLease.js';

/**
 * The writer of one lane. The log is a set of hash chains ("lanes"); each writer (a Lambda instance,
 * an emulator process) appends only to the lane it holds, so no writer ever waits for another.
 *
 * - **Lease.** A lane is held through its state item (`lane#<lane>`/`state`: holder, expiry, fence).
 *   A writer takes a free lane (expired lease) or makes a new one; the emulator holds `main`.
 * - **One transaction per batch.** Appends queued while a write is in flight are written together:
 *   every record of the batch, the extra writes each one needs (an idempotency item, an outcome claim,
 *   a configuration change) and a check that the lane state is exactly what this writer last saw, in
 *   one `transact`. All land or none.
 * - **Zombies cannot fork.** A writer whose lane was taken over fails that check and moves to another
 *   lane; it never writes a record after another holder's.
 * - **Fences.** An admin change raises the `fence` of every lane before it is answered
 *   ({@link LaneWriter.fenceAll}); the next append of each lane then fails its check, re-reads the state,
 *   and the record is rebuilt (a decision re-evaluated) for the new configuration version.
 *
 * Taking a lane, reading its head and raising its fence are in laneLease.ts. What stays here (about 500
 * lines) is one job, the batched append: the queue, and `#writeBatch`, one transaction's build, commit and
 * recovery loop, whose steps share the batch's state and read best as one piece.
 */

/** Where and under which fence a record is being built. */
export interface AppendContext {
  lane: string;
  seq: number;
  /** The lane's fence: the configuration version a decision appended now must be evaluated at (or above). */
  fence: number;
  /** 1 for the first try; higher after the batch had to be rebuilt. */
  attempt: number;
}

export interface AppendRequest {
  /**
   * The record's kind fields for the position it will take. Called for every attempt (after a fence
   * moved, the lane changed or another append of the batch was refused), so a decision is re-evaluated.
   */
  build: (ctx: AppendContext) => Promise<KindFields> | KindFields;
  principalArn: string;
  /** Writes that must land with the record, in its transaction; their conditions are the caller's. */
  extra?: (record: AuditRecord, text: string) => TransactOp[];
}

/** One record appended: the record and its exact stored text. */
export interface AppendedRecord {
  record: AuditRecord;
  text: string;
}

/** An extra write of the caller's did not meet its condition: nothing of its append landed. */
export class AppendRefusedError extends ZtError {
  constructor(
    /** Index of the failed op among the request's own extra ops. */
    readonly extraIndex: number,
  ) {
    super('APPEND_REFUSED', 'a condition of the append did not hold; nothing was written');
  }
}

export interface LaneWriterOptions {
  /** Random per process by default. */
  writerId?: string;
  /**
   * Hold exactly this lane and take it over whatever its lease says: for a writer that knows it is the only
   * one (the emulator holds `main` under its data dir lock). Otherwise a free or new lane is taken.
   */
  lane?: string;
  /** Lease length (default 5 minutes): a lane whose holder stopped renewing is taken over after it. */
  leaseMs?: number;
  /** Most records in one transaction (default 24, leaving room for extra writes within 100 ops). */
  maxBatch?: number;
  /** Told of each committed record (`appended`) and each rebuilt batch (`appendConflict`). */
  events?: GatewayEvents;
}

interface Pending {
  /** Null for {@link LaneWriter.ready}: nothing to append but the certificate, when one is due. */
  request: AppendRequest | null;
  resolve: (appended: AppendedRecord) => void;
  reject: (error: unknown) => void;
}

interface Built {
  pending: Pending | null;
  record: AuditRecord;
  text: string;
  /** Index range of this entry's ops in the transaction. */
  first: number;
  extraFirst: number;
  end: number;
}

const MAX_ATTEMPTS = 12;
const DEFAULT_LEASE_MS = 5 * 60_000;

export class LaneWriter {
  readonly writerId: string;
  readonly #leaseMs: number;
  readonly #maxBatch: number;
  #held: Held | null = null;
  #queue: Pending[] = [];
  #draining = false;

  constructor(
    private readonly store: KeyValueStore,
    private readonly clock: Clock,
    private readonly signer: LaneSigner,
    private readonly options: LaneWriterOptions = {},
  ) {
    this.writerId = options.writerId ?? randomUUID();
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#maxBatch = Math.max(1, Math.min(options.maxBatch ?? 24, 48));
  }

  /** The lane held now (null before the first append or after it was lost). */
  get lane(): string | null {
    return this.#held?.lane ?? null;
  }

  /**
   * Builds, signs and durably writes one record in this writer's lane. Resolves only after the
   * transaction holding it committed; rejects with `AppendRefusedError` when one of its extra writes'
   * conditions failed, an `InfrastructureError` when the store or a signer failed, or the error `build`
   * threw (nothing of it is written in any case).
   */
  append(request: AppendRequest): Promise<AppendedRecord> {
    return this.#enqueue(request);
  }

  /**
   * Holds a lane and certifies a session key in it when one is due, appending only that certificate:
   * moves the root signer's latency (KMS) out of the first decision (a Lambda's cold start calls it).
   */
  async ready(): Promise<void> {
    await this.#enqueue(null);
  }

  #enqueue(request: AppendRequest | null): Promise<AppendedRecord> {
    return new Promise<AppendedRecord>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        // Appends made in the same turn join one batch.
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      // INVARIANT: one batch in flight per writer: a lane's records are written in order, never forked.
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        await this.#writeBatch(batch);
      }
    } finally {
      this.#draining = false;
      if (this.#queue.length > 0) {
        this.#draining = true;
        queueMicrotask(() => void this.#drain());
      }
    }
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    let live = batch;
    for (let attempt = 1; live.length > 0; attempt++) {
      if (attempt > MAX_ATTEMPTS) {
        const error = new InfrastructureError(
          'CHAIN_CONTENTION',
          `could not append after ${MAX_ATTEMPTS} attempts`,
        );
        for (const p of live) p.reject(error);
        return;
      }
      let held: Held;
      try {
        held = await this.#hold();
      } catch (cause) {
        const error =
          cause instanceof ZtError
            ? cause
            : new InfrastructureError('STORE_UNAVAILABLE', 'could not hold a lane', { cause });
        for (const p of live) p.reject(error);
        return;
      }
      const now = this.clock.now();
      const built: Built[] = [];
      const ops: TransactOp[] = [];
      let { seq, hash } = held.head;
      const sign = async (fields: KindFields, principal: string, signer: Signer) => {
        const unsigned = {
          schema: RECORD_SCHEMA,
          chain: held.lane,
          seq: seq + 1,
          id: recordId(held.lane, seq + 1),
          timestamp: now.toISOString(),
          principal_arn: principal,
          signing_key_id: signer.keyId,
          previous_hash: hash,
          ...fields,
        } as UnsignedRecord;
        const record = await signRecord(unsigned, signer);
        // INVARIANT: the stored text is the record's canonical JSON, byte for byte what verifiers read.
        return { record, text: canonicalize(record) };
      };

      let certificate: LaneCertificate | null;
      let certified: { record: AuditRecord; text: string } | null = null;
      try {
        certificate = await this.signer.certificateFor(held.lane, now);
        if (certificate) {
          certified = await sign(certificate.fields, certificate.principal, certificate.signer);
        }
      } catch (cause) {
        const error =
          cause instanceof ZtError
            ? cause
            : new InfrastructureError('SIGNING_FAILED', 'could not certify a session signing key', { cause });
        for (const p of live) p.reject(error);
        return;
      }
      if (certificate && certified) {
        const first = ops.length;
        ops.push({
          op: 'putIfAbsent',
          pk: chainPartition(held.lane),
          sk: seqKey(seq + 1),
          data: certified.text,
        });
        ops.push(...certificate.extra(certified.record, certified.text));
        built.push({ pending: null, ...certified, first, extraFirst: first + 1, end: ops.length });
        seq += 1;
        hash = certified.record.current_hash;
      }

      const kept: Pending[] = [];
      const waiters: Pending[] = [];
      const deferred: Pending[] = [];
      /** Items the batch's extra writes touch: a transaction may not hold two operations on one item. */
      const keys = new Set<string>();
      for (const p of live) {
        if (p.request === null) {
          waiters.push(p);
          continue;
        }
        let fields: KindFields;
        try {
          fields = await p.request.build({ lane: held.lane, seq: seq + 1, fence: held.state.fence, attempt });
        } catch (error) {
          p.reject(error);
          continue;
        }
        let signed: { record: AuditRecord; text: string };
        try {
          signed = await sign(fields, p.request.principalArn, await this.signer.signerFor(held.lane, now));
        } catch (cause) {
          p.reject(new InfrastructureError('SIGNING_FAILED', 'could not sign the audit record', { cause }));
          continue;
        }
        const extra = p.request.extra?.(signed.record, signed.text) ?? [];
        const extraKeys = extra.map((op) => `${op.pk}\u0000${op.sk}`);
        if (ops.length + 1 + extra.length + 1 > MAX_TRANSACTION_OPS || extraKeys.some((k) => keys.has(k))) {
          // No room left in this transaction, or an item another append of it writes (the same request id
          // twice): it waits for the next batch, where its condition is judged after the other's write.
          deferred.push(p);
          continue;
        }
        for (const k of extraKeys) keys.add(k);
        const first = ops.length;
        ops.push({
          op: 'putIfAbsent',
          pk: chainPartition(held.lane),
          sk: seqKey(seq + 1),
          data: signed.text,
        });
        ops.push(...extra);
        built.push({ pending: p, ...signed, first, extraFirst: first + 1, end: ops.length });
        kept.push(p);
        seq += 1;
        hash = signed.record.current_hash;
      }
      // Deferred appends go first in the queue: the next batch, in call order.
      if (deferred.length > 0) this.#queue.unshift(...deferred);
      live = [...kept, ...waiters];
      if (live.length === 0) return;
      if (built.length === 0) {
        // Only ready() waiters, and this lane has a fresh certificate: nothing to write.
        for (const p of waiters) p.resolve(undefined as unknown as AppendedRecord);
        return;
      }

      // The lane state: checked, or renewed (which checks it too) when the lease is past its half.
      const renew = held.state.expiresAt - now.getTime() < this.#leaseMs / 2;
      const nextState: LaneState = renew
        ? { ...held.state, expiresAt: now.getTime() + this.#leaseMs }
        : held.state;
      const nextText = renew ? laneStateText(nextState) : held.stateText;
      const stateIndex = ops.length;
      ops.push(
        renew
          ? {
              op: 'replaceIf',
              pk: lanePartition(held.lane),
              sk: LANE_STATE_SK,
              expected: held.stateText,
              data: nextText,
            }
          : { op: 'check', pk: lanePartition(held.lane), sk: LANE_STATE_SK, expected: held.stateText },
      );

      let result: { ok: true } | { ok: false; failed: number };
      try {
        result = await this.store.transact(ops);
      } catch (cause) {
        // The transaction may or may not have landed: the first record's slot says which.
        const first = built[0] as Built;
        const existing = await this.store
          .get(chainPartition(held.lane), seqKey(first.record.seq))
          .catch(() => undefined);
        if (existing === first.text) {
          result = { ok: true };
        } else if (existing === null) {
          emitEvent(this.options.events, 'appendConflict');
          if (attempt >= 3) {
            this.#held = null;
            const error = new InfrastructureError('STORE_UNAVAILABLE', 'could not write the audit record', {
              cause,
            });
            for (const p of live) p.reject(error);
            return;
          }
          continue;
        } else {
          this.#held = null;
          if (existing === undefined) {
            const error = new InfrastructureError('STORE_UNAVAILABLE', 'could not write the audit record', {
              cause,
            });
            for (const p of live) p.reject(error);
            return;
          }
          continue;
        }
      }

      if (result.ok) {
        const last = built[built.length - 1] as Built;
        this.#held = {
          ...held,
          state: nextState,
          stateText: nextText,
          head: { seq: last.record.seq, hash: last.record.current_hash },
        };
        if (certificate && certified) certificate.landed(certified.record, certified.text);
        for (const b of built) {
          emitEvent(this.options.events, 'appended', b.record);
          b.pending?.resolve({ record: b.record, text: b.text });
        }
        for (const p of waiters) p.resolve(undefined as unknown as AppendedRecord);
        return;
      }

      emitEvent(this.options.events, 'appendConflict');
      const failed = result.failed;
      if (failed === stateIndex || built.some((b) => b.first === failed)) {
        // The state moved (a fence, a takeover) or a slot was taken (another holder wrote): re-read it.
        await this.#refresh(held).catch(() => {
          this.#held = null;
        });
        continue;
      }
      const owner = built.find((b) => failed >= b.extraFirst && failed < b.end);
      if (owner?.pending) {
        owner.pending.reject(new AppendRefusedError(failed - owner.extraFirst));
        live = live.filter((p) => p !== owner.pending);
        continue;
      }
      // A certificate's own write failed its condition: start over with a fresh view of the lane.
      this.#held = null;
    }
  }

  /** Re-reads the held lane's state: kept when this writer still holds it (a new fence), dropped otherwise. */
  async #refresh(held: Held): Promise<void> {
    const text = await this.store.get(lanePartition(held.lane), LANE_STATE_SK);
    const state = text === null ? null : parseLaneState(text);
    if (!state || text === null || state.holder !== this.writerId) {
      this.#held = null;
      return;
    }
    this.#held = { ...held, state, stateText: text, head: await readLaneHead(this.store, held.lane) };
  }

  /** The lane this writer holds, taking one first when it holds none. */
  async #hold(): Promise<Held> {
    if (this.#held) return this.#held;
    const fixed = this.options.lane;
    const candidates = fixed ? [fixed] : await laneCandidates(this.store);
    for (const lane of candidates) {
      const held = await this.#take(lane, fixed !== undefined);
      if (held) {
        this.#held = held;
        return held;
      }
    }
    if (fixed) throw new InfrastructureError('LANE_UNAVAILABLE', `could not take lane \`${fixed}\``);
    for (let i = 0; i < MAX_ATTEMPTS; i++) {
      const n = await this.store.increment(P_META, META_LANES_SK);
      const held = await this.#take(`lane-${n}`, false);
      if (held) {
        this.#held = held;
        return held;
      }
    }
    throw new InfrastructureError('LANE_UNAVAILABLE', 'could not make a new lane');
  }

  /**
   * Raises the fence of every lane to `version`, so no lane appends a record built under an older
   * configuration from now on; resolves when every lane is fenced. This writer's own lane is fenced
   * through its cached state, so its next append re-reads nothing.
   */
  async fenceAll(version: number): Promise<void> {
    const lanes = await listLanes(this.store);
    await Promise.all(lanes.map((lane) => this.#fence(lane, version)));
  }

  #take(lane: string, force: boolean): Promise<Held | null> {
    return takeLane(this.store, lane, {
      writerId: this.writerId,
      now: this.clock.now().getTime(),
      leaseMs: this.#leaseMs,
      force,
    });
  }

  async #fence(lane: string, version: number): Promise<void> {
    const fenced = await fenceLane(this.store, lane, version);
    const held = this.#held;
    if (fenced && held && held.lane === lane && held.stateText === fenced.before) {
      this.#held = { ...held, state: fenced.state, stateText: fenced.text };
    }
  }

  /** Records of the held lane with `seq > after`, in order, as stored. */
  async page(
    after: number,
    limit: number,
    lane = this.lane ?? this.options.lane ?? MAIN_LANE,
  ): Promise<string[]> {
    const items = await this.store.query(chainPartition(lane), {
      after: after > 0 ? seqKey(after) : undefined,
      limit,
    });
    return items.map((i) => i.data);
  }

  /** One stored record of any lane, or null. */
  async get(lane: string, seq: number): Promise<string | null> {
    return this.store.get(chainPartition(lane), seqKey(seq));
  }
}
