import { describe, expect, it } from 'vitest';
import type { Caller } from '../../core/gateway/Gateway.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { AuditRecord, DecisionRecord } from '../../core/model/records.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import { type KeyValueStore, systemClock, type TransactOp } from '../../core/ports/ports.js';
import { LANES_PARTITION } from '../../core/ports/storageLayout.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import { type GatewayParts, wireGateway } from '../../lambdas/wiring.js';

/**
 * Invariant 6, revocation is exact: once an admin change (policy delete, agent disable) is answered,
 * no decision answered afterwards is an allow under the old configuration, whichever instance (lane)
 * decides it, and the honest log still verifies.
 */

const admin: Caller = { principalArn: 'arn:aws:iam::111122223333:role/admin', isAdmin: true };
const agentArn = 'arn:aws:iam::111122223333:role/agent-a';
const agent: Caller = { principalArn: agentArn, isAdmin: false };

/** Delegates to `inner`, with a delay before each call chosen by `delay` (may be 0). */
function slowStore(
  inner: KeyValueStore,
  delay: (op: string, ops?: readonly TransactOp[]) => Promise<void>,
): KeyValueStore {
  return {
    get: async (pk, sk) => {
      await delay('get');
      return inner.get(pk, sk);
    },
    putIfAbsent: async (pk, sk, data) => {
      await delay('putIfAbsent');
      return inner.putIfAbsent(pk, sk, data);
    },
    put: async (pk, sk, data) => {
      await delay('put');
      return inner.put(pk, sk, data);
    },
    replaceIf: async (pk, sk, e, d) => {
      await delay('replaceIf');
      return inner.replaceIf(pk, sk, e, d);
    },
    delete: async (pk, sk) => {
      await delay('delete');
      return inner.delete(pk, sk);
    },
    query: async (pk, o) => {
      await delay('query');
      return inner.query(pk, o);
    },
    increment: async (pk, sk) => {
      await delay('increment');
      return inner.increment(pk, sk);
    },
    transact: async (ops) => {
      await delay('transact', ops);
      return inner.transact(ops);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function allLanes(store: KeyValueStore): Promise<Map<string, AuditRecord[]>> {
  const lanes = new Set(['main', ...(await store.query(LANES_PARTITION, { limit: 1000 })).map((i) => i.sk)]);
  const out = new Map<string, AuditRecord[]>();
  // every lane's records, in order
  for (const lane of lanes) {
    const items = await store.query(`chain#${lane}`, { limit: 100_000 });
    out.set(
      lane,
      items.map((i) => JSON.parse(i.data) as AuditRecord),
    );
  }
  return out;
}

async function expectEveryLaneVerifies(store: KeyValueStore, root: InMemoryP256Signer): Promise<void> {
  for (const [lane, records] of await allLanes(store)) {
    const report = verifyChain(
      records.map((r) => JSON.stringify(r)),
      { trustedRootKeys: [root.publicKeyPem] },
    );
    expect({ lane, findings: report.findings }).toEqual({ lane, findings: [] });
  }
}

describe('when a decision on another instance is slowed past a policy delete', () => {
  it('answers the late decision with a deny evaluated after the delete, never the old allow', async () => {
    // Prepare: B's decision transactions wait at a gate (injected store latency, deterministic).
    const store = new InMemoryKeyValueStore();
    let release: (() => void) | null = null;
    let held = false;
    const gated = slowStore(store, async (op, ops): Promise<void> => {
      const decision =
        op === 'transact' && ops?.some((o) => 'data' in o && o.data.includes('"kind":"decision"'));
      if (decision && !held) {
        held = true;
        await new Promise<void>((r) => {
          release = r;
        });
      }
    });
    const root = InMemoryP256Signer.generate();
    const a = wireGateway({ store, rootSigner: root, clock: systemClock, gatewayPrincipal: 'gw-a' });
    const b = wireGateway({ store: gated, rootSigner: root, clock: systemClock, gatewayPrincipal: 'gw-b' });
    await a.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
    const { policyId } = await a.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
    await b.writer.ready();

    // Act: B evaluates under the policy (allow) and waits; A deletes the policy and is answered; B goes on.
    const late = b.gateway.decide(agent, { actor: 'a', action: 'x.y' });
    while (release === null) await sleep(1);
    await a.gateway.deletePolicy(admin, policyId);
    const answeredAt = Date.now();
    (release as () => void)();
    const answer = await late;

    // Assess
    expect(answer.decision).toBe('deny');
    expect(Date.parse(answer.record.timestamp)).toBeGreaterThanOrEqual(answeredAt - 5);
    const record = answer.record as DecisionRecord;
    const deleted = (await allLanes(store))
      .get('main')
      ?.find((r) => r.kind === 'policy' && r.change === 'delete');
    expect(record.config_version).toBe((deleted as { config_version?: number } | undefined)?.config_version);
    await expectEveryLaneVerifies(store, root);
  });
});

describe('when admin changes race decisions on several instances (natural races, bounded)', () => {
  it('never answers an allow after the change that revoked it was answered, in any lane', async () => {
    const rounds = 12;
    for (let round = 0; round < rounds; round++) {
      // Prepare: 3 instances over one store with small random latencies on every call.
      const store = new InMemoryKeyValueStore();
      const jitter = slowStore(store, async () => {
        await sleep(Math.random() * 3);
      });
      const root = InMemoryP256Signer.generate();
      const instances: GatewayParts[] = [0, 1, 2].map((i) =>
        wireGateway({ store: jitter, rootSigner: root, clock: systemClock, gatewayPrincipal: `gw-${i}` }),
      );
      const [first] = instances as [GatewayParts];
      await first.gateway.registerAgent(admin, { agentId: 'a', principalArn: agentArn });
      const { policyId } = await first.gateway.allowPolicy(admin, { action: 'x.y', agentId: 'a' });
      const revoke = round % 2 === 0 ? 'delete' : 'disable';

      // Act: 60 decisions spread over the instances while one of them revokes.
      let revokedAt = Number.POSITIVE_INFINITY;
      const answers: Array<{ at: number; decision: string; record: AuditRecord }> = [];
      const decisions = Array.from({ length: 60 }, async (_, i) => {
        await sleep(Math.random() * 12);
        const out = await instances[i % 3]!.gateway.decide(agent, {
          actor: 'a',
          action: 'x.y',
          request_id: `r${i}`,
        });
        answers.push({ at: performance.now(), decision: out.decision, record: out.record });
      });
      const change = (async () => {
        await sleep(4);
        if (revoke === 'delete') await instances[1]!.gateway.deletePolicy(admin, policyId);
        else await instances[2]!.gateway.disableAgent(admin, 'a');
        revokedAt = performance.now();
      })();
      await Promise.all([...decisions, change]);

      // Assess: nothing answered after the change is an allow.
      const lateAllows = answers.filter((a) => a.at > revokedAt && a.decision === 'allow');
      expect({ round, revoke, lateAllows: lateAllows.map((a) => a.record.id) }).toEqual({
        round,
        revoke,
        lateAllows: [],
      });
      // and every allow was evaluated at a version before the change; every decision after it denies
      const lanes = await allLanes(store);
      const revocation = [...lanes.values()]
        .flat()
        .find(
          (r) =>
            (r.kind === 'policy' && r.change === 'delete') || (r.kind === 'agent' && r.change === 'disable'),
        );
      const version = (revocation as { config_version?: number } | undefined)?.config_version as number;
      for (const record of [...lanes.values()].flat()) {
        if (record.kind !== 'decision') continue;
        if ((record.config_version as number) >= version) expect(record.decision).toBe('deny');
      }
      await expectEveryLaneVerifies(store, root);
    }
  }, 60_000);
});
