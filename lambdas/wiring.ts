import { ChainWriter } from '../core/ChainWriter.js';
import { Checkpointer } from '../core/Checkpointer.js';
import { type CredentialIssuer, Gateway, type GatewayEvents } from '../core/Gateway.js';
import { KeyRing } from '../core/KeyRing.js';
import { PolicyEngine } from '../core/PolicyEngine.js';
import type { Clock, KeyValueStore, Signer } from '../core/ports.js';

export interface GatewayWiring {
  store: KeyValueStore;
  rootSigner: Signer;
  clock: Clock;
  /** The gateway's own principal, written on key records (the function role, or the emulator). */
  gatewayPrincipal: string;
  chain?: string;
  /**
   * Checkpoint origin line, unique to this log (`checkpointOrigin` in core): the Lambda functions take it
   * from `CHECKPOINT_ORIGIN` (`requiredCheckpointOrigin`), the emulator from its data dir's id. Default
   * `zt-infra/<chain>`, for tests only.
   */
  origin?: string;
  rootArn?: string;
  issuer?: CredentialIssuer;
  events?: GatewayEvents;
  sessionTtlMs?: number;
  /** How long an allow may wait for `started` (default 60 s). */
  startWindowMs?: number;
}

export interface GatewayParts {
  gateway: Gateway;
  writer: ChainWriter;
  keys: KeyRing;
  checkpointer: Checkpointer;
}

/** Builds the use cases from their ports; the Lambda entry and the emulator both call this. */
export function wireGateway(w: GatewayWiring): GatewayParts {
  const chain = w.chain ?? 'main';
  const writer = new ChainWriter(w.store, w.clock, chain);
  const keys = new KeyRing(w.rootSigner, writer, w.store, w.clock, {
    gatewayPrincipal: w.gatewayPrincipal,
    ...(w.rootArn ? { rootArn: w.rootArn } : {}),
    ...(w.sessionTtlMs ? { sessionTtlMs: w.sessionTtlMs } : {}),
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
  });
  const checkpointer = new Checkpointer({
    store: w.store,
    rootSigner: w.rootSigner,
    clock: w.clock,
    chain,
    origin: w.origin ?? `zt-infra/${chain}`,
    readPage: (after, limit) => writer.page(after, limit),
  });
  return { gateway, writer, keys, checkpointer };
}

/**
 * The checkpoint origin a Lambda function was deployed with (`CHECKPOINT_ORIGIN`, set by the stack to
 * `zt-infra/<partition>/<account>/<region>/<stack>/<chain>`). Missing, it fails the cold start rather than
 * sign under the fixed `zt-infra/<chain>` every deployment would share.
 */
export function requiredCheckpointOrigin(env: Record<string, string | undefined>): string {
  const origin = env['CHECKPOINT_ORIGIN'];
  if (!origin) {
    throw new Error(
      'environment variable CHECKPOINT_ORIGIN is required: the origin that tells this log from every other',
    );
  }
  return origin;
}
