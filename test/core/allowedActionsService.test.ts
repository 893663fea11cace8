import { describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { AuditRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { systemClock } from '../../core/ports/ports.js';
import { LANES_PARTITION } from '../../core/ports/storageLayout.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { verifyAllowedAnswer } from '../../sdk/verifyAllowed.js';
import { TrustedKeySet } from '../../sdk/verifyDecision.js';

/**
 * `POST /actions/allowed` records nothing: on an instance that has written nothing yet (a new Lambda
 * instance, a second writer over the same store), the only record it may write is the certificate of the
 * session key that signs the answer, the one its first decision would write; never a decision or
 * anything naming the caller or the actions.
 */

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agent: Caller = { principalArn: 'arn:aws:iam::111122223333:role/agent-a', isAdmin: false };

async function everyRecord(store: InMemoryKeyValueStore): Promise<AuditRecord[]> {
  const lanes = ['main', ...(await store.query(LANES_PARTITION, { limit: 1000 })).map((i) => i.sk)];
  const records: AuditRecord[] = [];
  for (const lane of new Set(lanes)) {
    for (const item of await store.query(`chain#${lane}`, { limit: 10_000 })) {
      records.push(JSON.parse(item.data) as AuditRecord);
    }
  }
  return records;
}

describe('when a fresh instance answers which actions an agent may be allowed', () => {
  it('writes only its session key certificate, once, and signs a verifiable answer with that key', async () => {
    // Prepare: instance A configures; instance B, over the same store, has written nothing
    const store = new InMemoryKeyValueStore();
    const root = InMemoryP256Signer.generate();
    const a = wireGateway({ store, rootSigner: root, clock: systemClock, gatewayPrincipal: 'gw-a' });
    await a.gateway.registerAgent(admin, { agentId: 'a', principalArn: agent.principalArn });
    await a.gateway.allowPolicy(admin, { action: 'mcp.files.read_file', agentId: 'a' });
    const b = wireGateway({ store, rootSigner: root, clock: systemClock, gatewayPrincipal: 'gw-b' });
    const before = await everyRecord(store);
    const ask = (nonce: string) => ({
      actor: 'a',
      actions: ['mcp.files.read_file', 'mcp.files.delete_file'],
      nonce,
    });

    // Act
    const first = await b.gateway.allowedActions(agent, ask('first-nonce-0123456789'));
    const second = await b.gateway.allowedActions(agent, ask('second-nonce-0123456789'));

    // Assess: one new record, a key certificate, and the answers are signed by the key it certifies
    const added = (await everyRecord(store)).filter((r) => !before.some((x) => x.id === r.id));
    expect(added.map((r) => r.kind)).toEqual(['key']);
    const certificate = added[0] as AuditRecord & { certified_key_id: string };
    expect(first.signing_key_id).toBe(certificate.certified_key_id);
    expect(second.allowed).toEqual(['mcp.files.read_file']);
    const trust = new TrustedKeySet([root.publicKeyPem]);
    expect(trust.addCertificate(certificate).ok).toBe(true);
    const verdict = verifyAllowedAnswer({ answer: first }, ask('first-nonce-0123456789'), trust);
    expect(verdict).toMatchObject({ ok: true, allowed: ['mcp.files.read_file'] });
  });
});
