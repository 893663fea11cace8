import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../brokers/BrokerError.js';
import type { DecisionClient } from '../../brokers/contract.js';
import {
  assertOnlyKeys,
  Broker,
  type BrokerBackend,
  type ExecutionResult,
  invalidSpec,
  isPlainObject,
} from '../../brokers/contract.js';
import { canonicalSha256, sha256Hex } from '../../core/model/canonical.js';
import { ZeroTrustError } from '../../sdk/index.js';
import { type BrokerGateway, failure, startBrokerGateway } from './emulatorFixture.js';

/** The shared flow against the real emulator, with a backend that only counts its runs. */

const ACTOR = 'broker-contract';
const ALLOWED = 'broker.test.run';
const DENIED = 'broker.test.other';

interface Spec {
  word: string;
}

function countingBackend(exitCode = 0): BrokerBackend<Spec> & { runs: Spec[] } {
  const runs: Spec[] = [];
  return {
    name: 'test',
    runs,
    validate(input: unknown): Spec {
      if (!isPlainObject(input)) invalidSpec('the spec must be an object');
      assertOnlyKeys(input, ['word'], 'the spec');
      if (typeof input['word'] !== 'string' || input['word'] === '')
        invalidSpec('`word` must be a non-empty string');
      return { word: input['word'] };
    },
    async execute(spec: Spec): Promise<ExecutionResult> {
      runs.push(spec);
      return {
        exitCode,
        timedOut: false,
        stdout: Buffer.from(spec.word),
        stderr: Buffer.alloc(0),
        stdoutSha256: sha256Hex(spec.word),
      };
    },
  };
}

let gw: BrokerGateway;

beforeAll(async () => {
  gw = await startBrokerGateway(ACTOR, [ALLOWED]);
});

afterAll(async () => {
  await gw?.close();
});

