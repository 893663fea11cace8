/**
 * core/verify: Offline verification: the streaming chain verifier, audit bundles (lanes, checkpoints, epochs, state),
 * receipts, and the cross-record reference checks (configuration versions, approvals).
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export { AuditVerifier } from './AuditVerifier.js';
export { BUNDLE_FILES, checkpointsOf } from './auditBundle.js';
export type { AuditCode, AuditFinding, AuditReport, AuditStatus } from './auditReport.js';
export { AUDIT_CODES } from './auditReport.js';
export type { AuditVerifierOptions, EntryPlace } from './auditVerifierOptions.js';
export { ChainVerifier, verifyChain } from './ChainVerifier.js';
export type { ChainVerifierOptions } from './chainVerifierOptions.js';
export { ChainVerifierOptionsError } from './chainVerifierOptions.js';
export { formatDuration, parseDuration } from './duration.js';
export { prepareLine } from './prepareLine.js';
export type { AuditReceipt, ReceiptCode, ReceiptVerification } from './receipt.js';
export { InclusionProofBuilder, RECEIPT_CODES, RECEIPT_FORMAT, verifyReceipt } from './receipt.js';
export type { VerificationCode, VerificationFinding, VerificationReport } from './verificationCodes.js';
export { VERIFICATION_CODES } from './verificationCodes.js';
export { formatVerifierState } from './verifierState.js';
