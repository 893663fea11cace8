/**
 * core/gateway: The use cases behind the API: decisions, admin changes, outcomes, approvals and `allowed actions`,
 * composed by `Gateway`, over one configuration snapshot; request data kept for replay.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export { AuditReader } from './AuditReader.js';
export type { AllowedActionsAnswer } from './allowedActions.js';
export { ALLOWED_ANSWER_SCHEMA, actionsDigest, allowedAnswerPayload } from './allowedActions.js';
export type { ConfigSnapshot, StoredAgent } from './Configuration.js';
export { Configuration } from './Configuration.js';
export type {
  CredentialIssuer,
  EvaluationResult,
  GatewayEvents,
  PolicyDiagnostic,
  PolicyEvaluator,
} from './Gateway.js';
export { Gateway } from './Gateway.js';
export type { KeptRequest, RequestKeeping } from './keptRequests.js';
export { parseKeptRequest, parseRequestKeeping } from './keptRequests.js';
export type { ReplayReport } from './replay.js';
export { ReplayError, replayDecisions } from './replay.js';
