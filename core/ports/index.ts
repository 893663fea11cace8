/**
 * core/ports: What core needs from the outside world (store, signer, clock, policy evaluator, credential issuer,
 * events), the one table's key layout every store holds, and the in-memory store tests and tools run on.
 * What the rest of the project uses from this folder; anything not listed here is internal to it.
 */

export {
  checkItem,
  checkKey,
  checkLimit,
  checkText,
  checkTransaction,
  InMemoryKeyValueStore,
} from './InMemoryKeyValueStore.js';
export type {
  Clock,
  CredentialIssuer,
  EvaluationResult,
  GatewayEvents,
  KeyValueStore,
  LaneCertificate,
  LaneSigner,
  PolicyDiagnostic,
  PolicyEvaluator,
  Signer,
  TransactOp,
  TransactResult,
} from './ports.js';
export { emitEvent, MAX_TRANSACTION_OPS, scanPartition, systemClock } from './ports.js';
export type { LaneState } from './storageLayout.js';
export {
  approvalPartition,
  chainPartition,
  checkpointPartition,
  EPOCH_PARTITION,
  heartbeatPartition,
  idemPartition,
  LANE_STATE_SK,
  LANES_PARTITION,
  lanePartition,
  listLanes,
  META_CONFIG_SK,
  META_LANES_SK,
  META_SCHEMA_SK,
  META_VERSION_SK,
  merklePartition,
  P_AGENT,
  P_APPROVALS,
  P_KEYS,
  P_META,
  P_OUTCOME,
  P_POLICY,
  P_PRINCIPAL,
  seqKey,
} from './storageLayout.js';
