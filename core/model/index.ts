/**
 * core/model: The contract's data: audit records and their strict parser and canonical (RFC 8785) form, request bodies
 * and their exact-JSON readers, the authenticated caller and principal ARNs, and the route table.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export type { Caller } from './caller.js';
export { requireAdmin, requireApprover } from './caller.js';
export { canonicalize, canonicalizeData, canonicalSha256, sha256Hex } from './canonical.js';
export { canonicalRecordParts, canonicalRecordText } from './canonicalRecord.js';
export type { ActionDeclaration, Declarations, DeclaredAttribute, DeclaredType } from './declarations.js';
export {
  BUILTIN_DECLARATIONS,
  checkRequest,
  declarationFor,
  MAX_TYPE_DEPTH,
  mergeDeclarations,
  parseDeclarations,
} from './declarations.js';
export { assertExactJsonText } from './exactJson.js';
export { normalizePrincipalArn } from './principalArn.js';
export type { RecordFormatCode } from './recordFormat.js';
export { HASH_PATTERN, NONCE_PATTERN, RecordFormatError } from './recordFormat.js';
export type { InspectedRecord } from './recordParser.js';
export { inspectAuditRecord, parseAuditRecord, validateAuditRecord } from './recordParser.js';
export type {
  AgentRecord,
  ApprovalRecord,
  AuditRecord,
  Decision,
  DecisionFields,
  DecisionRecord,
  KeyFields,
  KeyRecord,
  KindFields,
  OutcomeRecord,
  OutcomeStatus,
  PolicyRecord,
  RecordKind,
  SchemaRecord,
  UnsignedRecord,
} from './records.js';
export {
  GENESIS_HASH,
  LANE_NAME_PATTERN,
  MAIN_LANE,
  parseRecordId,
  RECORD_SCHEMA,
  recordId,
  SIGNATURE_ALGORITHM,
} from './records.js';
export type {
  AgentAttributes,
  AllowPolicyRequest,
  DecisionRequest,
  OutcomeRequest,
  RequestOrigin,
} from './requests.js';
export {
  parseAllowPolicyRequest,
  parseApprovalVoteRequest,
  parseDecisionRequest,
  parseOutcomeRequest,
  parsePutPolicyRequest,
  parsePutSchemaRequest,
  parseRegisterAgentRequest,
  signatureRequestId,
} from './requests.js';
export type { RouteGroup, RouteName, RouteRequest } from './routes.js';
export {
  arnPath,
  isPublicRoute,
  publicRoutes,
  ROUTE_GROUP_NAMES,
  ROUTE_TABLE,
  routeKey,
  routeRequest,
  routesForRole,
  routesOfGroup,
} from './routes.js';
export type { JsonObject } from './validate.js';
export { ACTION_PATTERN, ID_PATTERN, parseQueryInteger, readObject, requireString } from './validate.js';
