import { computeRecordHash, InMemoryP256Signer, signRecord } from '../../core/keys/signing.js';
import { canonicalize, canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import {
  type AuditRecord,
  GENESIS_HASH,
  type KeyRecord,
  type KindFields,
  RECORD_SCHEMA,
  type RecordKind,
  recordId,
  type UnsignedRecord,
} from '../../core/model/records.js';
import type { Signer } from '../../core/ports/ports.js';

/**
 * Builds real signed chains for tests: real P-256 keys, real signatures, canonical lines exactly as
 * stored. Reusable by any suite that needs a chain (verifier, CLI, export, checkpoints).
 */

export const ACCOUNT = '123456789012';
export const ADMIN_ARN = `arn:aws:iam::${ACCOUNT}:role/zt-admin`;
export const AGENT_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/zt-agent-ci/session-1`;
export const GATEWAY_ARN = `arn:aws:iam::${ACCOUNT}:role/zt-gateway`;
export const DEFAULT_START = new Date('2026-11-26T08:00:00.000Z');

const POLICY_CEDAR =
  'permit(principal == Agent::"ci", action == Action::"aws.ec2.terminate_instances", resource);';

/** The stored text of a record: its RFC 8785 canonical JSON. */
export function toLine(record: AuditRecord): string {
  return canonicalize(record);
}

/** Realistic kind fields for the `i`-th record of a test chain. `lastDecisionId` feeds outcomes. */
export function sampleFields(kind: RecordKind, i: number, lastDecisionId: string | null): KindFields {
  switch (kind) {
    case 'decision': {
      const allow = i % 4 !== 3;
      return {
        kind: 'decision',
        request_id: `req-${String(i).padStart(4, '0')}`,
        actor: 'ci',
        action: 'aws.ec2.terminate_instances',
        resource: `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0abc${String(i).padStart(4, '0')}`,
        context_sha256: canonicalSha256({ ticket: `OPS-${1000 + i}`, env: 'staging' }),
        params_sha256: canonicalSha256({ InstanceIds: [`i-0abc${i}`], DryRun: false }),
        decision: allow ? 'allow' : 'deny',
        reason: allow ? 'permitted by policy `allow-ci-terminate`' : 'no policy permits this action',
        policy_ids: allow ? ['allow-ci-terminate'] : [],
        policy_set_sha256: sha256Hex(POLICY_CEDAR),
        errors: [],
      };
    }
    case 'outcome': {
      const started = i % 2 === 0;
      return {
        kind: 'outcome',
        decision_id: lastDecisionId ?? 'main-1',
        status: started ? 'started' : 'succeeded',
        exit_code: started ? null : 0,
        output_sha256: started ? null : sha256Hex(`terminated i-0abc${i}`),
      };
    }
    case 'policy':
      return {
        kind: 'policy',
        policy_id: 'allow-ci-terminate',
        change: 'put',
        cedar: POLICY_CEDAR,
        policy_sha256: sha256Hex(POLICY_CEDAR),
      };
    case 'agent':
      return {
        kind: 'agent',
        agent_id: 'ci',
        change: 'register',
        bound_principal_arn: `arn:aws:iam::${ACCOUNT}:role/zt-agent-ci`,
      };
    case 'key': {
      const other = InMemoryP256Signer.generate();
      return {
        kind: 'key',
        certified_key_id: other.keyId,
        certified_public_key_pem: other.publicKeyPem,
        not_before: DEFAULT_START.toISOString(),
        not_after: new Date(DEFAULT_START.getTime() + 3_600_000).toISOString(),
      };
    }
    case 'schema': {
      const declarations = canonicalize({
        'payments.refund': { params: { type: 'Record', attributes: { amount: { type: 'Long' } } } },
      });
      return { kind: 'schema', declarations, schema_sha256: sha256Hex(declarations) };
    }
    case 'approval':
      return {
        kind: 'approval',
        decision_id: lastDecisionId ?? 'main-1',
        verdict: 'approve',
        params_sha256: canonicalSha256({ InstanceIds: [`i-0abc${i}`], DryRun: false }),
        expires_at: new Date(DEFAULT_START.getTime() + 900_000).toISOString(),
      };
  }
}

function principalFor(kind: RecordKind): string {
  if (kind === 'decision' || kind === 'outcome') return AGENT_ARN;
  if (kind === 'key') return GATEWAY_ARN;
  return ADMIN_ARN;
}

export interface AppendOptions {
  /** Default: the previous record's timestamp plus `stepMs`. */
  timestamp?: Date;
  principalArn?: string;
  /** Default: the chain head's hash (genesis for the first record). */
  previousHash?: string;
  /** Default: the next seq. */
  seq?: number;
}

/** Appends signed records one at a time, like `ChainWriter` but in memory and with a fake clock. */
export class ChainBuilder {
  readonly records: AuditRecord[] = [];
  readonly chain: string;
  readonly stepMs: number;
  #clock: number;

  constructor(opts: { chain?: string; start?: Date; stepMs?: number } = {}) {
    this.chain = opts.chain ?? 'main';
    this.stepMs = opts.stepMs ?? 1000;
    this.#clock = (opts.start ?? DEFAULT_START).getTime();
  }

  get lines(): string[] {
    return this.records.map(toLine);
  }

  /** The id of the newest decision record, for outcomes. */
  get lastDecisionId(): string | null {
    for (let i = this.records.length - 1; i >= 0; i--) {
      if (this.records[i]?.kind === 'decision') return this.records[i]?.id ?? null;
    }
    return null;
  }

  async append(fields: KindFields, signer: Signer, opts: AppendOptions = {}): Promise<AuditRecord> {
    const head = this.records[this.records.length - 1];
    const seq = opts.seq ?? (head ? head.seq + 1 : 1);
    const timestamp = opts.timestamp ?? new Date(this.#clock);
    this.#clock = timestamp.getTime() + this.stepMs;
    const unsigned = {
      schema: RECORD_SCHEMA,
      chain: this.chain,
      seq,
      id: recordId(this.chain, seq),
      timestamp: timestamp.toISOString(),
      principal_arn: opts.principalArn ?? principalFor(fields.kind),
      signing_key_id: signer.keyId,
      previous_hash: opts.previousHash ?? head?.current_hash ?? GENESIS_HASH,
      ...fields,
    } as UnsignedRecord;
    const record = await signRecord(unsigned, signer);
    this.records.push(record);
    return record;
  }

  /** Appends a `kind: key` record by which `certifier` certifies `session` for a window (default: from now, one hour). */
  async certify(
    certifier: Signer,
    session: Signer,
    window: { notBefore?: Date; notAfter?: Date } = {},
  ): Promise<KeyRecord> {
    const notBefore = window.notBefore ?? new Date(this.#clock - 1000);
    const notAfter = window.notAfter ?? new Date(notBefore.getTime() + 3_600_000);
    return (await this.append(
      {
        kind: 'key',
        certified_key_id: session.keyId,
        certified_public_key_pem: session.publicKeyPem,
        not_before: notBefore.toISOString(),
        not_after: notAfter.toISOString(),
      },
      certifier,
    )) as KeyRecord;
  }

  /** Appends the `i`-th realistic record of `kind`. */
  appendSample(kind: RecordKind, signer: Signer, opts: AppendOptions = {}): Promise<AuditRecord> {
    return this.append(sampleFields(kind, this.records.length + 1, this.lastDecisionId), signer, opts);
  }
}

/** The default mix: an agent registered, a policy written, then decisions and their outcomes. */
export const DEFAULT_KINDS_HEAD: RecordKind[] = ['agent', 'policy'];
export const DEFAULT_KINDS_CYCLE: RecordKind[] = ['decision', 'outcome', 'outcome', 'decision'];

export interface MakeChainOptions {
  /** Default: a fresh P-256 key. */
  rootSigner?: InMemoryP256Signer;
  /** When true, record 1 is a key record certifying a fresh session key, which signs the rest. */
  sessionKey?: boolean;
  /** Total number of records, the key record included. */
  count: number;
  /** Kinds of the non-key records, used in turn; default: agent, policy, then decision/outcome. */
  kinds?: RecordKind[];
  /** Timestamp of record 1 (then one second per record); default 2026-11-26T08:00:00.000Z. */
  start?: Date;
  chain?: string;
  /** Length of the session key's window from its key record; default one hour. */
  sessionWindowMs?: number;
}

export interface MadeChain {
  /** Canonical text of each record, as stored. */
  lines: string[];
  records: AuditRecord[];
  rootPem: string;
  rootSigner: InMemoryP256Signer;
  sessionSigner: InMemoryP256Signer | null;
  builder: ChainBuilder;
}

/** Builds a valid signed chain of `count` records. */
export async function makeChain(opts: MakeChainOptions): Promise<MadeChain> {
  const rootSigner = opts.rootSigner ?? InMemoryP256Signer.generate();
  const builder = new ChainBuilder({ chain: opts.chain, start: opts.start });
  let sessionSigner: InMemoryP256Signer | null = null;
  if (opts.sessionKey && opts.count > 0) {
    sessionSigner = InMemoryP256Signer.generate();
    const notBefore = new Date((opts.start ?? DEFAULT_START).getTime() - 1000);
    const notAfter = new Date(notBefore.getTime() + (opts.sessionWindowMs ?? 3_600_000));
    await builder.certify(rootSigner, sessionSigner, { notBefore, notAfter });
  }
  const signer = sessionSigner ?? rootSigner;
  for (let n = 0; builder.records.length < opts.count; n++) {
    const kind = opts.kinds
      ? (opts.kinds[n % opts.kinds.length] as RecordKind)
      : n < DEFAULT_KINDS_HEAD.length
        ? (DEFAULT_KINDS_HEAD[n] as RecordKind)
        : (DEFAULT_KINDS_CYCLE[(n - DEFAULT_KINDS_HEAD.length) % DEFAULT_KINDS_CYCLE.length] as RecordKind);
    await builder.appendSample(kind, kind === 'key' ? rootSigner : signer);
  }
  return {
    lines: builder.lines,
    records: builder.records,
    rootPem: rootSigner.publicKeyPem,
    rootSigner,
    sessionSigner,
    builder,
  };
}

/** A deep copy of a record, to tamper with. */
export function cloneRecord<T extends AuditRecord>(record: T): T {
  return structuredClone(record);
}

/**
 * Recomputes `current_hash` from `from` (an index) to the end and re-links every `previous_hash`,
 * keeping the old signatures: what an attacker without the keys can do after changing a record.
 */
export function rehashFrom(records: AuditRecord[], from: number): AuditRecord[] {
  const out = records.map((r) => cloneRecord(r));
  for (let i = from; i < out.length; i++) {
    const r = out[i] as AuditRecord;
    if (i > 0) r.previous_hash = (out[i - 1] as AuditRecord).current_hash;
    r.current_hash = computeRecordHash(r);
  }
  return out;
}
