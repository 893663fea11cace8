import { KeyTrust, KeyTrustError, short, type TrustedKey } from '../keys/keyTrust.js';
import { verifySignature } from '../keys/signing.js';
import { sha256Hex } from '../model/canonical.js';
import { canonicalRecordParts } from '../model/canonicalRecord.js';
import { HASH_PATTERN, RecordFormatError } from '../model/recordFormat.js';
import { type InspectedRecord, inspectAuditRecord, validateAuditRecord } from '../model/recordParser.js';
import { type AuditRecord, GENESIS_HASH, type KeyRecord } from '../model/records.js';
import { ChainPosition } from './ChainPosition.js';
import {
  type ChainEntry,
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
  type DeferredSignatureCheck,
  type SignatureCheck,
} from './chainVerifierOptions.js';
import {
  type VerificationCode,
  type VerificationFinding,
  type VerificationReport,
  verificationStep,
} from './verificationCodes.js';

/**
 * The audit chain verifier: a pure library (no I/O) that trusts nothing but the root public keys
 * (DESIGN.md invariant 5). It streams: feed records one at a time, in stored order, and read the
 * report at the end. Memory stays flat: it keeps the anchor (highest seq seen and its hash), a small
 * window of the last records' seq/hashes, the key table and the findings, never the records.
 *
 * Each record runs through fixed, ordered steps:
 *   1. parse and schema (`PARSE_ERROR`, `SCHEMA_INVALID`, `NOT_CANONICAL`)
 *   2. canonical hash (`HASH_MISMATCH`)
 *   3. chain name and sequence continuity (`CHAIN_NAME_MISMATCH`, `SEQ_GAP`, `SEQ_DUPLICATE`, `SEQ_OUT_OF_ORDER`)
 *   4. `previous_hash` link (`LINK_BROKEN`)
 *   5. signature: key resolution (root or certified session key), window, ECDSA check
 *      (`UNKNOWN_SIGNING_KEY`, `KEY_ID_MISMATCH`, `SESSION_KEY_OUTSIDE_WINDOW`, `SIGNATURE_INVALID`)
 *   6. for `kind: key` records, the certificate (`CERTIFICATE_NOT_ROOT_SIGNED`, `CERTIFICATE_INVALID`)
 *
 * Which keys are trusted, how a certificate makes a session key trusted and for which window, is the
 * rule of core/keys/keyTrust.ts, shared with receipts, the SDK and the signer.
 *
 * Findings name the record they are about (`seq`, `line`). Steps 3 and 4, and where their findings go for
 * records out of place, are core/verify/ChainPosition.ts's; the codes, the report and the step table that
 * orders one entry's findings are core/verify/verificationCodes.ts's; the per-line steps that run on worker
 * threads are core/verify/prepareLine.ts's.
 *
 * What it cannot see: a cut tail. A log missing its newest records is a valid, shorter chain;
 * `lastSeq`/`headHash` say where it ends, and a signed checkpoint covering the head makes a cut
 * detectable (a later step, outside this class).
 */

interface PendingSignature {
  check: SignatureCheck;
  key: TrustedKey;
  record: AuditRecord;
  line: number;
}

/**
 * Verifies one chain, streaming. Feed it entries in stored order with {@link add} (a JSONL line) or
 * {@link addRecord} (an already-parsed record), then call {@link finish}.
 */
export class ChainVerifier {
  /** Steps 3 and 4: chain name, sequence and links. */
  readonly #position: ChainPosition;
  /** The roots and the session keys certified so far (core/keys/keyTrust.ts). */
  readonly #trust: KeyTrust;
  readonly #keysUsed = new Set<string>();
  readonly #findings: Array<VerificationFinding & { order: number }> = [];
  /** First finding of each unknown key id, so one missing certificate does not flood the report. */
  readonly #unknownKeys = new Map<string, { finding: VerificationFinding; more: number }>();
  readonly #noTrust: boolean;
  readonly #defer: boolean;
  readonly #onEntry: ((entry: ChainEntry) => void) | null;
  #nextCheckId = 0;
  #queued: DeferredSignatureCheck[] = [];
  readonly #inFlight = new Map<number, PendingSignature>();

