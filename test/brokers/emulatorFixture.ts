import { expect } from 'vitest';
import { BrokerError } from '../../brokers/BrokerError.js';
import type { Emulator } from '../../local/emulator.js';
import { GatewayClient, ZeroTrustClient } from '../../sdk/index.js';
import { startTestEmulator } from '../helpers/emulator.js';

/** A real emulator on loopback with one agent allowed `allowed`, and its pinned-key client. */
export interface BrokerGateway {
  emulator: Emulator;
  client: ZeroTrustClient;
  admin: GatewayClient;
  actor: string;
  close(): Promise<void>;
}

export async function startBrokerGateway(actor: string, allowed: string[]): Promise<BrokerGateway> {
  const emulator = await startTestEmulator();
  const admin = new GatewayClient({ endpoint: emulator.url, credentials: emulator.admin });
  const registered = await admin.registerAgent({ agentId: actor });
  if (!registered.credentials) throw new Error('the emulator minted no credentials');
  for (const action of allowed) await admin.allowPolicy({ action, agentId: actor });
  const client = new ZeroTrustClient({
    endpoint: emulator.url,
    credentials: registered.credentials,
    trustedKeys: [emulator.parts.keys.root.publicKeyPem],
  });
  return {
    emulator,
    client,
    admin,
    actor,
    close: () => emulator.close(),
  };
}

/** The `BrokerError` a broker call rejects with (fails the test if it resolves or throws anything else). */
export async function failure(p: Promise<unknown>): Promise<BrokerError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BrokerError);
  return err as BrokerError;
}
