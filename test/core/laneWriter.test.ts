import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../core/keys/KeyRing.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { AppendRefusedError, LaneWriter } from '../../core/log/LaneWriter.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock, KeyValueStore, TransactOp } from '../../core/ports/ports.js';
import { chainPartition, LANE_STATE_SK, lanePartition } from '../../core/ports/storageLayout.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { staticSigner } from '../helpers/lanes.js';

class FakeClock implements Clock {
  constructor(public t = Date.parse('2026-11-26T10:00:00.000Z')) {}
  now() {
    return new Date(this.t);
  }
}

const outcome = (i: number) => ({
  kind: 'outcome' as const,
  decision_id: `main-${i}`,
  status: 'succeeded' as const,
  exit_code: 0,
  output_sha256: null,
});

/** A store that counts transactions and can fail one, before or after it lands. */
class CountingStore extends InMemoryKeyValueStore {
  transactions = 0;
  failNext: 'none' | 'before' | 'after' = 'none';
  override async transact(ops: readonly TransactOp[]) {
    this.transactions++;
    const fail = this.failNext;
    this.failNext = 'none';
    if (fail === 'before') throw new Error('connection reset');
    const result = await super.transact(ops);
    if (fail === 'after') throw new Error('connection reset after the write');
    return result;
  }
}

const lines = (store: KeyValueStore, lane: string) =>
  store.query(chainPartition(lane), { limit: 10_000 }).then((items) => items.map((i) => i.data));

describe('when several writers append at once', () => {
  it('gives each its own lane, so no write races another and every lane verifies on its own', async () => {
    const store = new CountingStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    let conflicts = 0;
    const appended: string[] = [];
    const events = {
      appendConflict: () => conflicts++,
      appended: (r: { id: string }) => appended.push(r.id),
    };
    const writers = Array.from(
      { length: 4 },
      () => new LaneWriter(store, clock, staticSigner(root), { events }),
    );
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writers[i % 4]?.append({ build: () => outcome(i), principalArn: 'arn:aws:iam::1:role/x' }),
      ),
    );
    const lanes = writers.map((w) => w.lane as string);
    expect(new Set(lanes).size).toBe(4);
    expect(lanes).toContain('main');
    for (const lane of lanes) {
      const chain = await lines(store, lane);
      expect(chain.length).toBe(50);
      expect(verifyChain(chain, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
    }
    // Steady state: no lost races, and appends made at once share transactions.
    expect(conflicts).toBe(0);
    // the events port heard every committed record once (a static signer appends no certificates)
    expect(appended.length).toBe(200);
    expect(new Set(appended).size).toBe(200);
    expect(store.transactions).toBeLessThan(200);
  });
});

describe('when a lane changes hands', () => {
  it('refuses the zombie holder’s append after a takeover and moves it to another lane: no fork', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const a = new LaneWriter(store, clock, staticSigner(root), { leaseMs: 60_000 });
    const b = new LaneWriter(store, clock, staticSigner(root), { leaseMs: 60_000 });
    const append = (w: LaneWriter, i: number) => w.append({ build: () => outcome(i), principalArn: 'p' });
    await append(a, 1);
    expect(a.lane).toBe('main');
    // A stops renewing (a frozen Lambda); its lease ends and B takes `main` over.
    clock.t += 61_000;
    await b.append({ build: () => outcome(2), principalArn: 'p' });
    expect(b.lane).toBe('main');
    // A wakes up and appends: its check of the lane state fails, so it writes in a lane of its own.
    const late = await append(a, 3);
    expect(late.record.chain).not.toBe('main');
    const main = await lines(store, 'main');
    expect(main.map((l) => (JSON.parse(l) as { decision_id: string }).decision_id)).toEqual([
      'main-1',
      'main-2',
    ]);
    expect(verifyChain(main, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
  });

  it('does not take a lane whose lease is still running', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const a = new LaneWriter(store, clock, staticSigner(root));
    await a.ready();
    const b = new LaneWriter(store, clock, staticSigner(root));
    await b.ready();
    expect(a.lane).toBe('main');
    expect(b.lane).not.toBe('main');
  });

  it('renews its lease while it appends, so a busy lane is never taken over', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const a = new LaneWriter(store, clock, staticSigner(root), { leaseMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      await a.append({ build: () => outcome(i), principalArn: 'p' });
      clock.t += 20_000;
    }
    const state = JSON.parse((await store.get(lanePartition('main'), LANE_STATE_SK)) as string) as {
      holder: string;
      expiresAt: number;
    };
    expect(state.holder).toBe(a.writerId);
    expect(state.expiresAt).toBeGreaterThan(clock.t);
  });
});