  #line = 0;
  #entries = 0;
  #report: VerificationReport | null = null;

  constructor(opts: ChainVerifierOptions) {
    const fromSeq = opts.fromSeq ?? 1;
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new ChainVerifierOptionsError(`fromSeq must be an integer >= 1, got ${fromSeq}`);
    }
    if (opts.expectPrevious !== undefined && !HASH_PATTERN.test(opts.expectPrevious)) {
      throw new ChainVerifierOptionsError('expectPrevious must be 64 lower-case hex digits');
    }
    if (fromSeq > 1 && opts.expectPrevious === undefined) {
      throw new ChainVerifierOptionsError(
        `verifying from seq ${fromSeq} needs expectPrevious: the current_hash of record ${fromSeq - 1}`,
      );
    }
    this.#position = new ChainPosition(
      fromSeq,
      opts.expectPrevious ?? GENESIS_HASH,
      opts.chain ?? null,
      (code, seq, line, message) => this.#finding(code, seq, line, message),
    );
    try {
      this.#trust = new KeyTrust(opts.trustedRootKeys);
    } catch (e) {
      if (e instanceof KeyTrustError) throw new ChainVerifierOptionsError(e.message);
      throw e;
    }
    this.#noTrust = this.#trust.rootKeyIds.length === 0;
    this.#defer = opts.deferSignatures === true;
    this.#onEntry = opts.onEntry ?? null;
    if (this.#noTrust) {
      this.#finding(
        'NO_TRUSTED_KEYS',
        null,
        0,
        'no trusted root key was given, so no signature can be checked',
      );
    }
    for (const certificate of opts.certificates ?? []) this.#addCertificate(certificate);
  }

  /** A key record from outside the input: checked in full by the trust rule, findings kept apart. */
  #addCertificate(value: unknown): void {
    const verdict = this.#trust.addCertificate(value);
    if (verdict.ok) return;
    const seq = (value as { seq?: unknown } | null)?.seq;
    this.#finding(
      'KEYS_CERTIFICATE_INVALID',
      typeof seq === 'number' ? seq : null,
      0,
      `key certificate is not usable: ${verdict.message}`,
    );
  }

  /** Signature checks queued since the last call (`deferSignatures` mode); the caller must settle each. */
  takeSignatureChecks(): DeferredSignatureCheck[] {
    const checks = this.#queued;
    this.#queued = [];
    return checks;
  }

  /** Checks taken but not settled yet, plus those still queued. */
  get pendingSignatureChecks(): number {
    return this.#inFlight.size;
  }

  /** The PEM of a key a check names, for the caller that runs the check elsewhere. */
  publicKeyPem(keyId: string): string {
    const key = this.#trust.get(keyId);
    if (!key) throw new Error(`unknown key \`${keyId}\``);
    return key.publicKeyPem;
  }

  /** Results of deferred checks: `valid[i]` (true or 1) answers `ids[i]`. */
  settleSignatures(ids: ArrayLike<number>, valid: ArrayLike<boolean | number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const pending = this.#inFlight.get(id);
      if (!pending) throw new Error(`no pending signature check ${id}`);
      this.#inFlight.delete(id);
      this.#settleSignature(pending, valid[i] === true || valid[i] === 1);
    }
  }

  /** Runs the queued deferred checks here, synchronously (small inputs, no worker threads). */
  settleQueuedInline(): void {
    for (const check of this.takeSignatureChecks()) {
      const pending = this.#inFlight.get(check.id) as PendingSignature;
      this.#inFlight.delete(check.id);
      this.#settleSignature(pending, this.#runCheck(pending));
    }
  }

  /**
   * Verifies one stored line (a JSONL line without its newline). Blank lines are counted but skipped.
   * `at` is its line number in the input (default: one more than the previous entry's), for an input whose
   * lines this verifier does not all see (a log of several lanes read from one file).
   */
  add(line: string, at?: number): void {
    if (line.trim() === '') {
      this.#assertOpen();
      this.#line = at ?? this.#line + 1;
      return;
    }
    this.addInspected(line, inspectAuditRecord(line), at);
  }

  /** {@link add} for a line already run through `inspectAuditRecord` (to read its chain first). */
  addInspected(line: string, inspected: InspectedRecord, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    this.#onEntry?.({ line: lineNo, text: line, record: inspected.record });
    if (inspected.record === null) {
      this.#unreadableEntry(inspected.error, inspected.parsed, lineNo);
      return;
    }
    if (inspected.error)
      this.#finding(inspected.error.code, inspected.record.seq, lineNo, inspected.error.message);
    this.#verifyRecord(inspected.record, lineNo, inspected.payload);
  }

  /**
   * Verifies one already-parsed record (an element of a JSON array, the `audit` of a decision response).
   * Same steps as {@link add} except the canonical-text check: there is no stored text to compare.
   */
  addRecord(record: AuditRecord | Record<string, unknown>, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    let valid: AuditRecord;
    let parts: { text: string; payload: string };
    try {
      valid = validateAuditRecord(record);
      parts = canonicalRecordParts(valid);
    } catch (e) {
      if (!(e instanceof RecordFormatError)) throw e;
      this.#onEntry?.({ line: lineNo, text: JSON.stringify(record) ?? '', record: null });
      this.#unreadableEntry(e, record, lineNo);
      return;
    }
    this.#onEntry?.({ line: lineNo, text: parts.text, record: valid });
    this.#verifyRecord(valid, lineNo, parts.payload);
  }

  /**
   * Adds one stored line that {@link prepareLine} (on a worker thread) took through every step that needs
   * no sequential state: it parsed, passed the schema, is canonical, its hash matches, it is not a key
   * record, and its signature verifies with the key its `kms_signature.key_id` names (an id is the hash of
   * the key, so that fact holds whoever checked it). What remains runs here, exactly as {@link add} would:
   * sequence, link, whether that key is trusted for this record (root, or a session key certified earlier
   * for its time), and the key's use. `leaf` is the RFC 6962 leaf hash of the line, for `onEntry`.
   */
  addPrepared(record: AuditRecord, leaf: Uint8Array, at?: number): void {
    this.#assertOpen();
    const lineNo = at ?? this.#line + 1;
    this.#line = lineNo;
    this.#entries++;
    this.#onEntry?.({ line: lineNo, text: null, leafHash: leaf, record });
    this.#position.check(record, lineNo);
    if (this.#noTrust) return;
    // The ECDSA check already passed; the payload is not needed to settle it.
    const pending = this.#prepareSignature(record, lineNo, '');
    if (pending) this.#settleSignature(pending, true);
  }

  /** Ends the input and returns the report. Further `add` calls throw; `finish` again returns the same report. */
  finish(): VerificationReport {
    if (this.#report) return this.#report;
    if (this.#inFlight.size > 0) {
      throw new Error(`${this.#inFlight.size} deferred signature checks were not settled`);
    }
    if (this.#entries === 0) this.#finding('EMPTY_LOG', null, 0, 'the log holds no record');
    this.#position.finish();
    for (const { finding, more } of this.#unknownKeys.values()) {
      if (more > 0) finding.message += ` (and ${more} later record${more > 1 ? 's' : ''} signed by it)`;
    }
    const findings = [...this.#findings]
      .sort(
        (a, b) => a.line - b.line || verificationStep(a.code) - verificationStep(b.code) || a.order - b.order,
      )
      .map(({ code, seq, line, message }) => ({ code, seq, line, message }));
    this.#report = {
      ok: findings.length === 0,
      records: this.#entries,
      firstSeq: this.#position.firstSeq,
      lastSeq: this.#position.lastSeq,
      headHash: this.#position.headHash,
      keysUsed: [...this.#keysUsed],
      findings,
    };
    return this.#report;
  }

  #assertOpen(): void {
    if (this.#report) throw new Error('ChainVerifier.finish() was already called');
  }

  #finding(code: VerificationCode, seq: number | null, line: number, message: string): VerificationFinding {
    const finding = { code, seq, line, message, order: this.#findings.length };
    this.#findings.push(finding);
    return finding;
  }

  /** Step 1 failed: nothing in the entry can be trusted, but it probably stood for one record. */
  #unreadableEntry(error: RecordFormatError, parsed: unknown, line: number): void {
    const claimed = (parsed as { seq?: unknown } | null)?.seq;
    const seq = typeof claimed === 'number' && Number.isSafeInteger(claimed) && claimed > 0 ? claimed : null;
    this.#finding(error.code, seq, line, error.message);
    this.#position.unreadable();
  }

  #verifyRecord(record: AuditRecord, line: number, payload: string): void {
    // Step 2: the hash covers every field but current_hash and kms_signature.
    const hashOk = sha256Hex(payload) === record.current_hash;
    if (!hashOk) {
      this.#finding(
        'HASH_MISMATCH',
        record.seq,
        line,
        'current_hash is not the SHA-256 of the canonical record: a hashed field was changed',
      );
    }
    // Steps 3 and 4.
    this.#position.check(record, line);
    // Step 5: a record whose content is not what was hashed has nothing meaningful to verify.
    if (!hashOk || this.#noTrust) return;
    const pending = this.#prepareSignature(record, line, payload);
    if (!pending) return;
    if (this.#defer && record.kind !== 'key') {
      const id = this.#nextCheckId++;
      this.#inFlight.set(id, pending);
      this.#queued.push({ id, ...pending.check });
      return;
    }
    this.#settleSignature(pending, this.#runCheck(pending));
  }

  /** Step 5, structural half: resolve the signing key and its window. Returns the check to run, or null. */
  #prepareSignature(record: AuditRecord, line: number, payload: string): PendingSignature | null {
    const { seq, kms_signature: sig } = record;
    // Resolve the key the signature claims first: a signature swapped in from a foreign key (key_id
    // and all) is an unknown key, whatever signing_key_id says.
    const key = this.#trust.get(sig.key_id);
    if (!key) {
      this.#unknownKey(sig.key_id, seq, line);
      return null;
    }
    if (record.signing_key_id !== sig.key_id) {
      this.#finding(
        'KEY_ID_MISMATCH',
        seq,
        line,
        `signing_key_id ${short(record.signing_key_id)} and kms_signature.key_id ${short(sig.key_id)} differ`,
      );
      return null;
    }
    // The window rule (half-open, [not_before, not_after)) is core/keys/keyTrust.ts's, shared with the signer.
    const resolved = this.#trust.resolve(key.keyId, record.timestamp);
    if (!resolved.ok) {
      this.#finding(resolved.code, seq, line, resolved.message);
      return null;
    }
    return { check: { keyId: key.keyId, payload, signature: sig.signature }, key, record, line };
  }

  #unknownKey(keyId: string, seq: number, line: number): void {
    const seen = this.#unknownKeys.get(keyId);
    if (seen) {
      seen.more++;
      return;
    }
    const finding = this.#finding(
      'UNKNOWN_SIGNING_KEY',
      seq,
      line,
      `signed by ${short(keyId)}, which is neither a trusted root key nor certified by an earlier valid key record`,
    );
    this.#unknownKeys.set(keyId, { finding, more: 0 });
  }

  /** Step 5, the pure half: the ECDSA check itself (a worker-thread candidate). */
  #runCheck(pending: PendingSignature): boolean {
    return verifySignature(pending.key.publicKey, pending.check.payload, pending.check.signature);
  }

  /** Step 5 result, then step 6 for key records. */
  #settleSignature(pending: PendingSignature, valid: boolean): void {
    const { record, line, key } = pending;
    if (!valid) {
      this.#finding(
        'SIGNATURE_INVALID',
        record.seq,
        line,
        `signature does not verify with ${key.role} key ${short(key.keyId)}`,
      );
      return;
    }
    this.#keysUsed.add(key.keyId);
    if (record.kind === 'key') this.#certify(record, line, key);
  }

  /** Step 6: a valid key record signed by a root key adds a session key window to the trust set. */
  #certify(record: KeyRecord, line: number, signer: TrustedKey): void {
    const verdict = this.#trust.certify(record, signer.keyId);
    if (!verdict.ok) this.#finding(verdict.code, record.seq, line, verdict.message);
  }
}
/** Verifies a whole chain given as stored lines (JSONL). */
export function verifyChain(lines: Iterable<string>, opts: ChainVerifierOptions): VerificationReport {
  const verifier = new ChainVerifier(opts);
  for (const line of lines) verifier.add(line);
  return verifier.finish();
}
