import { describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { Checkpointer } from '../../core/log/Checkpointer.js';
import { checkpointOrigin, formatCheckpointBody, verifyCheckpoint } from '../../core/log/checkpoint.js';
import { LaneWriter } from '../../core/log/LaneWriter.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock } from '../../core/ports/ports.js';
import { staticSigner } from '../helpers/lanes.js';

const rootKey = InMemoryP256Signer.generate();
const clock: Clock = { now: () => new Date('2026-01-01T00:00:00.000Z') };

/** `count` real, signed agent records appended through the LaneWriter. */
async function appendRecords(writer: LaneWriter, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await writer.append({
      principalArn: 'arn:aws:iam::1:role/admin',
      build: () => ({
        kind: 'agent',
        agent_id: `agent-${i}`,
        change: 'register',
        bound_principal_arn: `arn:aws:iam::1:role/a${i}`,
      }),
    });
  }
}

describe('when an origin is built for a log', () => {
  it('joins the scope and the chain under zt-infra/, a valid note origin', () => {
    const origin = checkpointOrigin(['aws', '111122223333', 'eu-west-1', 'ZtInfra'], 'main');
    expect(origin).toBe('zt-infra/aws/111122223333/eu-west-1/ZtInfra/main');
    expect(() => formatCheckpointBody(origin, 0, Buffer.alloc(32))).not.toThrow();
    expect(checkpointOrigin(['local', 'a1'.repeat(16)], 'main')).toBe(
      `zt-infra/local/${'a1'.repeat(16)}/main`,
    );
  });

  it.each([
    ['an empty segment', ['aws', '', 'eu-west-1', 'ZtInfra']],
    ['a slash (which would let two scopes spell one origin)', ['aws', '1/2', 'eu-west-1', 'ZtInfra']],
    ['a space', ['aws', '1 2', 'eu-west-1', 'ZtInfra']],
    ['a plus sign', ['aws', '1+2', 'eu-west-1', 'ZtInfra']],
    ['a newline', ['aws', '1\n2', 'eu-west-1', 'ZtInfra']],
  ])('refuses %s with CHECKPOINT_MALFORMED', (_, scope) => {
    expect(() => checkpointOrigin(scope, 'main')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_MALFORMED' }),
    );
  });
});

describe('when a log checkpointed under one origin is given another (an upgraded deployment)', () => {
  it('keeps the checkpoint already signed at the head, then signs the next size under the new origin', async () => {
    const store = new InMemoryKeyValueStore();
    const writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), {
      lane: 'main',
    });
    await appendRecords(writer, 5);
    const before = await new Checkpointer({ store, rootSigner: rootKey, clock }).checkpoint();
    expect(before.origin).toBe('zt-infra/main');

    const origin = 'zt-infra/aws/111122223333/eu-west-1/ZtInfra/main';
    const upgraded = new Checkpointer({ store, rootSigner: rootKey, clock, origin });
    // the head did not move: the genuine checkpoint of size 5 stands (one note per size, never overwritten)
    const same = await upgraded.checkpoint();
    expect(same.note).toBe(before.note);
    // the epoch is signed again under the new log origin
    expect(same.epoch).toMatchObject({ origin: 'zt-infra/aws/111122223333/eu-west-1/ZtInfra', epoch: 2 });
    await appendRecords(writer, 1);
    const after = await upgraded.checkpoint();
    expect(after).toMatchObject({ origin, size: 6 });
    expect(after.note.startsWith(`${origin}\n6\n`)).toBe(true);
    for (const cp of [before, after]) expect(verifyCheckpoint(cp, [rootKey.publicKeyPem]).ok).toBe(true);
    expect(after.epoch.lanes).toEqual([{ lane: 'main', size: 6, root: after.root }]);
    expect((await upgraded.list(0)).map((c) => c.origin)).toEqual(['zt-infra/main', origin]);
  });

  it('still refuses a stored checkpoint whose root does not match the records (CHECKPOINT_ROOT_MISMATCH)', async () => {
    const store = new InMemoryKeyValueStore();
    const writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), {
      lane: 'main',
    });
    await appendRecords(writer, 5);
    await new Checkpointer({ store, rootSigner: rootKey, clock }).checkpoint();
    const text = (await store.get('chain#main', '00000000000000000003')) as string;
    await store.put('chain#main', '00000000000000000003', text.replace('agent-2', 'agent-X'));
    await store.delete('merkle#main', 'state');
    const upgraded = new Checkpointer({
      store,
      rootSigner: rootKey,
      clock,
      origin: 'zt-infra/x/main',
    });
    await expect(upgraded.checkpoint()).rejects.toMatchObject({ code: 'CHECKPOINT_ROOT_MISMATCH' });
  });
});
