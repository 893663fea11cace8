import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Emulator, startEmulator } from '../../local/emulator.js';
import { GatewayClient, ZeroTrustClient } from '../../sdk/index.js';

/** A real emulator on loopback with one agent allowed `allowed`, and its pinned-key client. */
export interface BrokerGateway {
  emulator: Emulator;
  client: ZeroTrustClient;
  admin: GatewayClient;
  actor: string;
  close(): Promise<void>;
}

export async function startBrokerGateway(actor: string, allowed: string[]): Promise<BrokerGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'zt-broker-'));
  const emulator = await startEmulator({ dataDir, port: 0, inMemory: true, log: null, checkpoints: false });
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
    close: async () => {
      await emulator.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
