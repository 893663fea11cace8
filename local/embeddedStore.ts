import { mkdir } from 'node:fs/promises';
import { Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { DynamoDbKeyValueStore } from '../lambdas/adapters/DynamoDbKeyValueStore.js';
import { ensureTable } from '../lambdas/adapters/tableDefinition.js';

/** The table the emulator uses unless told otherwise. */
export const DEFAULT_TABLE_NAME = 'zt-infra';

/** A running embedded store; `close()` stops it (and flushes LevelDB when on disk). */
export interface EmbeddedStore {
  /** `http://127.0.0.1:<port>`: any DynamoDB client can use it. */
  endpoint: string;
  client: DynamoDBClient;
  store: DynamoDbKeyValueStore;
  tableName: string;
  /** Destroys the client, then closes the server and its LevelDB store. Idempotent. */
  close(): Promise<void>;
}

function listen(server: Server): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    // loopback only: the store has no authentication of its own
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
}

/**
 * Starts dynalite in this process on 127.0.0.1 (ephemeral port), connects a `DynamoDBClient` to it and
 * ensures the table exists, so the emulator runs the same `DynamoDbKeyValueStore` as the cloud.
 *
 * @param options.path LevelDB directory (created if missing); data there survives `close()` and a
 *   restart on the same path. In memory when omitted. One process at a time per path (LevelDB lock).
 * @param options.tableName defaults to `zt-infra`
 */
export async function startEmbeddedStore(
  options: { path?: string; tableName?: string } = {},
): Promise<EmbeddedStore> {
  const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
  if (options.path !== undefined) await mkdir(options.path, { recursive: true });

  const server = dynalite({ path: options.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  // Keep idle connections open longer than the client leaves them idle between calls, so a request is
  // rarely sent on a socket the server is closing (which would cost a retry).
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 61_000;
  const address = await listen(server);
  const endpoint = `http://127.0.0.1:${address.port}`;

  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    // dynalite checks that requests are signed, not by whom
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // Retries cover a reset keep-alive socket; few, since a loopback failure rarely heals and every
    // attempt delays the deny. A bounded request timeout turns a hung store into an error, not a hang.
    maxAttempts: 3,
    requestHandler: {
      // keep-alive: one TCP connection per concurrent request, reused, so a call costs ~1 ms, not a handshake
      httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
      connectionTimeout: 2_000,
      requestTimeout: 10_000,
    },
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      client.destroy();
      await closeServer(server);
    })();
    return closing;
  };

  try {
    await ensureTable(client, tableName, { timeoutMs: 10_000 });
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
  return { endpoint, client, store: new DynamoDbKeyValueStore({ client, tableName }), tableName, close };
}
