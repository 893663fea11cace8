/**
 * One simulated Lambda instance of `npm run bench:cloud`, a child process of bench/cloud.ts: its own
 * gateway, signer and lane (or, for the baseline, its own single-chain writer), over the one table held by
 * the parent, reached through {@link RemoteKeyValueStore}. It decides with one request in flight, as a Lambda
 * instance serves one invocation at a time, through the core use case (API Gateway has authenticated the
 * caller: the `Caller` is what the handler would build from `requestContext.identity`).
 */

import { InMemoryP256Signer, KeyRing } from '../../core/keys/index.js';
import type { Caller } from '../../core/model/index.js';
import { PolicyEngine } from '../../core/policy/index.js';
import { systemClock } from '../../core/ports/index.js';
import { wireGateway } from '../../lambdas/wiring.js';
import { ChainDecisions } from './baseline/ChainDecisions.js';
import { ChainWriter } from './baseline/ChainWriter.js';
import {
  RemoteKeyValueStore,
  type StoreReplyMessage,
  type StoreRequestMessage,
} from './RemoteKeyValueStore.js';

export type Design = 'lanes' | 'single-chain';

export interface InstanceInit {
  type: 'init';
  run: string;
  design: Design;
  index: number;
  /** The root key (KMS in the cloud): PKCS#8 PEM, shared by every instance of the deployment. */
  rootKeyPem: string;
  agents: Array<{ agentId: string; principalArn: string }>;
  /** Allowed by the policy; `deniedAction` has none (a recorded deny). */
  action: string;
  deniedAction: string;
  /** Every n-th decision asks for `deniedAction`. */
  denyEvery: number;
  warmup: number;
}

export interface InstanceGo {
  type: 'go';
  durationMs: number;
  maxDecisions: number;
}

/**
 * One request as the instance saw it: request id, decision (or null when it failed), record lane and seq,
 * latency (ms), error code (null when answered), whether the error came from throttling, and whether it was
 * in the measured window (not warm-up).
 */
export type RequestResult = [
  string,
  string | null,
  string | null,
  number,
  number,
  string | null,
  boolean,
  boolean,
];

export interface InstanceDone {
  type: 'done';
  results: RequestResult[];
  measuredMs: number;
  cpuMs: number;
  lane: string | null;
}

type ParentMessage = InstanceInit | InstanceGo | StoreReplyMessage | { type: 'exit' };
export type InstanceMessage =
  | StoreRequestMessage
  | InstanceDone
  | { type: 'ready' }
  | { type: 'failed'; error: string };

const send = (message: InstanceMessage) => process.send?.(message);

interface Decider {
  decide(
    caller: Caller,
    body: unknown,
  ): Promise<{ decision: string; record: { chain: string; seq: number } }>;
  lane(): string | null;
}

function errorCode(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string') return e.code;
  if (e && typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return 'ERROR';
}

/** True when DynamoDB throttling is somewhere in the error's cause chain. */
function throttled(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown } | undefined, i = 0; e && i < 8; i++) {
    if (e.name === 'ProvisionedThroughputExceededException' || e.name === 'TransactionCanceledException')
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

let store: RemoteKeyValueStore | null = null;
let init: InstanceInit | null = null;
let decider: Decider | null = null;
let results: RequestResult[] = [];

function build(message: InstanceInit): Decider {
  store?.failAll('a new run started');
  const table = new RemoteKeyValueStore((m) => send(m));
  store = table;
  const rootSigner = InMemoryP256Signer.fromPem(message.rootKeyPem);
  const gatewayPrincipal = 'arn:aws:iam::123456789012:role/zt-decisions-function';
  if (message.design === 'lanes') {
    const parts = wireGateway({
      store: table,
      rootSigner,
      clock: systemClock,
      gatewayPrincipal,
      origin: `zt-infra/bench/${message.run}/main`,
    });
    return {
      decide: async (caller, body) => {
        const outcome = await parts.gateway.decide(caller, body);
        return { decision: outcome.decision, record: outcome.record };
      },
      lane: () => parts.writer.lane,
    };
  }
  const keys = new KeyRing(rootSigner, table, { gatewayPrincipal });
  const chain = new ChainDecisions({
    store: table,
    writer: new ChainWriter(table, systemClock),
    keys,
    policies: new PolicyEngine(),
    clock: systemClock,
  });
  let certified: Promise<void> | null = null;
  return {
    decide: async (caller, body) => {
      certified ??= chain.ready().catch((error: unknown) => {
        certified = null;
        throw error;
      });
      await certified;
      return chain.decide(caller, body);
    },
    lane: () => 'main',
  };
}

let serial = 0;
async function decideOnce(measured: boolean): Promise<void> {
  const m = init as InstanceInit;
  const n = serial++;
  const agent = m.agents[(m.index * 7 + n) % m.agents.length] as { agentId: string; principalArn: string };
  const requestId = `${m.run}-i${m.index}-${n}`;
  const deny = m.denyEvery > 0 && n % m.denyEvery === m.denyEvery - 1;
  const body = {
    actor: agent.agentId,
    action: deny ? m.deniedAction : m.action,
    resource: `arn:aws:ec2:us-east-1:123456789012:instance/i-${n.toString(16).padStart(17, '0')}`,
    context: { environment: 'prod', region: 'us-east-1' },
    request_id: requestId,
  };
  const caller: Caller = { principalArn: agent.principalArn, isAdmin: false };
  const t0 = performance.now();
  try {
    const outcome = await (decider as Decider).decide(caller, body);
    results.push([
      requestId,
      outcome.decision,
      outcome.record.chain,
      outcome.record.seq,
      performance.now() - t0,
      null,
      false,
      measured,
    ]);
  } catch (error) {
    results.push([
      requestId,
      null,
      null,
      0,
      performance.now() - t0,
      errorCode(error),
      throttled(error),
      measured,
    ]);
  }
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'store-reply') {
    store?.receive(message);
  } else if (message.type === 'init') {
    init = message;
    serial = 0;
    results = [];
    void (async () => {
      try {
        decider = build(message);
        for (let i = 0; i < message.warmup; i++) await decideOnce(false);
        send({ type: 'ready' });
      } catch (error) {
        send({ type: 'failed', error: String((error as Error)?.stack ?? error) });
      }
    })();
  } else if (message.type === 'go') {
    void (async () => {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const deadline = t0 + message.durationMs;
      let count = 0;
      // INVARIANT (of the model): one request in flight per instance, as a Lambda instance serves one invocation.
      while (performance.now() < deadline && count < message.maxDecisions) {
        await decideOnce(true);
        count++;
      }
      const measuredMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      send({
        type: 'done',
        results,
        measuredMs,
        cpuMs: (cpu.user + cpu.system) / 1000,
        lane: decider?.lane() ?? null,
      });
      results = [];
    })();
  } else if (message.type === 'exit') {
    process.disconnect();
  }
});
process.on('disconnect', () => {
  store?.failAll('the table process went away');
  process.exit(0);
});
