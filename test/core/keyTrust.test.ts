import { describe, expect, it } from 'vitest';
import { KeyRing } from '../../core/keys/KeyRing.js';
import { KeyTrust, KeyTrustError, windowCovers } from '../../core/keys/keyTrust.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { signCheckpoint } from '../../core/log/checkpoint.js';
import { LaneWriter } from '../../core/log/LaneWriter.js';
import { inclusionProof, leafHash, rootFromLeaves } from '../../core/log/merkle.js';
import type { DecisionRecord, KeyRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { RECEIPT_FORMAT, verifyReceipt } from '../../core/verify/receipt.js';
import { TrustedKeySet, verifyDecisionRecord } from '../../sdk/verifyDecision.js';
import { ChainBuilder } from '../helpers/chainFactory.js';

/**
 * The key-trust rule is written once (core/keys/keyTrust.ts) and every party agrees on it: the chain verifier,
 * receipts, the SDK and the signer. The boundary that used to split them is `not_after`.
 */

const NOT_BEFORE = new Date('2026-11-26T08:00:00.000Z');
const NOT_AFTER = new Date('2026-11-26T09:00:00.000Z');

/** A root-certified session key (seq 1) and one decision it signed at `at` (seq 2). */
async function recordAt(at: Date) {
  const root = InMemoryP256Signer.generate();
  const session = InMemoryP256Signer.generate();
  const builder = new ChainBuilder();
  const certificate = await builder.certify(root, session, { notBefore: NOT_BEFORE, notAfter: NOT_AFTER });
  const decision = (await builder.appendSample('decision', session, { timestamp: at })) as DecisionRecord;
  return { root, session, builder, certificate, decision, lines: builder.lines };
}

/** A receipt for the decision (seq 2), with the certificate (seq 1), both proved in a checkpoint over 2. */
async function receiptFor(made: Awaited<ReturnType<typeof recordAt>>) {
  const leaves = made.lines.map((l) => leafHash(l));
  const checkpoint = await signCheckpoint(
    { origin: 'zt-infra/main', size: 2, root: rootFromLeaves(leaves) },
    made.root,
  );
  const proof = (i: number) => ({
    leafIndex: i,
    treeSize: 2,
    hashes: inclusionProof(i, leaves).map((h) => h.toString('base64')),
  });
  return {
    receipt: RECEIPT_FORMAT,
    record: made.decision,
    proof: proof(1),
    checkpoint,
    certificate: { record: made.certificate, proof: proof(0) },
  };
}

/** What each party says of the decision: true when it would trust the session key for it. */
async function verdicts(at: Date) {
  const made = await recordAt(at);
  const chain = verifyChain(made.lines, { trustedRootKeys: [made.root.publicKeyPem] });
  const receipt = verifyReceipt(await receiptFor(made), [made.root.publicKeyPem]);
  const trust = new TrustedKeySet([made.root.publicKeyPem]);
  expect(trust.addCertificate(made.certificate)).toMatchObject({ ok: true });
  const sdk = verifyDecisionRecord(
    made.decision,
    {
      request_id: made.decision.request_id,
      actor: made.decision.actor,
      action: made.decision.action,
      resource: made.decision.resource,
      params_sha256: made.decision.params_sha256,
      context_sha256: made.decision.context_sha256,
    },
    trust,
    { now: at, maxAgeMs: Number.POSITIVE_INFINITY },
  );
  const core = new KeyTrust([made.root.publicKeyPem]);
  core.certify(made.certificate, made.root.keyId);
  return {
    keyTrust: core.resolve(made.session.keyId, made.decision.timestamp).ok,
    chainVerifier: chain.findings.length === 0,
    receipt: receipt.ok,
    sdk: sdk.ok,
    codes: {
      chain: chain.findings.map((f) => f.code),
      receipt: receipt.ok ? null : receipt.code,
      sdk: sdk.ok ? null : sdk.code,
    },
  };
}

describe('when a record is dated at the edges of its session key window', () => {
  it('is refused by every verifier exactly at not_after', async () => {
    const v = await verdicts(NOT_AFTER);

    expect(v).toMatchObject({ keyTrust: false, chainVerifier: false, receipt: false, sdk: false });
    expect(v.codes).toEqual({
      chain: ['SESSION_KEY_OUTSIDE_WINDOW'],
      receipt: 'SESSION_KEY_OUTSIDE_WINDOW',
      sdk: 'UNTRUSTED_KEY',
    });
  });

  it('is accepted by every verifier a millisecond before not_after, and exactly at not_before', async () => {
    const before = await verdicts(new Date(NOT_AFTER.getTime() - 1));
    const start = await verdicts(NOT_BEFORE);

    expect(before).toMatchObject({ keyTrust: true, chainVerifier: true, receipt: true, sdk: true });
    expect(start).toMatchObject({ keyTrust: true, chainVerifier: true, receipt: true, sdk: true });
  });

  it('is refused by every verifier a millisecond before not_before', async () => {
    const v = await verdicts(new Date(NOT_BEFORE.getTime() - 1));

    expect(v).toMatchObject({ keyTrust: false, chainVerifier: false, receipt: false, sdk: false });
  });

  it('is never signed by the gateway at not_after: the signer applies the same rule', async () => {
    const start = Date.parse('2026-11-26T10:00:00.000Z');
    const clock = { t: start, now: () => new Date(clock.t) };
    const store = new InMemoryKeyValueStore();
    const ring = new KeyRing(InMemoryP256Signer.generate(), store, {
      gatewayPrincipal: 'arn:aws:iam::123456789012:role/zt-gateway',
      sessionTtlMs: 60_000,
    });
    await new LaneWriter(store, clock, ring, { lane: 'main' }).ready();
    const [, session] = await ring.publicKeys();
    const notAfter = Date.parse(session?.notAfter as string);

    await expect(ring.signerFor('main', new Date(notAfter - 1))).resolves.toBeDefined();
    await expect(ring.signerFor('main', new Date(notAfter))).rejects.toThrow();
    expect(windowCovers({ notBefore: 0, notAfter }, notAfter)).toBe(false);
  });
});

describe('when a certificate does not come from a pinned root', () => {
  it('adds no key: signed by a session key, by another root, or altered after signing', async () => {
    const made = await recordAt(NOT_BEFORE);
    const other = InMemoryP256Signer.generate();
    const smuggled = InMemoryP256Signer.generate();
    const bySession = await made.builder.certify(made.session, smuggled, {
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
    });
    const byOther = await new ChainBuilder().certify(other, smuggled, {
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
    });
    const altered: KeyRecord = { ...made.certificate, not_after: '2099-01-01T00:00:00.000Z' };
    const trust = new KeyTrust([made.root.publicKeyPem]);
    expect(trust.addCertificate(made.certificate)).toMatchObject({ ok: true });

    expect(trust.addCertificate(bySession)).toMatchObject({ ok: false, code: 'CERTIFICATE_NOT_ROOT_SIGNED' });
    expect(trust.addCertificate(byOther)).toMatchObject({ ok: false, code: 'CERTIFICATE_NOT_ROOT_SIGNED' });
    expect(trust.addCertificate(altered)).toMatchObject({ ok: false, code: 'CERTIFICATE_INVALID' });
    expect(trust.knows(smuggled.keyId)).toBe(false);
    expect(trust.resolve(made.session.keyId, '2099-01-01T00:00:00.000Z')).toMatchObject({
      ok: false,
      code: 'SESSION_KEY_OUTSIDE_WINDOW',
    });
  });

  it('refuses a root key that is not a P-256 public key, naming which one', () => {
    const good = InMemoryP256Signer.generate().publicKeyPem;

    const error = (() => {
      try {
        new KeyTrust([good, 'not a pem']);
      } catch (e) {
        return e;
      }
    })();

    expect(error).toBeInstanceOf(KeyTrustError);
    expect(error).toMatchObject({ code: 'INVALID_ROOT_KEY', index: 1 });
  });
});
