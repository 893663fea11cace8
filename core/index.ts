/**
 * `zt-infra/core`: the pure domain library, no I/O. What a consumer builds on: the audit record types
 * and their canonical form, offline verification of an exported log, a checkpoint or a receipt, Cedar
 * policy evaluation and validation, params declarations, the ports an adapter implements, and the
 * coded errors. A plain list of re-exports: what is not listed here is internal.
 */

export {
  CodedError,
  ConflictError,
  ForbiddenError,
  hasCode,
  InfrastructureError,
  NotFoundError,
  ValidationError,
  ZT_ERROR_CODES,
  ZtError,
  type ZtErrorCode,
} from './errors/index.js';
export type { EvaluationResult, PolicyDiagnostic, PolicyEvaluator } from './gateway/index.js';
export { computeRecordHash, InMemoryP256Signer, keyIdOf, signRecord, verifySignature } from './keys/index.js';
export type { Checkpoint, CheckpointFailureCode, CheckpointVerification } from './log/index.js';
export {
  CheckpointMalformedError,
  leafHash,
  parseCheckpointNote,
  rootFromLeaves,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from './log/index.js';
export type {
  ActionDeclaration,
  AgentRecord,
  AuditRecord,
  Decision,
  DecisionRecord,
  Declarations,
  DeclaredAttribute,
  DeclaredType,
  KeyRecord,
  OutcomeRecord,
  OutcomeStatus,
  PolicyRecord,
  RecordFormatCode,
  RecordKind,
  SchemaRecord,
  UnsignedRecord,
} from './model/index.js';
export {
  BUILTIN_DECLARATIONS,
  canonicalize,
  canonicalRecordText,
  canonicalSha256,
  declarationFor,
  GENESIS_HASH,
  mergeDeclarations,
  parseAuditRecord,
  parseDeclarations,
  RECORD_SCHEMA,
  RecordFormatError,
  recordId,
  sha256Hex,
  validateAuditRecord,
} from './model/index.js';
export type {
  AllowPolicyInput,
  CedarPolicy,
  CedarSchema,
  EvaluationRequest,
  PolicyEngineOptions,
  PolicyValidation,
} from './policy/index.js';
export { allowPolicy, DEFAULT_SCHEMA, PolicyEngine, validatePolicy } from './policy/index.js';
export type { Clock, KeyValueStore, Signer, TransactOp, TransactResult } from './ports/index.js';
export { MAX_TRANSACTION_OPS, systemClock } from './ports/index.js';
export type {
  AuditCode,
  AuditFinding,
  AuditReceipt,
  AuditReport,
  AuditStatus,
  AuditVerifierOptions,
  ChainVerifierOptions,
  ReceiptCode,
  ReceiptVerification,
  VerificationCode,
  VerificationFinding,
  VerificationReport,
} from './verify/index.js';
export {
  AUDIT_CODES,
  AuditVerifier,
  BUNDLE_FILES,
  ChainVerifier,
  ChainVerifierOptionsError,
  RECEIPT_CODES,
  RECEIPT_FORMAT,
  VERIFICATION_CODES,
  verifyChain,
  verifyReceipt,
} from './verify/index.js';
