import { describe, expect, it } from 'vitest';
import { verifyChain } from '../../core/ChainVerifier.js';
import { ChainWriter } from '../../core/ChainWriter.js';
import { InMemoryKeyValueStore } from '../../core/InMemoryKeyValueStore.js';
import { KeyRing } from '../../core/KeyRing.js';
import type { Clock } from '../../core/ports.js';
import { InMemoryP256Signer } from '../../core/signing.js';

class FakeClock implements Clock {
  constructor(public t: number) {}
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

describe('when two gateway instances append to one chain at once', () => {
  it('lands every record exactly once, contiguous, with no fork, by re-reading the head after a lost race', async () => {
    // Prepare: two writers over one store, as two Lambda instances over one table.
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock(Date.parse('2026-11-26T10:00:00.000Z'));
    const root = InMemoryP256Signer.generate();
    const a = new ChainWriter(store, clock);
    const b = new ChainWriter(store, clock);
    const signer = async () => root;
    // Act
    const written = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? a : b).append(outcome(i), 'arn:aws:iam::1:role/x', signer),
      ),
    );
    // Assess
    const lines = await a.page(0, 1000);
    expect(lines.length).toBe(60);
    expect(new Set(written.map((w) => w.record.seq)).size).toBe(60);
    expect(verifyChain(lines, { trustedRootKeys: [root.publicKeyPem] }).findings).toEqual([]);
    expect(a.conflicts + b.conflicts).toBeGreaterThan(0);
  });
});

describe('when session keys expire', () => {
  it('certifies a new session key before signing past the window, and the chain verifies with the root alone', async () => {
    // Prepare
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock(Date.parse('2026-11-26T10:00:00.000Z'));
    const root = InMemoryP256Signer.generate();
    const writer = new ChainWriter(store, clock);
    const ring = new KeyRing(root, writer, store, clock, {
      gatewayPrincipal: 'arn:aws:iam::1:role/gw',
      sessionTtlMs: 60_000,
      renewBeforeMs: 10_000,
    });
    // Act: 10 records 20 s apart cross three 60 s windows
    for (let i = 0; i < 10; i++) {
      await ring.ready();
      await writer.append(outcome(i), 'arn:aws:iam::1:role/x', ring.signerFor);
      clock.t += 20_000;
    }
    // Assess
    const lines = await writer.page(0, 1000);
    const kinds = lines.map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds.filter((k) => k === 'key').length).toBeGreaterThanOrEqual(4);
    const report = verifyChain(lines, { trustedRootKeys: [root.publicKeyPem] });
    expect(report.findings).toEqual([]);
    const keys = await ring.publicKeys();
    expect(keys[0]?.role).toBe('root');
    expect(keys.filter((k) => k.role === 'session').every((k) => k.certificate?.kind === 'key')).toBe(true);
  });

  it('refuses to sign a record outside every certified window', async () => {
    const store = new InMemoryKeyValueStore();
    const clock = new FakeClock(Date.parse('2026-11-26T10:00:00.000Z'));
    const root = InMemoryP256Signer.generate();
    const writer = new ChainWriter(store, clock);
    const ring = new KeyRing(root, writer, store, clock, { gatewayPrincipal: 'gw', sessionTtlMs: 60_000 });
    await ring.ready();
    clock.t += 61_000;
    await expect(writer.append(outcome(1), 'x', ring.signerFor)).rejects.toMatchObject({
      code: 'SIGNING_FAILED',
    });
    expect((await writer.page(0, 10)).length).toBe(1);
  });
});
