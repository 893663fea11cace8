import { ZtError } from '../errors/errors.js';
import type { AuditRecord } from '../model/records.js';

/**
 * What the chain verifier (core/verify/ChainVerifier.ts) is given: its options, the entries its `onEntry`
 * hook sees, the signature checks it hands out in `deferSignatures` mode, and the error for unusable options.
 */

export interface ChainVerifierOptions {
  /** SPKI PEM public keys of the root signers. The only trust anchor. */
  trustedRootKeys: string[];
  /**
   * seq of the first record to expect (default 1), to verify a suffix of a chain. Only root keys are
   * known at the start: records signed by a session key certified before `fromSeq` are reported as
   * `UNKNOWN_SIGNING_KEY` (start a suffix at a `kind: key` record, or from 1).
   */
  fromSeq?: number;
  /** `previous_hash` the first record must carry: required when `fromSeq > 1`, genesis by default otherwise. */
  expectPrevious?: string;
  /** The chain name every record must carry; by default the first readable record's. */
  chain?: string;
  /**
   * `kind: key` records from outside the input (the `certificate` of each session key in `GET /keys`, a
   * receipt's certificate), for a suffix or a single record whose certificate is not in the input. Each
   * is checked like a key record of the chain (schema, hash, root signature, certified id) before its
   * session key is trusted; one that fails is a `KEYS_CERTIFICATE_INVALID` finding and adds nothing.
   * They can only add session keys: the trust anchor stays `trustedRootKeys`.
   */
  certificates?: unknown[];
  /**
   * Leave the ECDSA checks of non-key records to the caller (worker threads): they queue up as
   * {@link DeferredSignatureCheck}s, taken with {@link ChainVerifier.takeSignatureChecks} and answered
   * with {@link ChainVerifier.settleSignatures}. Key records still settle inline: the key table of the
   * records after them depends on their result.
   */
  deferSignatures?: boolean;
  /**
   * Sees every entry in input order: its stored text (for a parsed record, its canonical text) and the
   * record when it passed the schema. For what is computed over the whole log beside the chain steps
   * (the Merkle tree of checkpoints, references).
   */
  onEntry?: (entry: ChainEntry) => void;
}

/** One entry of the input, as {@link ChainVerifierOptions.onEntry} sees it. */
export interface ChainEntry {
  line: number;
  /**
   * The bytes of its Merkle leaf: the stored line, or the canonical text of a parsed record; null for a
   * line added with {@link ChainVerifier.addPrepared}, whose leaf hash was computed with it (`leafHash`).
   */
  text: string | null;
  /** The RFC 6962 leaf hash of `text`, when it was computed elsewhere (a prepared line). */
  leafHash?: Uint8Array;
  /**
   * The record, when it passed the schema (it may still fail later steps). For a prepared line, the
   * reduced record of {@link prepareLine}: the fields the sequential steps and the reference checks read.
   */
  record: AuditRecord | null;
}

/** A signature check handed to the caller in `deferSignatures` mode. */
export interface DeferredSignatureCheck extends SignatureCheck {
  /** Answer with this id. */
  id: number;
}

/** The verifier was given unusable options (a bad PEM, `fromSeq` without `expectPrevious`): a usage error, not a finding. */
export class ChainVerifierOptionsError extends ZtError {
  constructor(message: string) {
    super('INVALID_VERIFIER_OPTIONS', message);
  }
}

/**
 * The self-contained part of a signature check: a pure function of (key, payload, signature).
 * Kept apart from the structural steps so that a later version can batch these to worker threads;
 * only `kind: key` records must settle inline (their result changes the key table for what follows).
 */
export interface SignatureCheck {
  keyId: string;
  /** The canonical payload (the record without `current_hash`, `kms_signature`); its SHA-256 is what was signed. */
  payload: string;
  signature: string;
}
