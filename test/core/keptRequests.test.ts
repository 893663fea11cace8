import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../core/errors/errors.js';
import { AuditReader } from '../../core/gateway/AuditReader.js';
import { keepsAction, keptRequestPartition, parseRequestKeeping } from '../../core/gateway/keptRequests.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { Checkpointer } from '../../core/log/Checkpointer.js';
import { LaneWriter } from '../../core/log/LaneWriter.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { seqKey } from '../../core/ports/storageLayout.js';
import { staticSigner } from '../helpers/lanes.js';

const NOW = new Date('2026-11-26T08:00:00.000Z');
const clock = { now: () => NOW };
const admin = { principalArn: 'arn:aws:iam::1:role/admin', isAdmin: true };

describe('when the keeping of request data is configured', () => {
  it('keeps nothing unless asked, and only the actions named', () => {
    expect(parseRequestKeeping(undefined, undefined)).toBeNull();
    expect(parseRequestKeeping(' ', '7')).toBeNull();
    const keeping = parseRequestKeeping('payments.*, tool.read', undefined);
    expect(keeping).toEqual({ actions: ['payments.*', 'tool.read'], retentionDays: 30 });
    const k = keeping as NonNullable<typeof keeping>;
    expect(keepsAction(k, 'payments.refund')).toBe(true);
    expect(keepsAction(k, 'tool.read')).toBe(true);
    expect(keepsAction(k, 'tool.read_all')).toBe(false);
    expect(keepsAction(k, 'paymentsX.refund')).toBe(false);
    expect(keepsAction({ actions: ['*'], retentionDays: 1 }, 'anything')).toBe(true);
  });

  it('refuses a pattern that is no action and a retention out of range', () => {
    expect(() => parseRequestKeeping('pay ments', undefined)).toThrow(ValidationError);
    expect(() => parseRequestKeeping('*', '0')).toThrow(ValidationError);
    expect(() => parseRequestKeeping('*', '1.5')).toThrow(ValidationError);
    expect(parseRequestKeeping('*', '365')?.retentionDays).toBe(365);
  });
});

describe('when kept request data is past its retention', () => {
  it('is never served and is deleted when read', async () => {
    // Prepare: two records of main, each with a kept item, the first expired a millisecond ago
    const store = new InMemoryKeyValueStore();
    const writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), {
      lane: 'main',
    });
    for (let i = 1; i <= 2; i++) {
      await writer.append({
        principalArn: admin.principalArn,
        build: () => ({
          kind: 'agent',
          agent_id: `a${i}`,
          change: 'register',
          bound_principal_arn: `arn:aws:iam::1:role/a${i}`,
        }),
      });
    }
    const item = (seq: number, expiresAt: number) =>
      JSON.stringify({
        id: `main-${seq}`,
        record_hash: 'a'.repeat(64),
        params: null,
        context: {},
        agent_attributes: {},
        expires_at: expiresAt,
      });
    await store.put(keptRequestPartition('main'), seqKey(1), item(1, NOW.getTime()));
    await store.put(keptRequestPartition('main'), seqKey(2), item(2, NOW.getTime() + 1));
    const reader = new AuditReader({
      store,
      clock,
      checkpoints: new Checkpointer({ store, rootSigner: InMemoryP256Signer.generate(), clock }),
    });
    // Act
    const page = await reader.page(admin, { after: 0, limit: 10, requests: true });
    const plain = await reader.page(admin, { after: 0, limit: 10 });
    // Assess
    expect(page.records.length).toBe(2);
    expect(page.requests?.map((r) => JSON.parse(r).id)).toEqual(['main-2']);
    expect(await store.get(keptRequestPartition('main'), seqKey(1))).toBeNull();
    expect(plain.requests).toBeUndefined();
  });

  it('serves only the items of the page read', async () => {
    const store = new InMemoryKeyValueStore();
    const writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), {
      lane: 'main',
    });
    for (let i = 1; i <= 3; i++) {
      await writer.append({
        principalArn: admin.principalArn,
        build: () => ({
          kind: 'agent',
          agent_id: `a${i}`,
          change: 'register',
          bound_principal_arn: `arn:aws:iam::1:role/a${i}`,
        }),
      });
      await store.put(
        keptRequestPartition('main'),
        seqKey(i),
        JSON.stringify({
          id: `main-${i}`,
          record_hash: 'a'.repeat(64),
          params: null,
          context: {},
          agent_attributes: {},
          expires_at: NOW.getTime() + 1000,
        }),
      );
    }
    const reader = new AuditReader({
      store,
      clock,
      checkpoints: new Checkpointer({ store, rootSigner: InMemoryP256Signer.generate(), clock }),
    });
    const page = await reader.page(admin, { after: 1, limit: 1, requests: true });
    expect(page.requests?.map((r) => JSON.parse(r).id)).toEqual(['main-2']);
  });
});
