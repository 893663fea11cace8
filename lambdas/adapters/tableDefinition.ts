import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { InfrastructureError } from '../../core/errors/index.js';

/**
 * The one table's key schema. A public contract: the CDK stack, the Terraform example and every adapter
 * use these names, and renaming one means a new table.
 */
export const TABLE_KEY = { partitionKey: 'pk', sortKey: 'sk' } as const;

/** Non-key attributes: `data` holds the opaque payload (S), `n` the counters (N). */
export const TABLE_ATTRIBUTES = { data: 'data', counter: 'n' } as const;

/** The table as the adapters need it: `pk` (S) + `sk` (S), on-demand billing. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    AttributeDefinitions: [
      { AttributeName: TABLE_KEY.partitionKey, AttributeType: 'S' },
      { AttributeName: TABLE_KEY.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: TABLE_KEY.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE_KEY.sortKey, KeyType: 'RANGE' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
  };
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

async function describe(client: DynamoDBClient, tableName: string): Promise<TableDescription | null> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    return Table ?? null;
  } catch (error) {
    if (isNamed(error, 'ResourceNotFoundException')) return null;
    throw error;
  }
}

/** Refuses a table whose keys are not ours: writing into it would fail on every call, or worse. */
function checkKeySchema(table: TableDescription, tableName: string): void {
  const keys = table.KeySchema ?? [];
  const hash = keys.find((key) => key.KeyType === 'HASH')?.AttributeName;
  const range = keys.find((key) => key.KeyType === 'RANGE')?.AttributeName;
  const types = new Map((table.AttributeDefinitions ?? []).map((a) => [a.AttributeName, a.AttributeType]));
  if (
    hash !== TABLE_KEY.partitionKey ||
    range !== TABLE_KEY.sortKey ||
    types.get(TABLE_KEY.partitionKey) !== 'S' ||
    types.get(TABLE_KEY.sortKey) !== 'S'
  ) {
    throw new InfrastructureError(
      'TABLE_SCHEMA_MISMATCH',
      `table \`${tableName}\` has key schema \`${hash ?? '-'}\`/\`${range ?? '-'}\`, expected \`${TABLE_KEY.partitionKey}\` (S) and \`${TABLE_KEY.sortKey}\` (S)`,
    );
  }
}

/**
 * Creates the table when it does not exist, then waits until it is ACTIVE. Idempotent, and safe when
 * several processes race to create it. Throws `InfrastructureError` `TABLE_NOT_READY` when the table is
 * not ACTIVE within `timeoutMs` (default 60 s), and `TABLE_SCHEMA_MISMATCH` when an existing table has
 * other keys. Other DynamoDB errors propagate.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  options: { timeoutMs?: number; pollIntervalMs?: number } = {},
): Promise<void> {
  const { timeoutMs = 60_000, pollIntervalMs = 250 } = options;
  const deadline = Date.now() + timeoutMs;
  let table = await describe(client, tableName);
  if (table === null) {
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
    } catch (error) {
      // another process created it between our describe and create: fine, wait for it below
      if (!isNamed(error, 'ResourceInUseException')) throw error;
    }
    table = await describe(client, tableName);
  }
  for (;;) {
    if (table !== null) {
      checkKeySchema(table, tableName);
      if (table.TableStatus === 'ACTIVE') return;
    }
    if (Date.now() >= deadline) {
      throw new InfrastructureError(
        'TABLE_NOT_READY',
        `table \`${tableName}\` is not ACTIVE after ${timeoutMs} ms (status \`${table?.TableStatus ?? 'missing'}\`)`,
      );
    }
    await sleep(pollIntervalMs);
    table = await describe(client, tableName);
  }
}
