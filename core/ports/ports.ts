import type { ZtError } from '../errors/errors.js';
import type { Declarations, DeclaredAttribute } from '../model/declarations.js';
import type { AuditRecord, Decision, DecisionRecord, KeyFields } from '../model/records.js';
import type { AgentAttributes, AllowPolicyRequest } from '../model/requests.js';

/**
 * Ports: what the core needs from the outside world. One adapter per backend
 * (DynamoDB for the cloud and for embedded dynalite, in-memory for unit tests); only adapters do I/O.
 */

/** The time source; tests pass a fake one. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/**
 * A key-value table with single-item conditional writes and ordered range reads on one partition,
 * the common ground of DynamoDB, DynamoDB Local and dynalite (no transactions).
 * Keys are strings; `sk` ordering is byte-wise (callers zero-pad numbers). `data` is an opaque string
 * (JSON, or a record's canonical text stored exactly as written).
 */
export interface KeyValueStore {
  get(pk: string, sk: string): Promise<string | null>;
  /** Writes only when no item has this key. Returns false, writing nothing, when one exists. */
  putIfAbsent(pk: string, sk: string, data: string): Promise<boolean>;
  /** Unconditional write (create or replace). */
  put(pk: string, sk: string, data: string): Promise<void>;
  /** Replaces only when the current data equals `expected`. Returns false when it did not. */
  replaceIf(pk: string, sk: string, expected: string, data: string): Promise<boolean>;
  /** Returns true when an item was deleted. */
  delete(pk: string, sk: string): Promise<boolean>;
  /** Items of partition `pk` in `sk` order, strongly consistent. `after` is exclusive. */
  query(
    pk: string,
    options: { after?: string; limit: number; descending?: boolean },
  ): Promise<Array<{ sk: string; data: string }>>;
  /** Atomically adds 1 to a counter item (created at 0) and returns the new value. */
  increment(pk: string, sk: string): Promise<number>;
  /**
   * Applies every write of `ops` or none (DynamoDB `TransactWriteItems`; one SQL transaction in an
   * embedded store). Each conditional op (`putIfAbsent`, `replaceIf`, `check`) must hold for any write
   * to happen; a `check` writes nothing. At most {@link MAX_TRANSACTION_OPS} ops, each on a distinct key.
   * Returns `{ok: false, failed}` with the index of the first op whose condition did not hold; every
   * other error (throttling, transport, a transaction conflict the store could not resolve) throws.
   */
  transact(ops: readonly TransactOp[]): Promise<TransactResult>;
}

export const MAX_TRANSACTION_OPS = 100;

/** One operation of {@link KeyValueStore.transact}; conditions compare `data` exactly as stored. */
export type TransactOp =
  | { op: 'put'; pk: string; sk: string; data: string }
  | { op: 'putIfAbsent'; pk: string; sk: string; data: string }
  | { op: 'replaceIf'; pk: string; sk: string; expected: string; data: string }
  /** Deletes the item; with `expected`, only when its `data` equals it (a condition like `replaceIf`). */
  | { op: 'delete'; pk: string; sk: string; expected?: string }
  /** Holds when the item's `data` equals `expected`, or when `expected` is null and there is no item. */
  | { op: 'check'; pk: string; sk: string; expected: string | null };

export type TransactResult = { ok: true } | { ok: false; failed: number };

/** Every item of a partition, in `sk` order, read a page at a time. */
export async function* scanPartition(
  store: KeyValueStore,
  pk: string,
  pageSize = 500,
): AsyncGenerator<string> {
  let after: string | undefined;
  for (;;) {
    const page = await store.query(pk, { after, limit: pageSize });
    for (const item of page) yield item.data;
    if (page.length < pageSize) return;
    after = page[page.length - 1]?.sk;
  }
}

/**
 * A P-256 signing key (`ECDSA_SHA_256`). `sign(message)` returns the base64 DER ECDSA signature over
 * SHA-256(message). For a record the message is its canonical JSON, so the signature is over the
 * 32-byte `current_hash` taken as a digest: a KMS adapter sends that hash with `MessageType: DIGEST`,
 * and `openssl pkeyutl -verify` checks it against the hash bytes.
 */
export interface Signer {
  /** `sha256:<hex of SPKI DER>` */
  readonly keyId: string;
  readonly publicKeyPem: string;
  sign(message: Uint8Array): Promise<string>;
}