describe('when the spec is invalid', () => {
  it('refuses with INVALID_SPEC without asking the gateway', async () => {
    // Prepare
    let asked = 0;
    const client: DecisionClient = {
      decide: async (r) => {
        asked += 1;
        return gw.client.decide(r);
      },
      reportOutcome: (id, o) => gw.client.reportOutcome(id, o),
    };
    const backend = countingBackend();
    const broker = new Broker(backend, { client, actor: ACTOR, action: ALLOWED });
    // Act
    const err = await failure(broker.run({ word: 'x', extra: true }));
    // Assess
    expect(err.code).toBe('INVALID_SPEC');
    expect(asked).toBe(0);
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the action is denied', () => {
  it('refuses with DENIED and runs nothing', async () => {
    const backend = countingBackend();
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: DENIED });
    const err = await failure(broker.run({ word: 'x' }));
    expect(err.code).toBe('DENIED');
    expect(err.recordId).toBeDefined();
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the gateway cannot be reached', () => {
  it('refuses with DECISION_FAILED and the SDK code, and runs nothing', async () => {
    const backend = countingBackend();
    const client: DecisionClient = {
      decide: async () => {
        throw new ZeroTrustError('CONNECTION_FAILED', 'connection refused');
      },
      reportOutcome: (id, o) => gw.client.reportOutcome(id, o),
    };
    const broker = new Broker(backend, { client, actor: ACTOR, action: ALLOWED });
    const err = await failure(broker.run({ word: 'x' }));
    expect(err.code).toBe('DECISION_FAILED');
    expect(err.zeroTrustCode).toBe('CONNECTION_FAILED');
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the action is allowed', () => {
  it('runs the spec once and reports succeeded with the output digest', async () => {
    const backend = countingBackend();
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const result = await broker.run({ word: 'hello' });
    expect(backend.runs).toEqual([{ word: 'hello' }]);
    expect(result.status).toBe('succeeded');
    expect(result.outcomeRecorded).toBe(true);
    expect(result.stdout.toString()).toBe('hello');
    // The chain holds the claim, then the outcome with the exit code and the digest of stdout.
    const outcomes = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === result.recordId) outcomes.push(r);
    }
    expect(outcomes.map((r) => [r.status, r.exit_code, r.output_sha256])).toEqual([
      ['started', null, null],
      ['succeeded', 0, sha256Hex('hello')],
    ]);
  });

  it('reports failed when the process exits non-zero', async () => {
    const broker = new Broker(countingBackend(3), { client: gw.client, actor: ACTOR, action: ALLOWED });
    const result = await broker.run({ word: 'hello' });
    expect(result.status).toBe('failed');
    expect(result.exitCode).toBe(3);
    expect(result.outcomeRecorded).toBe(true);
  });
});

describe('when the allow is used twice', () => {
  it('refuses the second run with ALREADY_STARTED', async () => {
    const backend = countingBackend();
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const approval = await broker.authorize({ word: 'once' });
    await broker.execute(approval, { word: 'once' });
    const err = await failure(broker.execute(approval, { word: 'once' }));
    expect(err.code).toBe('ALREADY_STARTED');
    expect(backend.runs).toHaveLength(1);
  });
});

describe('when the spec changed after the decision', () => {
  it('refuses with PARAMS_MISMATCH before claiming or running', async () => {
    const backend = countingBackend();
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const approval = await broker.authorize({ word: 'approved' });
    const err = await failure(broker.execute(approval, { word: 'changed' }));
    expect(err.code).toBe('PARAMS_MISMATCH');
    expect(backend.runs).toHaveLength(0);
    // The allow was not claimed, so the approved spec can still run.
    await broker.execute(approval, { word: 'approved' });
    expect(backend.runs).toEqual([{ word: 'approved' }]);
  });
});

describe('when the allow is older than 60 s', () => {
  it('refuses with DECISION_STALE and runs nothing', async () => {
    // Prepare: a broker whose clock is 61 s ahead of the gateway's
    const backend = countingBackend();
    const broker = new Broker(backend, {
      client: gw.client,
      actor: ACTOR,
      action: ALLOWED,
      clock: () => new Date(Date.now() + 61_000),
    });
    // Act
    const approval = await broker.authorize({ word: 'late' });
    const err = await failure(broker.execute(approval, { word: 'late' }));
    // Assess
    expect(err.code).toBe('DECISION_STALE');
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the allow is for another broker', () => {
  it('refuses with DECISION_MISMATCH', async () => {
    const backend = countingBackend();
    const asker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const other = new Broker(backend, {
      client: gw.client,
      actor: ACTOR,
      action: ALLOWED,
      resource: 'elsewhere',
    });
    const approval = await asker.authorize({ word: 'x' });
    const err = await failure(other.execute(approval, { word: 'x' }));
    expect(err.code).toBe('DECISION_MISMATCH');
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the approval was not issued by this broker', () => {
  it('refuses a hand-built approval with DECISION_MISMATCH, even one copied from a real allow', async () => {
    // Prepare: a real allow for one spec, copied with another spec's digest
    const backend = countingBackend();
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const real = await broker.authorize({ word: 'approved' });
    const forged = { ...real, spec: { word: 'other' } };
    // Act
    const err = await failure(broker.execute(forged, { word: 'other' }));
    // Assess
    expect(err.code).toBe('DECISION_MISMATCH');
    expect(backend.runs).toHaveLength(0);
  });
});

describe('when the backend cannot start', () => {
  it('reports failed after the claim and refuses with EXECUTION_ERROR', async () => {
    const backend: BrokerBackend<Spec> = {
      ...countingBackend(),
      execute: async () => {
        throw new Error('spawn bwrap ENOENT');
      },
    };
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const err = await failure(broker.run({ word: 'x' }));
    expect(err.code).toBe('EXECUTION_ERROR');
    const statuses = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === err.recordId) statuses.push(r.status);
    }
    expect(statuses).toEqual(['started', 'failed']);
  });
});

describe('when the output is larger than what the backend captured', () => {
  it('reports the digest of the whole stream the backend hashed, not of the captured part', async () => {
    // Prepare: a backend that kept 3 bytes of a 5-byte stdout
    const backend: BrokerBackend<Spec> = {
      ...countingBackend(),
      execute: async () => ({
        exitCode: 0,
        timedOut: false,
        stdout: Buffer.from('hel'),
        stderr: Buffer.alloc(0),
        stdoutSha256: sha256Hex('hello'),
      }),
    };
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    // Act
    const result = await broker.run({ word: 'x' });
    // Assess
    expect(result.outputSha256).toBe(sha256Hex('hello'));
    const digests = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === result.recordId) digests.push(r.output_sha256);
    }
    expect(digests).toEqual([null, sha256Hex('hello')]);
  });
});

describe('when the canonical spec differs from the input', () => {
  it('asks with the canonical spec and runs the input it was given, validated again', async () => {
    // Prepare: an async validator whose canonical form is not itself a valid input
    const runs: unknown[] = [];
    const asked: unknown[] = [];
    const backend: BrokerBackend<{ word: string; length: number }> = {
      name: 'test',
      validate: async (input) => {
        if (!isPlainObject(input)) invalidSpec('the spec must be an object');
        assertOnlyKeys(input, ['word'], 'the spec');
        const word = String(input['word']);
        return { word, length: word.length };
      },
      execute: async (spec) => {
        runs.push(spec);
        return {
          exitCode: 0,
          timedOut: false,
          stdout: Buffer.alloc(0),
          stderr: Buffer.alloc(0),
          stdoutSha256: sha256Hex(''),
        };
      },
    };
    const client: DecisionClient = {
      decide: async (r) => {
        asked.push(r.params);
        return gw.client.decide(r);
      },
      reportOutcome: (id, o) => gw.client.reportOutcome(id, o),
    };
    const broker = new Broker(backend, { client, actor: ACTOR, action: ALLOWED });
    // Act
    const result = await broker.run({ word: 'abc' });
    // Assess
    expect(asked).toEqual([{ word: 'abc', length: 3 }]);
    expect(runs).toEqual([{ word: 'abc', length: 3 }]);
    expect(result.status).toBe('succeeded');
    let digest: string | undefined;
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'decision' && r.id === result.recordId) digest = r.params_sha256;
    }
    expect(digest).toBe(canonicalSha256({ word: 'abc', length: 3 }));
  });
});

describe('when the backend refuses to start after the claim', () => {
  it('reports failed and passes its BrokerError code on, with the record id', async () => {
    const backend: BrokerBackend<Spec> = {
      ...countingBackend(),
      execute: async () => {
        throw new BrokerError('SANDBOX_UNSAFE', 'the sandbox keeps capabilities');
      },
    };
    const broker = new Broker(backend, { client: gw.client, actor: ACTOR, action: ALLOWED });
    const err = await failure(broker.run({ word: 'x' }));
    expect(err.code).toBe('SANDBOX_UNSAFE');
    expect(err.recordId).toBeDefined();
    const statuses = [];
    for await (const r of gw.admin.auditAll()) {
      if (r.kind === 'outcome' && r.decision_id === err.recordId) statuses.push(r.status);
    }
    expect(statuses).toEqual(['started', 'failed']);
  });
});
