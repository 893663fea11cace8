import type { CredentialIssuer, GatewayEvents, RequestKeeping } from '../core/gateway/index.js';
import { Gateway } from '../core/gateway/index.js';
import { KeyRing } from '../core/keys/index.js';
import { Checkpointer, LaneWriter } from '../core/log/index.js';
import { MAIN_LANE } from '../core/model/index.js';
import { PolicyEngine } from '../core/policy/index.js';
import type { Clock, KeyValueStore, Signer } from '../core/ports/index.js';

export interface GatewayWiring {
  store: KeyValueStore;
  rootSigner: Signer;
  clock: Clock;
  /** The gateway's own principal, written on key records (the function role, or the emulator). */
  gatewayPrincipal: string;
  /**
   * The one lane this process writes, taken over whatever its lease says: only for a process that knows it
   * is the only writer (the emulator, under its data dir lock). Default: a free lane or a new one.
   */
  lane?: string;
  /** Lane lease length (default 5 minutes). */
  leaseMs?: number;
  /**
   * Checkpoint origin line, unique to this log (`checkpointOrigin` in core): the Lambda functions take it
   * from `CHECKPOINT_ORIGIN` (`requiredCheckpointOrigin` in lambdas/env.ts), the emulator from its data dir's id. Default
   * `zt-infra/main`, for tests only.
   */
  origin?: string;
  rootArn?: string;
  issuer?: CredentialIssuer;
  events?: GatewayEvents;
  sessionTtlMs?: number;
  /** How long an allow may wait for `started` (default 60 s). */
  startWindowMs?: number;
  /** How long an `approval_required` request may wait for approvals and its claim (default 1 hour). */
  approvalWindowMs?: number;
  /** How long one approve verdict counts (default 15 minutes). */
  approvalTtlMs?: number;
  /** Keep decisions' request data for replay (opt-in; core/gateway/keptRequests.ts). */
  keepRequests?: RequestKeeping | null;
}

export interface GatewayParts {
  gateway: Gateway;
  writer: LaneWriter;
  keys: KeyRing;
  checkpointer: Checkpointer;
}

/**
 * Builds the use cases from their ports: the API functions' composition root (lambdas/api.ts) and the
 * emulator's both call this. `events` reaches every part that tells one: the decision services, the lane
 * writer and the checkpointer. The checkpoint function builds only its checkpointer (lambdas/checkpoint.ts).
 */
export function wireGateway(w: GatewayWiring): GatewayParts {
  const keys = new KeyRing(w.rootSigner, w.store, {
    gatewayPrincipal: w.gatewayPrincipal,
    ...(w.rootArn ? { rootArn: w.rootArn } : {}),
    ...(w.sessionTtlMs ? { sessionTtlMs: w.sessionTtlMs } : {}),
  });
  const writer = new LaneWriter(w.store, w.clock, keys, {
    ...(w.lane !== undefined ? { lane: w.lane } : {}),
    ...(w.leaseMs !== undefined ? { leaseMs: w.leaseMs } : {}),
    ...(w.events ? { events: w.events } : {}),
  });
  const gateway = new Gateway({
    store: w.store,
    writer,
    keys,
    policies: new PolicyEngine(),
    clock: w.clock,
    ...(w.issuer ? { issuer: w.issuer } : {}),
    ...(w.events ? { events: w.events } : {}),
    ...(w.startWindowMs !== undefined ? { startWindowMs: w.startWindowMs } : {}),
    ...(w.approvalWindowMs !== undefined ? { approvalWindowMs: w.approvalWindowMs } : {}),
    ...(w.approvalTtlMs !== undefined ? { approvalTtlMs: w.approvalTtlMs } : {}),
    ...(w.keepRequests ? { keepRequests: w.keepRequests } : {}),
  });
  const checkpointer = new Checkpointer({
    store: w.store,
    rootSigner: w.rootSigner,
    clock: w.clock,
    chain: MAIN_LANE,
    ...(w.origin !== undefined ? { origin: w.origin } : {}),
    ...(w.events ? { events: w.events } : {}),
  });
  return { gateway, writer, keys, checkpointer };
}
