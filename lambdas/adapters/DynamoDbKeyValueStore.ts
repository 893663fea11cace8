import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  type TransactWriteItem,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { KeyValueStore, TransactOp, TransactResult } from '../../core/ports/index.js';
import { checkTransaction } from '../../core/ports/index.js';
import { TABLE_ATTRIBUTES, TABLE_KEY } from './tableDefinition.js';

/**
 * Placeholders for every attribute name: `data` is a DynamoDB reserved word, and using names throughout
 * keeps the expressions independent of the actual attribute names.
 */
const NAMES = {
  pk: { '#pk': TABLE_KEY.partitionKey },
  sk: { '#sk': TABLE_KEY.sortKey },
  data: { '#d': TABLE_ATTRIBUTES.data },
  counter: { '#n': TABLE_ATTRIBUTES.counter },
} as const;

function isConditionalCheckFailed(error: unknown): boolean {
  // by name, not instanceof: two copies of the SDK in one process have two exception classes
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * The index of the first condition that failed in a cancelled transaction, from its cancellation
 * reasons (one per item, in order; `None` for the items that were fine), or null when the transaction
 * was cancelled for another reason (a conflicting transaction, throttling): those are errors.
 */
function failedCondition(error: unknown): number | null {
  if (!(error instanceof Error) || error.name !== 'TransactionCanceledException') return null;
  const reasons = (error as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
  if (!reasons) return null;
  const index = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
  // Any other non-None reason (TransactionConflict, ThrottlingError) means the conditions were not judged.
  if (index === -1 || reasons.some((r) => r.Code !== 'None' && r.Code !== 'ConditionalCheckFailed')) {
    return null;
  }
  return index;
}

/** An item's value as the port sees it: its `data`, or for a counter item its value in decimal. */
function itemValue(item: Record<string, AttributeValue> | undefined): string | null {
  const data = item?.[TABLE_ATTRIBUTES.data]?.S;
  if (data !== undefined) return data;
  const n = item?.[TABLE_ATTRIBUTES.counter]?.N;
  return n === undefined ? null : n;
}

/**
 * The `KeyValueStore` port over one DynamoDB table (`pk` S + `sk` S, see `tableDefinition.ts`), with
 * low-level commands so `data` goes over the wire as the exact string given: a chain record's canonical
 * JSON is stored and read back byte for byte, never re-marshalled.
 *
 * Works against DynamoDB and DynamoDB Local (the store conformance suite runs on both shapes of it), and
 * against dynalite, which has no transactions: there `transact` rejects and writes nothing.
 * Reads are strongly consistent. A lost condition is a `false` result; every other error (throttling,
 * missing table, validation, transport) propagates for the caller to turn into a 5xx deny.
 *
 * A counter item (written by `increment`) has no `data`: `get` and `query` return its value in decimal,
 * and `replaceIf` (which compares `data`) never matches it.
 */
export class DynamoDbKeyValueStore implements KeyValueStore {
  readonly #client: DynamoDBClient;
  readonly #tableName: string;

  constructor(options: { client: DynamoDBClient; tableName: string }) {
    this.#client = options.client;
    this.#tableName = options.tableName;
  }

  get tableName(): string {
    return this.#tableName;
  }

  #key(pk: string, sk: string): Record<string, AttributeValue> {
    return { [TABLE_KEY.partitionKey]: { S: pk }, [TABLE_KEY.sortKey]: { S: sk } };
  }

  #item(pk: string, sk: string, data: string): Record<string, AttributeValue> {
    return { ...this.#key(pk, sk), [TABLE_ATTRIBUTES.data]: { S: data } };
  }

  async get(pk: string, sk: string): Promise<string | null> {
    const { Item } = await this.#client.send(
      new GetItemCommand({
        TableName: this.#tableName,
        Key: this.#key(pk, sk),
        ConsistentRead: true,
        ProjectionExpression: '#d, #n',
        ExpressionAttributeNames: { ...NAMES.data, ...NAMES.counter },
      }),
    );
    return itemValue(Item);
  }

  async putIfAbsent(pk: string, sk: string, data: string): Promise<boolean> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: this.#item(pk, sk, data),
          // INVARIANT: an existing item is never overwritten; the chain and the idempotency keys rely on it
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: NAMES.pk,
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async put(pk: string, sk: string, data: string): Promise<void> {
    await this.#client.send(
      new PutItemCommand({ TableName: this.#tableName, Item: this.#item(pk, sk, data) }),
    );
  }

  async replaceIf(pk: string, sk: string, expected: string, data: string): Promise<boolean> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.#tableName,
          Item: this.#item(pk, sk, data),
          // false on a missing item too: a missing attribute equals nothing
          ConditionExpression: '#d = :expected',
          ExpressionAttributeNames: NAMES.data,
          ExpressionAttributeValues: { ':expected': { S: expected } },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  async delete(pk: string, sk: string): Promise<boolean> {
    const { Attributes } = await this.#client.send(
      new DeleteItemCommand({ TableName: this.#tableName, Key: this.#key(pk, sk), ReturnValues: 'ALL_OLD' }),
    );
    return Attributes !== undefined;
  }

  async query(
    pk: string,
    options: { after?: string; limit: number; descending?: boolean },
  ): Promise<Array<{ sk: string; data: string }>> {
    const { limit, descending = false } = options;
    if (!Number.isSafeInteger(limit) || limit < 0) {
      throw new RangeError(`query limit must be a non-negative integer, got \`${limit}\``);
    }
    let after = options.after;
    if (after === '') {
      // DynamoDB refuses an empty key value in a condition; every key is above '' and none below it
      if (descending) return [];
      after = undefined;
    }
    if (limit === 0) return [];

    const values: Record<string, AttributeValue> = { ':pk': { S: pk } };
    let condition = '#pk = :pk';
    if (after !== undefined) {
      // `after` is exclusive in the direction of reading
      condition += descending ? ' AND #sk < :after' : ' AND #sk > :after';
      values[':after'] = { S: after };
    }

    const result: Array<{ sk: string; data: string }> = [];
    let startKey: Record<string, AttributeValue> | undefined;
    // A page stops at `Limit` items or 1 MB, whichever comes first: follow LastEvaluatedKey until
    // `limit` items are collected or the partition is exhausted.
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: condition,
          ExpressionAttributeNames: { ...NAMES.pk, ...NAMES.sk, ...NAMES.data, ...NAMES.counter },
          ExpressionAttributeValues: values,
          ProjectionExpression: '#sk, #d, #n',
          ConsistentRead: true,
          ScanIndexForward: !descending,
          Limit: limit - result.length,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const sk = item[TABLE_KEY.sortKey]?.S;
        const data = itemValue(item);
        if (sk !== undefined && data !== null) result.push({ sk, data });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && result.length < limit);
    return result;
  }

  async transact(ops: readonly TransactOp[]): Promise<TransactResult> {
    // Refused here as DynamoDB refuses them (ValidationException), and as DynamoDB Local does not: it
    // runs two ops on one item instead of refusing them.
    checkTransaction(ops);
    const items = ops.map((op): TransactWriteItem => {
      const TableName = this.#tableName;
      switch (op.op) {
        case 'put':
          return { Put: { TableName, Item: this.#item(op.pk, op.sk, op.data) } };
        case 'putIfAbsent':
          return {
            Put: {
              TableName,
              Item: this.#item(op.pk, op.sk, op.data),
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: NAMES.pk,
            },
          };
        case 'replaceIf':
          return {
            Put: {
              TableName,
              Item: this.#item(op.pk, op.sk, op.data),
              ConditionExpression: '#d = :expected',
              ExpressionAttributeNames: NAMES.data,
              ExpressionAttributeValues: { ':expected': { S: op.expected } },
            },
          };
        case 'delete':
          return {
            Delete:
              op.expected === undefined
                ? { TableName, Key: this.#key(op.pk, op.sk) }
                : {
                    TableName,
                    Key: this.#key(op.pk, op.sk),
                    ConditionExpression: '#d = :expected',
                    ExpressionAttributeNames: NAMES.data,
                    ExpressionAttributeValues: { ':expected': { S: op.expected } },
                  },
          };
        default:
          return {
            ConditionCheck:
              op.expected === null
                ? {
                    TableName,
                    Key: this.#key(op.pk, op.sk),
                    ConditionExpression: 'attribute_not_exists(#pk)',
                    ExpressionAttributeNames: NAMES.pk,
                  }
                : {
                    TableName,
                    Key: this.#key(op.pk, op.sk),
                    ConditionExpression: '#d = :expected',
                    ExpressionAttributeNames: NAMES.data,
                    ExpressionAttributeValues: { ':expected': { S: op.expected } },
                  },
          };
      }
    });
    try {
      await this.#client.send(new TransactWriteItemsCommand({ TransactItems: items }));
      return { ok: true };
    } catch (error) {
      const failed = failedCondition(error);
      if (failed !== null) return { ok: false, failed };
      throw error;
    }
  }

  async increment(pk: string, sk: string): Promise<number> {
    const { Attributes } = await this.#client.send(
      new UpdateItemCommand({
        TableName: this.#tableName,
        Key: this.#key(pk, sk),
        // ADD on a missing item or attribute starts from 0, atomically
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: NAMES.counter,
        ExpressionAttributeValues: { ':one': { N: '1' } },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const value = Number(Attributes?.[TABLE_ATTRIBUTES.counter]?.N);
    if (!Number.isSafeInteger(value)) {
      throw new Error(
        `increment returned \`${Attributes?.[TABLE_ATTRIBUTES.counter]?.N}\`, expected an integer`,
      );
    }
    return value;
  }
}
