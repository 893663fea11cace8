/**
 * `zt-infra/sdk`: the fail-closed client agents use. Start with {@link ZeroTrustClient}; the one-line
 * helpers and the action naming conventions are in `helpers.ts`; verification of answers, reusable by
 * brokers, in `verifyDecision.ts`; the signed HTTP layer (`GatewayClient`, `signRequest`) for admin tools.
 */

export { CodedError, hasCode, ZT_ERROR_CODES, type ZtErrorCode } from '../core/errors/index.js';
export type { DecisionRecord, OutcomeRecord } from '../core/model/index.js';
export type { CredentialProvider, CredentialSource } from './credentials.js';
export { credentialProvider, resolveCredentials } from './credentials.js';
export type { GatewayErrorCode, GatewayErrorDetails, ServerErrorCode } from './errors.js';
export { GatewayError, isGatewayError } from './errors.js';
export type {
  AgentAttributeValue,
  AgentInfo,
  AllowedActionsInput,
  AllowPolicyInput,
  AllowPolicyResult,
  AuditPage,
  Checkpoint,
  DecideInput,
  EpochStatement,
  GatewayClientOptions,
  GatewayKey,
  LogCheckpoint,
  OutcomeInput,
  PolicyInfo,
  PutPolicyInput,
  PutPolicyResult,
  RawDecision,
  RegisterAgentInput,
  RegisteredAgent,
  WhoAmI,
} from './GatewayClient.js';
export { GatewayClient } from './GatewayClient.js';
export type { McpToolCall, ProtectTarget, ToolCall } from './helpers.js';
export {
  awsActionName,
  guardMcpToolCall,
  guardToolCall,
  mcpActionName,
  protect,
  toolActionName,
  toSnakeCase,
} from './helpers.js';
export type { AwsCredentials, SignedRequest, SignOptions, UnsignedRequest } from './signer.js';
export { signRequest } from './signer.js';
export type { FetchLike, TransportOptions, TransportResponse } from './transport.js';
export { sendRequest } from './transport.js';
export type { AllowedExpectation, AllowedVerdict } from './verifyAllowed.js';
export { verifyAllowedAnswer } from './verifyAllowed.js';
export type {
  CertificateVerdict,
  DecisionExpectation,
  DecisionVerdict,
  OutcomeExpectation,
  VerificationCode,
  VerificationFailure,
  VerifiedDecisionRecord,
  VerifyOptions,
} from './verifyDecision.js';
export {
  DEFAULT_MAX_RECORD_AGE_MS,
  TrustedKeySet,
  verifyDecisionAnswer,
  verifyDecisionRecord,
  verifyOutcomeRecord,
} from './verifyDecision.js';
export type {
  AllowedActions,
  DecisionRequest,
  GuardContext,
  GuardOptions,
  OutcomeReport,
  VerifiedDecision,
  ZeroTrustClientOptions,
  ZeroTrustErrorCode,
  ZeroTrustErrorDetails,
} from './ZeroTrustClient.js';
export { isZeroTrustError, ZeroTrustClient, ZeroTrustError } from './ZeroTrustClient.js';
