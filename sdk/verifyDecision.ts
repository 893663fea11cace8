import type { KeyObject } from 'node:crypto';
import {
  computeRecordHash,
  KeyTrust,
  KeyTrustError,
  recordSigningPayload,
  verifySignature,
} from '../core/keys/index.js';
import type { AuditRecord, DecisionRecord, OutcomeRecord, OutcomeStatus } from '../core/model/index.js';
import {
  canonicalizeData,
  canonicalSha256,
  RecordFormatError,
  sha256Hex,
  validateAuditRecord,
} from '../core/model/index.js';

/**
 * Verification of the gateway's answers, pure (no I/O) so that brokers and other clients can reuse it.
 *
 * A decision is believed only after these steps, in this order; the first failure wins:
 *
 *   1. the body is a JSON object carrying `audit` (`MISSING_RECORD`)
 *   2. `audit` is a valid `zt.audit.v1` record of kind `decision` (`RECORD_INVALID`)
 *   3. its `current_hash` recomputes and `signing_key_id` equals `kms_signature.key_id` (`RECORD_INVALID`)
 *   4. it is bound to what was asked: `request_id`, `actor`, `action`, `resource`, `params_sha256`,
 *      `context_sha256` (`RECORD_MISMATCH`)
 *   5. its `decision` agrees with the HTTP status (200 allow, 403 deny or `approval_required`) and the
 *      body (`RECORD_MISMATCH`); a claim's allow names the approval claimed, and nothing else does
 *   6. its `timestamp` is within `maxAgeMs` of `now`, either way (`RECORD_STALE`)
 *   7. its signing key is a trusted root key, or a session key certified by a root key for a window
 *      that covers the record's `timestamp`, `[not_before, not_after)` (`UNTRUSTED_KEY`); the rule is
 *      core/keys/keyTrust.ts's, shared with the chain verifier, receipts and the signer
 *   8. the ECDSA P-256 signature over `current_hash` verifies (`SIGNATURE_INVALID`)
 */

/** Why an answer was not believed. */
export type VerificationCode =
  | 'MISSING_RECORD'
  | 'RECORD_INVALID'
  | 'RECORD_MISMATCH'
  | 'RECORD_STALE'
  | 'UNTRUSTED_KEY'
  | 'SIGNATURE_INVALID';

/** A failed verification. `record` is set once the record passed the schema check (step 2). */
export interface VerificationFailure<R extends AuditRecord = DecisionRecord> {
  ok: false;
  code: VerificationCode;
  /** Lower-case, one sentence: what was expected and what came. */
  message: string;
  record?: R;
  /**
   * Set with `UNTRUSTED_KEY` when the signing key is not known at all (as opposed to known but not valid
   * at the record's time): fetching newer certificates may make it known.
   */
  unknownKeyId?: string;
}

/** A decision that passed every step. */
export interface VerifiedDecisionRecord {
  ok: true;
  /** `approval_required` is no allow: nothing may run on it (the client turns it into `APPROVAL_REQUIRED`). */
  decision: 'allow' | 'deny' | 'approval_required';
  reason: string;
  record: DecisionRecord;
}

export type DecisionVerdict = VerifiedDecisionRecord | VerificationFailure;

/** What the caller asked, to bind the record to. */
export interface DecisionExpectation {
  request_id: string;
  actor: string;
  action: string;
  /** Absent means `''`, as the gateway records it. */
  resource?: string;
  /** The `params` as sent (absent hashes as canonical `null`). Ignored when `params_sha256` is given. */
  params?: unknown;
  /** The digest to require instead of hashing `params` (a broker that holds only the digest). */
  params_sha256?: string;
  /** The `context` as sent (absent means `{}`). Ignored when `context_sha256` is given. */
  context?: Record<string, unknown>;
  context_sha256?: string;
  /** The approval this request claims, if any: the record must name exactly it (or none, without one). */
  approval_id?: string;
}

