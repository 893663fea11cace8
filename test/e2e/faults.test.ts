import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyValueStore, TransactOp } from '../../core/ports/ports.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { startTestEmulator, type TestEmulator } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

/** A store whose writes to the chain (in the transactions that append) can be made to fail, before or after landing. */
class FaultyStore implements KeyValueStore {
  failChainWrites: 'none' | 'before' | 'after' = 'none';
  failAllReads = false;
  /** Fail every read of a chain slot too, so a write whose answer was lost cannot be recognised. */
  failChainReads = false;
  constructor(private readonly inner: KeyValueStore) {}
  async get(pk: string, sk: string) {
    if (this.failAllReads || (this.failChainReads && pk.startsWith('chain#'))) {
      throw new Error('injected read failure');
    }
    return this.inner.get(pk, sk);
  }
  putIfAbsent = (pk: string, sk: string, data: string) => this.inner.putIfAbsent(pk, sk, data);
  put = (pk: string, sk: string, data: string) => this.inner.put(pk, sk, data);
  replaceIf = (pk: string, sk: string, e: string, d: string) => this.inner.replaceIf(pk, sk, e, d);
  delete = (pk: string, sk: string) => this.inner.delete(pk, sk);
  async query(pk: string, o: { after?: string; limit: number; descending?: boolean }) {
    if (this.failAllReads) throw new Error('injected read failure');
    return this.inner.query(pk, o);
  }
  increment = (pk: string, sk: string) => this.inner.increment(pk, sk);
  async transact(ops: readonly TransactOp[]) {
    const appends = ops.some((op) => op.pk.startsWith('chain#'));
    if (appends && this.failChainWrites === 'before') throw new Error('injected write failure');
    const result = await this.inner.transact(ops);
    // The write landed but the answer is lost (a timeout after the fact).
    if (appends && this.failChainWrites === 'after') throw new Error('injected lost answer');
    return result;
  }
}