describe('when a fence is raised', () => {
  it('makes the next append of every lane rebuild its record under the new fence', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const a = new LaneWriter(store, clock, staticSigner(root));
    let conflicts = 0;
    const b = new LaneWriter(store, clock, staticSigner(root), {
      events: { appendConflict: () => conflicts++ },
    });
    const fences: number[] = [];
    const append = (w: LaneWriter) =>
      w.append({
        principalArn: 'p',
        build: (ctx) => {
          fences.push(ctx.fence);
          return outcome(ctx.fence);
        },
      });
    await append(a);
    await append(b);
    await a.fenceAll(7);
    const after = await append(b);
    expect(fences.at(-1)).toBe(7);
    expect(after.record).toMatchObject({ decision_id: 'main-7' });
    // b saw its cached state refused once, re-read it and rebuilt the record
    expect(conflicts).toBe(1);
  });
});

describe('when an extra write of one append fails its condition', () => {
  it('refuses that append alone; the others of its batch land', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const w = new LaneWriter(store, clock, staticSigner(root));
    await store.put('claims', 'taken', 'x');
    const claim = (sk: string) => [{ op: 'putIfAbsent' as const, pk: 'claims', sk, data: 'y' }];
    const results = await Promise.allSettled([
      w.append({ build: () => outcome(1), principalArn: 'p', extra: () => claim('free-1') }),
      w.append({ build: () => outcome(2), principalArn: 'p', extra: () => claim('taken') }),
      w.append({ build: () => outcome(3), principalArn: 'p', extra: () => claim('free-3') }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(AppendRefusedError);
    const chain = await lines(store, 'main');
    expect(chain.length).toBe(2);
    expect(verifyChain(chain, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
    expect(await store.get('claims', 'free-1')).toBe('y');
    expect(await store.get('claims', 'taken')).toBe('x');
  });
});

describe('when the store fails during a write', () => {
  it('recognises a transaction that landed before the error, and writes it once', async () => {
    const store = new CountingStore();
    const root = InMemoryP256Signer.generate();
    const w = new LaneWriter(store, new FakeClock(), staticSigner(root));
    await w.ready();
    store.failNext = 'after';
    const appended = await w.append({ build: () => outcome(1), principalArn: 'p' });
    expect(appended.record.seq).toBe(1);
    store.failNext = 'before';
    const next = await w.append({ build: () => outcome(2), principalArn: 'p' });
    expect(next.record.seq).toBe(2);
    const chain = await lines(store, 'main');
    expect(chain.length).toBe(2);
    expect(verifyChain(chain, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
  });
});

describe('when session keys expire', () => {
  it('certifies a new session key in the lane before signing past the window, and the chain verifies with the root alone', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const ring = new KeyRing(root, store, {
      gatewayPrincipal: 'arn:aws:iam::1:role/gw',
      sessionTtlMs: 60_000,
      renewBeforeMs: 10_000,
    });
    const writer = new LaneWriter(store, clock, ring);
    // 10 records 20 s apart cross three 60 s windows
    for (let i = 0; i < 10; i++) {
      await writer.append({ build: () => outcome(i), principalArn: 'arn:aws:iam::1:role/x' });
      clock.t += 20_000;
    }
    const chain = await lines(store, 'main');
    const kinds = chain.map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds[0]).toBe('key');
    expect(kinds.filter((k) => k === 'key').length).toBeGreaterThanOrEqual(4);
    expect(verifyChain(chain, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
    const keys = await ring.publicKeys();
    expect(keys[0]?.role).toBe('root');
    expect(keys.filter((k) => k.role === 'session').every((k) => k.certificate?.kind === 'key')).toBe(true);
  });

  it('certifies a fresh key in a lane it moves to, so no lane holds a record its own certificates do not cover', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock();
    const root = InMemoryP256Signer.generate();
    const ringA = new KeyRing(root, store, { gatewayPrincipal: 'gw' });
    const a = new LaneWriter(store, clock, ringA, { leaseMs: 60_000 });
    const b = new LaneWriter(store, clock, new KeyRing(root, store, { gatewayPrincipal: 'gw' }), {
      leaseMs: 60_000,
    });
    await a.append({ build: () => outcome(1), principalArn: 'p' });
    clock.t += 61_000;
    await b.append({ build: () => outcome(2), principalArn: 'p' });
    const moved = await a.append({ build: () => outcome(3), principalArn: 'p' });
    const lane = await lines(store, moved.record.chain);
    expect((JSON.parse(lane[0] as string) as { kind: string }).kind).toBe('key');
    for (const name of ['main', moved.record.chain]) {
      expect(
        verifyChain(await lines(store, name), { trustedRootKeys: [root.publicKeyPem] }).findings,
      ).toEqual([]);
    }
  });
});