/** What a policy engine says about one request. */
export interface EvaluationResult {
  decision: Decision;
  reason: string;
  policy_ids: string[];
  policy_set_sha256: string;
  errors: string[];
  /** On `approval_required`: how many distinct approvers it needs. */
  approvals_required?: number;
}

export interface PolicyDiagnostic {
  message: string;
  line: number;
  column: number;
}

/** Cedar behind an interface, so the core use cases stay testable and the engine swappable. */
export interface PolicyEvaluator {
  /** Decides one request; `params` are checked against `declarations` and read as `context.params`. */
  evaluate(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    request: {
      agentId: string;
      agentAttributes: AgentAttributes;
      action: string;
      resource: string;
      context: Record<string, unknown>;
      params: unknown;
    },
    declarations: Declarations,
  ): EvaluationResult;
  validate(
    policyId: string,
    cedar: string,
    declarations: Declarations,
  ): { ok: true } | { ok: false; diagnostics: PolicyDiagnostic[] };
  allowShorthand(input: AllowPolicyRequest): { policyId: string; cedar: string };
  /** Ids of the stored policies with a statement that can apply to (action, agent): what could decide it. */
  applicablePolicyIds(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    action: string,
    agentId: string,
  ): string[];
  /**
   * Whether some request of (action, agent) could be allowed: a permit can match it and no forbid matches
   * it unconditionally; reads only that (action, agent)'s statements (`POST /actions/allowed`).
   */
  mayAllow(
    policies: ReadonlyArray<{ policyId: string; cedar: string }>,
    action: string,
    agentId: string,
  ): boolean;
  /** The schema's common context attributes, which a declaration may not redeclare. */
  readonly commonContext: Readonly<Record<string, DeclaredAttribute>>;
}

/** Mints SigV4 credentials for an agent registered without a principal ARN (the emulator only). */
export interface CredentialIssuer {
  issue(
    agentId: string,
  ): Promise<{ principalArn: string; accessKeyId: string; secretAccessKey: string; profile: string }>;
  revoke(agentId: string): Promise<void>;
}

/**
 * The one events port: what happens in the gateway and its log, told as it happens, to whoever composed
 * the process (Lambda metrics, the emulator's checkpoint scheduler, benchmarks). Every member
 * is optional and the default listens to nothing. A listener must not throw; if one does, the error is
 * dropped ({@link emitEvent}), since an event is told after the fact it reports on and cannot undo it.
 */
export interface GatewayEvents {
  /** A decision was recorded (after its append committed). */
  decision?(record: DecisionRecord): void;
  /** A decision or outcome was answered 5xx because its append failed for good: nothing was recorded. */
  appendFailed?(error: ZtError): void;
  /** A record committed to its lane (certificates and admin records too), in lane order. */
  appended?(record: AuditRecord): void;
  /**
   * A lost race on the log, retried: a lane writer rebuilt a batch (a fence moved, a slot or the lane was
   * taken) or a checkpointer lost a state or epoch write to another process. A contention figure.
   */
  appendConflict?(): void;
}

/** Tells `events` one event; a listener that throws is ignored (see {@link GatewayEvents}). */
export function emitEvent<K extends keyof GatewayEvents>(
  events: GatewayEvents | undefined,
  name: K,
  ...args: Parameters<NonNullable<GatewayEvents[K]>>
): void {
  const listener = events?.[name] as ((...a: unknown[]) => void) | undefined;
  if (!listener) return;
  try {
    listener.apply(events, args);
  } catch {
    // an event reports what already happened; a failing listener must not turn it into a failure
  }
}

/** What the writer needs from the key ring: a certificate in each lane, then the key to sign with. */
export interface LaneSigner {
  /**
   * A `kind: key` record to append first in `lane` (signed by `signer`, the root), with writes to make in
   * the same transaction, or null when a session key certified in this lane covers `now` with margin.
   */
  certificateFor(lane: string, now: Date): Promise<LaneCertificate | null>;
  /** The key that signs a record of `lane` timestamped `timestamp` (rejects when none is certified). */
  signerFor(lane: string, timestamp: Date): Promise<Signer>;
}

/** A session key's certificate to append in a lane before the records it signs there. */
export interface LaneCertificate {
  fields: KeyFields;
  /** The root key, which signs the certificate. */
  signer: Signer;
  /** `principal_arn` of the key record: the gateway itself. */
  principal: string;
  /** Writes to make in the same transaction (the public key item `GET /keys` lists). */
  extra(record: AuditRecord, text: string): TransactOp[];
  /** Called once the transaction holding the certificate committed. */
  landed(record: AuditRecord, text: string): void;
}