describe('when the store or the signer fails during a decision', () => {
  let emulator: TestEmulator;
  let faulty: FaultyStore;
  let admin: AwsCredentials;
  let agent: AwsCredentials;
  // Without a request_id each call asks about its own resource: the same body signed in the same second
  // would be a replay of the earlier request and get its record instead of meeting the injected fault.
  let calls = 0;
  const decide = (requestId?: string) =>
    send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: {
        actor: 'worker',
        action: 'hello-world.say_hello',
        ...(requestId ? { request_id: requestId } : { resource: `call-${++calls}` }),
      },
    });
  const records = async () => {
    const page = await send(emulator.url, 'GET', '/audit?limit=1000', { credentials: admin });
    return (page.body as { records: unknown[] }).records.map((r) => JSON.stringify(r));
  };

  beforeAll(async () => {
    emulator = await startTestEmulator({
      wrapStore: (store) => {
        faulty = new FaultyStore(store);
        return faulty;
      },
    });
    admin = emulator.adminCredentials;
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    expect((await decide()).status).toBe(200);
  });
  afterAll(async () => {
    await emulator?.close();
  });

  it('answers 503 without a record when the chain write fails, and never an allow', async () => {
    faulty.failChainWrites = 'before';
    const answer = await decide();
    faulty.failChainWrites = 'none';
    expect(answer.status).toBe(503);
    const body = answer.body as {
      ok: boolean;
      audit?: unknown;
      error: { code: string; trace_id: string; message: string };
    };
    expect(body.ok).toBe(false);
    expect(body.audit).toBeUndefined();
    expect(body.error.trace_id).toMatch(/[0-9a-f-]{36}/);
    expect(body.error.message).not.toMatch(/injected/);
  });

  it('recognises a write that landed though its answer was lost: one record, allowed once', async () => {
    const before = (await records()).length;
    faulty.failChainWrites = 'after';
    const answer = await decide('landed-lost');
    faulty.failChainWrites = 'none';
    expect(answer.status).toBe(200);
    expect((await records()).length).toBe(before + 1);
    const replay = await decide('landed-lost');
    expect((replay.body as { audit: { id: string } }).audit.id).toBe(
      (answer.body as { audit: { id: string } }).audit.id,
    );
    expect((await records()).length).toBe(before + 1);
    const report = verifyChain(await records(), { trustedRootKeys: [emulator.parts.keys.root.publicKeyPem] });
    expect(report.findings).toEqual([]);
  });

  it('answers 503 when a write landed but neither its answer nor a read of it comes back, and the next decision continues the chain', async () => {
    faulty.failChainWrites = 'after';
    faulty.failChainReads = true;
    expect((await decide()).status).toBe(503);
    faulty.failChainWrites = 'none';
    faulty.failChainReads = false;
    expect((await decide()).status).toBe(200);
    const report = verifyChain(await records(), { trustedRootKeys: [emulator.parts.keys.root.publicKeyPem] });
    expect(report.findings).toEqual([]);
  });

  it('answers a new decision with no read at all, and 503 for a repeat that needs its first record read back', async () => {
    // A warm gateway decides from its configuration snapshot and appends in one conditional transaction:
    // the transaction's condition, not a read, keeps it current, so unreadable storage does not stop it.
    expect((await decide('read-free')).status).toBe(200);
    faulty.failAllReads = true;
    const fresh = await decide();
    // The repeat of a request id must read the first answer to replay it: that read fails, so it is a 5xx.
    const repeat = await decide('read-free');
    faulty.failAllReads = false;
    expect(fresh.status).toBe(200);
    expect(repeat.status).toBeGreaterThanOrEqual(500);
    const body = repeat.body as { ok: boolean; audit?: unknown; error: { message: string } };
    expect(body.ok).toBe(false);
    expect(body.audit).toBeUndefined();
    expect(body.error.message).not.toMatch(/injected/);
    const report = verifyChain(await records(), { trustedRootKeys: [emulator.parts.keys.root.publicKeyPem] });
    expect(report.findings).toEqual([]);
  });

  it('releases the idempotency key of a failed decision so a retry can succeed once', async () => {
    faulty.failChainWrites = 'before';
    expect((await decide('retry-me')).status).toBe(503);
    faulty.failChainWrites = 'none';
    const retried = await decide('retry-me');
    expect(retried.status).toBe(200);
    const again = await decide('retry-me');
    expect((again.body as { audit: { id: string } }).audit.id).toBe(
      (retried.body as { audit: { id: string } }).audit.id,
    );
  });

  it('never writes a second record for a request_id: the record and its idempotency item land together', async () => {
    const before = (await records()).length;
    faulty.failChainWrites = 'after';
    faulty.failChainReads = true;
    expect((await decide('half-done')).status).toBeGreaterThanOrEqual(500);
    faulty.failChainWrites = 'none';
    faulty.failChainReads = false;
    // the write had landed: the retry gets that record back, never a second one
    const retry = await decide('half-done');
    expect(retry.status).toBe(200);
    expect((retry.body as { audit: { request_id: string } }).audit.request_id).toBe('half-done');
    expect((await records()).length).toBe(before + 1);
  });

  it('answers 503 without a record when the signer fails, and the chain stays valid', async () => {
    const keys = emulator.parts.keys as unknown as { signerFor: (t: Date) => Promise<unknown> };
    const original = keys.signerFor;
    keys.signerFor = async () => {
      throw new Error('injected signer failure');
    };
    const before = (await records()).length;
    const answer = await decide();
    keys.signerFor = original;
    expect(answer.status).toBe(503);
    expect((await records()).length).toBe(before);
    expect((await decide()).status).toBe(200);
    const report = verifyChain(await records(), { trustedRootKeys: [emulator.parts.keys.root.publicKeyPem] });
    expect(report.findings).toEqual([]);
  });
});
