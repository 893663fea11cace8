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
  /** Checkpoint origin line, e.g. `zt-infra/main`. */
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
