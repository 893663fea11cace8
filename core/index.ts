/**
 * `zt-infra/core`: the pure domain library, no I/O. What a consumer builds on: the audit record types
 * and their canonical form, offline verification of an exported log, a checkpoint or a receipt, Cedar
 * policy evaluation and validation, params declarations, the ports an adapter implements, and the
 * coded errors. A plain list of re-exports: what is not listed here is internal.
 */

export type {
  AuditCode,
  AuditFinding,
  AuditReport,
  AuditStatus,
  AuditVerifierOptions,
} from './auditBundle.js';
export { AUDIT_CODES, AuditVerifier, BUNDLE_FILES } from './auditBundle.js';
export type {
  ChainVerifierOptions,
  VerificationCode,
  VerificationFinding,
  VerificationReport,
} from './ChainVerifier.js';
export {
  ChainVerifier,
  ChainVerifierOptionsError,
  VERIFICATION_CODES,
  verifyChain,
} from './ChainVerifier.js';
export { CodedError, hasCode } from './CodedError.js';
export { canonicalize, canonicalSha256, sha256Hex } from './canonical.js';
export type { Checkpoint, CheckpointFailureCode, CheckpointVerification } from './checkpoint.js';
export { CheckpointMalformedError, parseCheckpointNote, verifyCheckpoint } from './checkpoint.js';
export type { ActionDeclaration, Declarations, DeclaredAttribute, DeclaredType } from './declarations.js';
export {
  BUILTIN_DECLARATIONS,
  declarationFor,
  mergeDeclarations,
  parseDeclarations,
} from './declarations.js';
export {
  ConflictError,
  ForbiddenError,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZT_ERROR_CODES,
  ZtError,
  type ZtErrorCode,
} from './errors.js';
export { leafHash, rootFromLeaves, verifyConsistency, verifyInclusion } from './merkle.js';
export type {
  AllowPolicyInput,
  CedarPolicy,
  CedarSchema,
  EvaluationRequest,
  EvaluationResult,
  PolicyDiagnostic,
  PolicyEngineOptions,
  PolicyValidation,
} from './PolicyEngine.js';
export { allowPolicy, DEFAULT_SCHEMA, PolicyEngine, validatePolicy } from './PolicyEngine.js';
export type {
  Clock,
  KeyValueStore,
  PolicyEvaluator,
  Signer,
  TransactOp,
  TransactResult,
} from './ports.js';
export { MAX_TRANSACTION_OPS, systemClock } from './ports.js';
export type { AuditReceipt, ReceiptCode, ReceiptVerification } from './receipt.js';
export { RECEIPT_CODES, RECEIPT_FORMAT, verifyReceipt } from './receipt.js';
export type { RecordFormatCode } from './recordParser.js';
export {
  canonicalRecordText,
  parseAuditRecord,
  RecordFormatError,
  validateAuditRecord,
} from './recordParser.js';
export type {
  AgentRecord,
  AuditRecord,
  Decision,
  DecisionRecord,
  KeyRecord,
  OutcomeRecord,
  OutcomeStatus,
  PolicyRecord,
  RecordKind,
  SchemaRecord,
  UnsignedRecord,
} from './records.js';
export { GENESIS_HASH, RECORD_SCHEMA, recordId } from './records.js';
export { computeRecordHash, InMemoryP256Signer, keyIdOf, signRecord, verifySignature } from './signing.js';