/** Options of the verification functions. */
export interface VerifyOptions {
  /** The time to judge freshness against. Default: now. */
  now?: Date;
  /** Largest allowed distance between the record's `timestamp` and `now`. Default 5 minutes; `Infinity` turns it off. */
  maxAgeMs?: number;
  /**
   * Skips steps 7 and 8 (key trust and signature). Only for a client created with
   * `dangerouslyDisableSignatureVerification`; everything else is still checked.
   */
  skipSignature?: boolean;
}

export const DEFAULT_MAX_RECORD_AGE_MS = 5 * 60_000;

/** The result of adding a certificate to a {@link TrustedKeySet}. */
export type CertificateVerdict =
  | { ok: true; keyId: string }
  | { ok: false; code: 'UNTRUSTED_KEY'; message: string };

/**
 * The keys a verifier trusts: pinned root public keys, and session keys only through their root-signed
 * `kind: key` certificate records, each for its validity window. A thin face of core/keys/keyTrust.ts (the one
 * key-trust rule) with the SDK's codes.
 *
 * INVARIANT: a key becomes trusted only as a root given to the constructor, or through a certificate
 * whose hash recomputes and whose signature verifies against one of those roots.
 */
export class TrustedKeySet {
  readonly #trust: KeyTrust;

  /** @throws TypeError when a PEM is not a P-256 public key. */
  constructor(rootPublicKeyPems: readonly string[]) {
    try {
      this.#trust = new KeyTrust(rootPublicKeyPems);
    } catch (err) {
      if (err instanceof KeyTrustError) {
        throw new TypeError(`a trusted root key is not a usable public key PEM: ${err.message}`);
      }
      throw err;
    }
  }

  /** Ids of the root keys. */
  get rootKeyIds(): string[] {
    return this.#trust.rootKeyIds;
  }

  /** True when `keyId` is a root or a certified session key (whatever its window). */
  knows(keyId: string): boolean {
    return this.#trust.knows(keyId);
  }

  /**
   * Checks a `kind: key` record (as stored in the chain) and, when it holds, trusts its session key for
   * `[not_before, not_after)`. The record must be schema-valid, its hash must recompute, it must be signed
   * by a root key of this set, and `certified_key_id` must be the id of `certified_public_key_pem`.
   * `expectedKeyId`, when given, must be the certified key's id.
   */
  addCertificate(certificate: unknown, expectedKeyId?: string): CertificateVerdict {
    const verdict = this.#trust.addCertificate(certificate, expectedKeyId);
    return verdict.ok ? verdict : { ok: false, code: 'UNTRUSTED_KEY', message: verdict.message };
  }

  /** The public key to check a record signed by `keyId` at `at`, or why there is none. */
  resolve(
    keyId: string,
    at: Date,
  ): { ok: true; key: KeyObject } | { ok: false; message: string; unknown: boolean } {
    const resolved = this.#trust.resolve(keyId, at.getTime());
    if (resolved.ok) return { ok: true, key: resolved.key.publicKey };
    return { ok: false, message: resolved.message, unknown: resolved.code === 'UNKNOWN_SIGNING_KEY' };
  }
}

/**
 * Verifies a decision record (already extracted from an answer) against what was asked and the trusted
 * keys: steps 2-4 and 6-8 (see the module doc). Never throws.
 */
