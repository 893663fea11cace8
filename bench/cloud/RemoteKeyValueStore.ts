import type { KeyValueStore, TransactOp, TransactResult } from '../../core/ports/index.js';
import type { StoreCall, StoreReply } from './SimulatedDynamoDb.js';

/** Messages between a simulated instance and the process holding the table. */
export type StoreRequestMessage = { type: 'store'; id: number; call: StoreCall };
export type StoreReplyMessage = { type: 'store-reply'; id: number; reply: StoreReply };

/**
 * The `KeyValueStore` port of a simulated Lambda instance: every call goes over the process's IPC channel
 * to the one table (bench/cloud/SimulatedDynamoDb.ts in the parent), as a Lambda's calls go to DynamoDB.
 * Failures come back as errors named like the DynamoDB client's (`ProvisionedThroughputExceededException`,
 * `TransactionCanceledException`, ...), thrown as the DynamoDB adapter lets them through: a lost condition
 * is a value, everything else throws.
 */
export class RemoteKeyValueStore implements KeyValueStore {
  #next = 1;
  readonly #pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();

  constructor(private readonly send: (message: StoreRequestMessage) => void) {}

  /** Feeds a reply from the table process (the instance's message handler calls this). */
  receive(message: StoreReplyMessage): void {
    const waiter = this.#pending.get(message.id);
    if (!waiter) return;
    this.#pending.delete(message.id);
    if (message.reply.ok) waiter.resolve(message.reply.value);
    else {
      const error = new Error(message.reply.message);
      error.name = message.reply.name;
      waiter.reject(error);
    }
  }

  /** Fails every call in flight (the table process went away). */
  failAll(reason: string): void {
    for (const waiter of this.#pending.values()) waiter.reject(new Error(reason));
    this.#pending.clear();
  }

  #call<T>(call: StoreCall): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.send({ type: 'store', id, call });
    });
  }

  get(pk: string, sk: string): Promise<string | null> {
    return this.#call({ op: 'get', pk, sk });
  }
  putIfAbsent(pk: string, sk: string, data: string): Promise<boolean> {
    return this.#call({ op: 'putIfAbsent', pk, sk, data });
  }
  put(pk: string, sk: string, data: string): Promise<void> {
    return this.#call({ op: 'put', pk, sk, data });
  }
  replaceIf(pk: string, sk: string, expected: string, data: string): Promise<boolean> {
    return this.#call({ op: 'replaceIf', pk, sk, expected, data });
  }
  delete(pk: string, sk: string): Promise<boolean> {
    return this.#call({ op: 'delete', pk, sk });
  }
  query(
    pk: string,
    options: { after?: string; limit: number; descending?: boolean },
  ): Promise<Array<{ sk: string; data: string }>> {
    return this.#call({ op: 'query', pk, options });
  }
  increment(pk: string, sk: string): Promise<number> {
    return this.#call({ op: 'increment', pk, sk });
  }
  transact(ops: readonly TransactOp[]): Promise<TransactResult> {
    return this.#call({ op: 'transact', ops: [...ops] });
  }
}
