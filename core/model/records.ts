/**
 * The audit record format `zt.audit.v1` (see DESIGN.md, "Audit record").
 * Every field is a string, an integer, null, an array of strings or a nested object of those: no floats.
 */

export const RECORD_SCHEMA = 'zt.audit.v1';
/** `previous_hash` of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);
export const SIGNATURE_ALGORITHM = 'ECDSA_SHA_256';

export type RecordKind = 'decision' | 'outcome' | 'policy' | 'agent' | 'key' | 'schema' | 'approval';
/**
 * `approval_required`: a policy permits the action only with a human approval (`@approval(...)`); nothing
 * may run on it. The approved request becomes an allow only when the agent claims it (see `approval_id`).
 */
export type Decision = 'allow' | 'deny' | 'approval_required';
export type ApprovalVerdict = 'approve' | 'reject';
export type OutcomeStatus = 'started' | 'succeeded' | 'failed';

export interface RecordSignature {
  algorithm: typeof SIGNATURE_ALGORITHM;
  /** `sha256:<hex of SPKI DER>`, equal to the record's `signing_key_id`. */
  key_id: string;
  /** base64 DER ECDSA P-256 signature over the 32 bytes of `current_hash` taken as a digest. */
  signature: string;
}

export interface RecordBase {
  schema: typeof RECORD_SCHEMA;
  chain: string;
  /** 1-based position in the chain. */
  seq: number;
  /** `<chain>-<seq>`: unique, and addressable without an index. */
  id: string;
  kind: RecordKind;
  /** ISO 8601 UTC with milliseconds, e.g. `2026-11-26T08:20:22.123Z`. */
  timestamp: string;
  /** The authenticated caller whose request produced the record (the gateway itself for key records). */
  principal_arn: string;
  signing_key_id: string;
  previous_hash: string;
  /** SHA-256 hex of the RFC 8785 canonical JSON of the record without `current_hash` and `kms_signature`. */
  current_hash: string;
  kms_signature: RecordSignature;
}

/** What the shadow policies would have made of a decision, had they been enforced. */
export interface ShadowEffect {
  decision: Decision;
  reason: string;
  /** The shadow policies among those that would have determined it. */
  policy_ids: string[];
}

export interface DecisionFields {
  kind: 'decision';
  request_id: string;
  actor: string;
  action: string;
  resource: string;
  context_sha256: string;
  params_sha256: string;
  decision: Decision;
  reason: string;
  policy_ids: string[];
  policy_set_sha256: string;
  errors: string[];
  /** Present when a shadow policy could apply to this (action, agent): the decision it would have produced. */
  shadow?: ShadowEffect;
  /**
   * The configuration version (agents, policies, declarations) the decision was evaluated at, or the
   * version an admin change produced. Absent on records written before configuration versions.
   */
  config_version?: number;
  /**
   * On `approval_required`: how many distinct approvers must approve. On an allow that claimed an approval:
   * how many the claim required (the larger of the request's and the current policies').
   */
  approvals_required?: number;
  /** On `approval_required` only: until when approvals may be given and the approved request claimed. */
  approval_expires_at?: string;
  /**
   * On a decision whose request named an approval to claim: the id of that `approval_required` decision
   * (the approval id). An allow carrying it is the claim; a deny carrying it says why the claim failed.
   */
  approval_id?: string;
  /** On an allow that claimed an approval: the ids of the `approval` records (approve verdicts) it rests on. */
  approvals?: string[];
}

export interface OutcomeFields {
  kind: 'outcome';
  decision_id: string;
  status: OutcomeStatus;
  exit_code: number | null;
  output_sha256: string | null;
  /**
   * The client's nonce for this report, when it sent one: binds the signed answer to the request that
   * asked for it, so an earlier answer replayed (a `started` of the same decision) is told apart.
   * Absent in records written before it existed, and when the client sent none.
   */
  nonce?: string;
}

export interface PolicyFields {
  kind: 'policy';
  policy_id: string;
  change: 'put' | 'delete';
  /** The Cedar text itself on `put` (so the log can replay decisions), null on `delete`. */
  cedar: string | null;
  policy_sha256: string | null;
  /** `shadow` on a `put` of a shadow policy (it never decides); absent for an enforced one. */
  mode?: 'shadow';
  /**
   * The configuration version (agents, policies, declarations) the decision was evaluated at, or the
   * version an admin change produced. Absent on records written before configuration versions.
   */
  config_version?: number;
}

export interface AgentFields {
  kind: 'agent';
  agent_id: string;
  change: 'register' | 'disable';
  bound_principal_arn: string;
  /**
   * The configuration version (agents, policies, declarations) the decision was evaluated at, or the
   * version an admin change produced. Absent on records written before configuration versions.
   */
  config_version?: number;
}

export interface KeyFields {
  kind: 'key';
  certified_key_id: string;
  certified_public_key_pem: string;
  /** ISO 8601 UTC validity window of the certified session key. */
  not_before: string;
  not_after: string;
}

export interface SchemaFields {
  kind: 'schema';
  /** The admin's declarations (`PUT /schema`) as canonical JSON text, so the log can replay decisions. */
  declarations: string;
  /** SHA-256 hex of `declarations`. */
  schema_sha256: string;
  /**
   * The configuration version (agents, policies, declarations) the decision was evaluated at, or the
   * version an admin change produced. Absent on records written before configuration versions.
   */
  config_version?: number;
}

/**
 * An approver's verdict on an `approval_required` decision. `principal_arn` is the approver's verified
 * identity; `params_sha256` is the digest the approver stated it saw, equal to the request's.
 */
export interface ApprovalFields {
  kind: 'approval';
  /** The `approval_required` decision (the approval id). */
  decision_id: string;
  verdict: ApprovalVerdict;
  params_sha256: string;
  /** Until when an approve verdict counts (its TTL); null for a reject, which is final. */
  expires_at: string | null;
}

export type KindFields =
  | DecisionFields
  | OutcomeFields
  | PolicyFields
  | AgentFields
  | KeyFields
  | SchemaFields
  | ApprovalFields;

export type DecisionRecord = RecordBase & DecisionFields;
export type OutcomeRecord = RecordBase & OutcomeFields;
export type PolicyRecord = RecordBase & PolicyFields;
export type AgentRecord = RecordBase & AgentFields;
export type KeyRecord = RecordBase & KeyFields;
export type SchemaRecord = RecordBase & SchemaFields;
export type ApprovalRecord = RecordBase & ApprovalFields;
export type AuditRecord =
  | DecisionRecord
  | OutcomeRecord
  | PolicyRecord
  | AgentRecord
  | KeyRecord
  | SchemaRecord
  | ApprovalRecord;

/** A record before hashing and signing. */
export type UnsignedRecord = Omit<RecordBase, 'current_hash' | 'kms_signature'> & KindFields;

/** `<lane>-<seq>`: a record's id, unique across lanes and addressable without an index. */
export function recordId(lane: string, seq: number): string {
  return `${lane}-${seq}`;
}

/** The lane and seq of a record id, or null when it is not one. */
export function parseRecordId(id: string): { lane: string; seq: number } | null {
  const match = /^(.+)-([1-9]\d{0,15})$/.exec(id);
  if (!match || !LANE_NAME_PATTERN.test(match[1] as string)) return null;
  const seq = Number(match[2]);
  return Number.isSafeInteger(seq) ? { lane: match[1] as string, seq } : null;
}

/** The first lane; logs written before lanes existed are this one lane. */
export const MAIN_LANE = 'main';

/** Lane names: what may appear before `-<seq>` in a record id (the record's `chain`). */
export const LANE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