export function verifyDecisionRecord(
  audit: unknown,
  expected: DecisionExpectation,
  trust: TrustedKeySet | null,
  options: VerifyOptions = {},
): DecisionVerdict {
  const checked = checkRecord(audit, 'decision');
  // checkRecord never sets `record` on failure.
  if (!checked.ok) return checked as VerificationFailure;
  const record = checked.record as DecisionRecord;
  const fail = (code: VerificationCode, message: string, extra: Partial<VerificationFailure> = {}) =>
    ({ ok: false, code, message, record, ...extra }) as VerificationFailure;

  let paramsSha: string;
  let contextSha: string;
  try {
    paramsSha = expected.params_sha256 ?? canonicalSha256(expected.params);
    contextSha = expected.context_sha256 ?? sha256Hex(canonicalizeData(expected.context ?? {}));
  } catch (err) {
    return fail('RECORD_MISMATCH', `the request cannot be hashed to compare: ${describeError(err)}`);
  }
  const bindings: Array<[keyof DecisionRecord, string]> = [
    ['request_id', expected.request_id],
    ['actor', expected.actor],
    ['action', expected.action],
    ['resource', expected.resource ?? ''],
    ['params_sha256', paramsSha],
    ['context_sha256', contextSha],
  ];
  for (const [field, want] of bindings) {
    if (record[field] !== want) {
      return fail(
        'RECORD_MISMATCH',
        `the record's \`${field}\` is \`${String(record[field])}\`, expected \`${want}\``,
      );
    }
  }
  if (record.approval_id !== expected.approval_id) {
    return fail(
      'RECORD_MISMATCH',
      `the record's \`approval_id\` is \`${String(record.approval_id ?? 'none')}\`, expected \`${expected.approval_id ?? 'none'}\``,
    );
  }

  const fresh = checkFreshness(record, options);
  if (fresh !== null) return fail('RECORD_STALE', fresh);

  const sig = checkSignature(record, trust, options);
  if (sig !== null) return { ...sig, record };
  return { ok: true, decision: record.decision, reason: record.reason, record };
}

/**
 * Verifies a whole `POST /actions` answer: step 1 (the body carries `audit`), then
 * {@link verifyDecisionRecord}, then step 5 (a 200 must carry an allow, a 403 a deny, and the body's own
 * `decision`, if any, must agree). Never throws.
 */
export function verifyDecisionAnswer(
  answer: { status: number; body: unknown },
  expected: DecisionExpectation,
  trust: TrustedKeySet | null,
  options: VerifyOptions = {},
): DecisionVerdict {
  const { status, body } = answer;
  if (!isObject(body) || body['audit'] === undefined || body['audit'] === null) {
    return { ok: false, code: 'MISSING_RECORD', message: `the ${status} answer carries no \`audit\` record` };
  }
  const verdict = verifyDecisionRecord(body['audit'], expected, trust, options);
  if (!verdict.ok) return verdict;
  // INVARIANT: only a 200 carries an allow; `approval_required` comes only as a 403, like a deny.
  const wants = status === 200 ? ['allow'] : status === 403 ? ['deny', 'approval_required'] : [];
  if (!wants.includes(verdict.decision)) {
    return {
      ok: false,
      code: 'RECORD_MISMATCH',
      message: `the record says \`${verdict.decision}\` but the HTTP status is ${status}`,
      record: verdict.record,
    };
  }
  if (body['decision'] !== undefined && body['decision'] !== verdict.decision) {
    return {
      ok: false,
      code: 'RECORD_MISMATCH',
      message: `the body says \`${String(body['decision'])}\` but the record says \`${verdict.decision}\``,
      record: verdict.record,
    };
  }
  return verdict;
}

/** What an outcome record must say. */
export interface OutcomeExpectation {
  decision_id: string;
  status: OutcomeStatus;
  /**
   * The nonce sent with the report. When given, the record must carry exactly it: an earlier answer for
   * the same decision and status (a replayed `started`) carries another nonce, or none.
   */
  nonce?: string;
}

/**
 * Verifies an outcome record (the answer of `POST /actions/{id}/outcome`): schema, hash, that it is the
 * outcome of `decision_id` with `status` (and the request's `nonce`, when given), key trust and
 * signature. No freshness check. Never throws.
 */
export function verifyOutcomeRecord(
  audit: unknown,
  expected: OutcomeExpectation,
  trust: TrustedKeySet | null,
  options: Pick<VerifyOptions, 'skipSignature'> = {},
): { ok: true; record: OutcomeRecord } | VerificationFailure<OutcomeRecord> {
  if (audit === undefined || audit === null) {
    return { ok: false, code: 'MISSING_RECORD', message: 'the answer carries no `audit` record' };
  }
  const checked = checkRecord(audit, 'outcome');
  if (!checked.ok) return checked as VerificationFailure<OutcomeRecord>;
  const record = checked.record as OutcomeRecord;
  if (record.decision_id !== expected.decision_id || record.status !== expected.status) {
    return {
      ok: false,
      code: 'RECORD_MISMATCH',
      message: `the outcome record is \`${record.status}\` for \`${record.decision_id}\`, expected \`${expected.status}\` for \`${expected.decision_id}\``,
      record,
    };
  }
  // INVARIANT: with a nonce expected, only the answer to this very request is believed, so a replayed
  // earlier `started` answer cannot make a function run twice.
  if (expected.nonce !== undefined && record.nonce !== expected.nonce) {
    return {
      ok: false,
      code: 'RECORD_MISMATCH',
      message:
        record.nonce === undefined
          ? `the outcome record \`${record.id}\` carries no nonce, expected the one this request sent`
          : `the outcome record \`${record.id}\` carries nonce \`${record.nonce}\`, not the one this request sent (\`${expected.nonce}\`): it answers another request`,
      record,
    };
  }
  const sig = checkSignature(record, trust, options);
  if (sig !== null) return { ...sig, record };
  return { ok: true, record };
}

/** Steps 2 and 3: schema, kind, hash, one signing key named. */
function checkRecord(
  audit: unknown,
  kind: 'decision' | 'outcome',
): { ok: true; record: AuditRecord } | VerificationFailure<AuditRecord> {
  let record: AuditRecord;
  try {
    record = validateAuditRecord(audit);
  } catch (err) {
    if (!(err instanceof RecordFormatError)) throw err;
    return { ok: false, code: 'RECORD_INVALID', message: `the record is not valid: ${err.message}` };
  }
  if (record.kind !== kind) {
    return {
      ok: false,
      code: 'RECORD_INVALID',
      message: `expected a \`${kind}\` record, got \`${record.kind}\``,
    };
  }
  if (computeRecordHash(record) !== record.current_hash) {
    return {
      ok: false,
      code: 'RECORD_INVALID',
      message: `the record \`${record.id}\` does not hash to its \`current_hash\` (it was altered)`,
    };
  }
  if (record.signing_key_id !== record.kms_signature.key_id) {
    return {
      ok: false,
      code: 'RECORD_INVALID',
      message: `\`signing_key_id\` \`${record.signing_key_id}\` differs from \`kms_signature.key_id\` \`${record.kms_signature.key_id}\``,
    };
  }
  return { ok: true, record };
}

function checkFreshness(record: AuditRecord, options: VerifyOptions): string | null {
  const maxAge = options.maxAgeMs ?? DEFAULT_MAX_RECORD_AGE_MS;
  if (maxAge === Number.POSITIVE_INFINITY) return null;
  const now = (options.now ?? new Date()).getTime();
  const at = Date.parse(record.timestamp);
  if (Math.abs(now - at) > maxAge) {
    return `the record was written at ${record.timestamp}, more than ${maxAge} ms from now (${new Date(now).toISOString()})`;
  }
  return null;
}

/** Steps 7 and 8. */
function checkSignature(
  record: AuditRecord,
  trust: TrustedKeySet | null,
  options: Pick<VerifyOptions, 'skipSignature'>,
): Omit<VerificationFailure<AuditRecord>, 'record'> | null {
  if (options.skipSignature) return null;
  if (trust === null)
    return { ok: false, code: 'UNTRUSTED_KEY', message: 'no trusted keys to verify against' };
  const resolved = trust.resolve(record.signing_key_id, new Date(record.timestamp));
  if (!resolved.ok) {
    return {
      ok: false,
      code: 'UNTRUSTED_KEY',
      message: resolved.message,
      ...(resolved.unknown ? { unknownKeyId: record.signing_key_id } : {}),
    };
  }
  if (!verifySignature(resolved.key, recordSigningPayload(record), record.kms_signature.signature)) {
    return {
      ok: false,
      code: 'SIGNATURE_INVALID',
      message: `the signature of \`${record.id}\` does not verify against \`${record.signing_key_id}\``,
    };
  }
  return null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
