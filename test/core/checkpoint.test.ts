import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InfrastructureError } from '../../core/errors/errors.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { Checkpointer, checkpointPartition, merklePartition } from '../../core/log/Checkpointer.js';
import {
  type Checkpoint,
  formatCheckpointBody,
  parseCheckpointNote,
  signCheckpoint,
  verifyCheckpoint,
} from '../../core/log/checkpoint.js';
import { verifyEpoch } from '../../core/log/epoch.js';
import { LaneWriter } from '../../core/log/LaneWriter.js';
import { consistencyProof, leafHash, rootFromLeaves, verifyConsistency } from '../../core/log/merkle.js';
import { CheckpointMalformedError, noteKeyIdOf } from '../../core/log/signedNote.js';
import { InMemoryKeyValueStore } from '../../core/ports/InMemoryKeyValueStore.js';
import type { Clock, Signer } from '../../core/ports/ports.js';
import { EPOCH_PARTITION, LANES_PARTITION } from '../../core/ports/storageLayout.js';
import { CheckpointScheduler } from '../../local/CheckpointScheduler.js';
import { staticSigner } from '../helpers/lanes.js';

const rootKey = InMemoryP256Signer.generate();
const otherKey = InMemoryP256Signer.generate();
const ROOT = Buffer.alloc(32, 7);
const ORIGIN = 'zt-infra/main';

class FakeClock implements Clock {
  constructor(public ms = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now(): Date {
    return new Date(this.ms);
  }
}

/** Replaces the character at `index` with another base64 character. */
function changeChar(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

function signatureOf(note: string): { line: string; b64: string; start: number } {
  const start = note.lastIndexOf(' ') + 1;
  return { line: note.slice(note.lastIndexOf('\n\n') + 2), b64: note.slice(start, -1), start };
}

describe('when signing and verifying a checkpoint note', () => {
  let checkpoint: Checkpoint;
  beforeEach(async () => {
    checkpoint = await signCheckpoint({ origin: ORIGIN, size: 250, root: ROOT }, rootKey);
  });

  it('writes the exact C2SP note text', () => {
    const body = `zt-infra/main\n250\n${ROOT.toString('base64')}\n`;
    expect(formatCheckpointBody(ORIGIN, 250, ROOT)).toBe(body);
    expect(checkpoint.origin).toBe(ORIGIN);
    expect(checkpoint.size).toBe(250);
    expect(checkpoint.root).toBe(ROOT.toString('base64'));
    expect(checkpoint.note.startsWith(`${body}\n\u2014 zt-infra/main `)).toBe(true);
    expect(checkpoint.note.endsWith('\n')).toBe(true);
    const sig = Buffer.from(signatureOf(checkpoint.note).b64, 'base64');
    // key id: first 4 bytes of SHA-256 of the SPKI DER (C2SP signed-note, type 0x02)
    expect(sig.subarray(0, 4).equals(noteKeyIdOf(rootKey.publicKeyPem))).toBe(true);
    expect(sig[4]).toBe(0x30); // a DER SEQUENCE follows
  });

  it('parses back what it signed', () => {
    const parsed = parseCheckpointNote(checkpoint.note);
    expect(parsed).toMatchObject({ origin: ORIGIN, size: 250, root: ROOT.toString('base64') });
    expect(parsed.rootBytes.equals(ROOT)).toBe(true);
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]!.keyName).toBe(ORIGIN);
  });

  it('verifies against the root key and names it', () => {
    expect(verifyCheckpoint(checkpoint, [rootKey.publicKeyPem])).toEqual({
      ok: true,
      keyId: rootKey.keyId,
      time: null,
    });
    expect(verifyCheckpoint(checkpoint, [otherKey.publicKeyPem, rootKey.publicKeyPem])).toEqual({
      ok: true,
      keyId: rootKey.keyId,
      time: null,
    });
  });

  describe('when it carries a signed time', () => {
    const TIME = new Date('2026-11-26T08:00:00.123Z');

    it('writes it as a `time` extension line after the root, and verifies it', async () => {
      const timed = await signCheckpoint({ origin: ORIGIN, size: 250, root: ROOT, time: TIME }, rootKey);
      expect(timed.time).toBe('2026-11-26T08:00:00.123Z');
      expect(
        timed.note.startsWith(
          `zt-infra/main\n250\n${ROOT.toString('base64')}\ntime 2026-11-26T08:00:00.123Z\n\n`,
        ),
      ).toBe(true);
      expect(parseCheckpointNote(timed.note).time).toBe(timed.time);
      expect(verifyCheckpoint(timed, [rootKey.publicKeyPem])).toEqual({
        ok: true,
        keyId: rootKey.keyId,
        time: timed.time,
      });
      // the JSON may leave the time out (the note says it)
      const { time: _, ...bare } = timed;
      expect(verifyCheckpoint(bare, [rootKey.publicKeyPem]).ok).toBe(true);
    });

    it('refuses a changed time: in the note (CHECKPOINT_SIGNATURE_INVALID) or only in the JSON (FIELDS_MISMATCH)', async () => {
      const timed = await signCheckpoint({ origin: ORIGIN, size: 250, root: ROOT, time: TIME }, rootKey);
      const later = '2026-11-27T08:00:00.123Z';
      expect(
        verifyCheckpoint({ ...timed, time: later, note: timed.note.replace(timed.time!, later) }, [
          rootKey.publicKeyPem,
        ]),
      ).toMatchObject({
        code: 'CHECKPOINT_SIGNATURE_INVALID',
      });
      expect(verifyCheckpoint({ ...timed, time: later }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_FIELDS_MISMATCH',
      });
      expect(verifyCheckpoint({ ...checkpoint, time: later }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_FIELDS_MISMATCH',
      });
    });

    it.each([
      ['a time that is not a real instant', 'time 2026-02-30T00:00:00.000Z'],
      ['a time without milliseconds', 'time 2026-11-26T08:00:00Z'],
      ['another extension line', 'when 2026-11-26T08:00:00.000Z'],
    ])('refuses %s with CHECKPOINT_MALFORMED', async (_what, line) => {
      const timed = await signCheckpoint({ origin: ORIGIN, size: 250, root: ROOT, time: TIME }, rootKey);
      const note = timed.note.replace('time 2026-11-26T08:00:00.123Z', line);
      expect(() => parseCheckpointNote(note)).toThrow(CheckpointMalformedError);
    });
  });

  it('signs with a configured origin and an explicit key name', async () => {
    const named = await signCheckpoint({ origin: 'zt-infra.example.com/main', size: 0, root: ROOT }, rootKey);
    expect(named.note).toContain('\n\n\u2014 zt-infra.example.com/main ');
    expect(verifyCheckpoint(named, [rootKey.publicKeyPem]).ok).toBe(true);
  });

  it('ignores a cosignature line from an unknown key', async () => {
    const witness = await signCheckpoint({ origin: 'witness.example/w1', size: 250, root: ROOT }, otherKey);
    const cosigned = { ...checkpoint, note: checkpoint.note + signatureOf(witness.note).line };
    expect(parseCheckpointNote(cosigned.note).signatures).toHaveLength(2);
    expect(verifyCheckpoint(cosigned, [rootKey.publicKeyPem])).toEqual({
      ok: true,
      keyId: rootKey.keyId,
      time: null,
    });
  });

  describe('when one character of the note is changed', () => {
    it('fails on the size with CHECKPOINT_SIGNATURE_INVALID', () => {
      const note = checkpoint.note.replace('\n250\n', '\n251\n');
      expect(verifyCheckpoint({ ...checkpoint, size: 251, note }, [rootKey.publicKeyPem])).toMatchObject({
        ok: false,
        code: 'CHECKPOINT_SIGNATURE_INVALID',
      });
      // the signature is checked before the fields, so a note-only change says the same
      expect(verifyCheckpoint({ ...checkpoint, note }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_SIGNATURE_INVALID',
      });
    });

    it('fails on the root with CHECKPOINT_SIGNATURE_INVALID', () => {
      const i = checkpoint.note.indexOf(checkpoint.root) + 10;
      const note = changeChar(checkpoint.note, i);
      const root = parseCheckpointNote(note).root;
      expect(verifyCheckpoint({ ...checkpoint, root, note }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_SIGNATURE_INVALID',
      });
    });

    it('fails on the origin with CHECKPOINT_UNKNOWN_KEY (no trusted key signs under that name)', () => {
      const note = checkpoint.note.replace('zt-infra/main\n', 'zt-infra/maim\n');
      expect(
        verifyCheckpoint({ ...checkpoint, origin: 'zt-infra/maim', note }, [rootKey.publicKeyPem]),
      ).toMatchObject({ code: 'CHECKPOINT_UNKNOWN_KEY' });
    });

    it('fails on the origin and the key name together with CHECKPOINT_SIGNATURE_INVALID', () => {
      const note = checkpoint.note.replaceAll('zt-infra/main', 'zt-infra/maim');
      expect(
        verifyCheckpoint({ ...checkpoint, origin: 'zt-infra/maim', note }, [rootKey.publicKeyPem]),
      ).toMatchObject({ code: 'CHECKPOINT_SIGNATURE_INVALID' });
    });

    it('fails on the signature bytes with CHECKPOINT_SIGNATURE_INVALID', () => {
      const { start } = signatureOf(checkpoint.note);
      const note = changeChar(checkpoint.note, start + 40);
      expect(verifyCheckpoint({ ...checkpoint, note }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_SIGNATURE_INVALID',
      });
    });

    it('fails on the key id bytes with CHECKPOINT_UNKNOWN_KEY', () => {
      const { start } = signatureOf(checkpoint.note);
      const note = changeChar(checkpoint.note, start + 1);
      expect(verifyCheckpoint({ ...checkpoint, note }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_UNKNOWN_KEY',
      });
    });

    it('fails on the em dash with CHECKPOINT_MALFORMED', () => {
      const note = checkpoint.note.replace('\u2014', '-');
      expect(verifyCheckpoint({ ...checkpoint, note }, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_MALFORMED',
      });
    });
  });

  describe('when the JSON fields differ from the signed note', () => {
    it.each([
      ['size', { size: 251 }],
      ['root', { root: Buffer.alloc(32, 8).toString('base64') }],
      ['origin', { origin: 'zt-infra/other' }],
    ])('fails on the %s with CHECKPOINT_FIELDS_MISMATCH', (_field, change) => {
      expect(verifyCheckpoint({ ...checkpoint, ...change }, [rootKey.publicKeyPem])).toMatchObject({
        ok: false,
        code: 'CHECKPOINT_FIELDS_MISMATCH',
      });
    });
  });

  it('fails a note signed by another key with CHECKPOINT_UNKNOWN_KEY', async () => {
    const forged = await signCheckpoint({ origin: ORIGIN, size: 250, root: ROOT }, otherKey);
    expect(verifyCheckpoint(forged, [rootKey.publicKeyPem])).toMatchObject({
      ok: false,
      code: 'CHECKPOINT_UNKNOWN_KEY',
    });
  });

  it('fails a note with no trusted keys at all with CHECKPOINT_UNKNOWN_KEY', () => {
    expect(verifyCheckpoint(checkpoint, [])).toMatchObject({ code: 'CHECKPOINT_UNKNOWN_KEY' });
  });

  describe('when the note is not in the exact format', () => {
    const body = `zt-infra/main\n250\n${ROOT.toString('base64')}\n`;
    const variants: Array<[string, (note: string) => string]> = [
      ['no blank line', (n) => n.replace('\n\n', '\n')],
      ['an extension line', (n) => n.replace(body, `${body}extra\n`)],
      ['a leading zero in the size', (n) => n.replace('\n250\n', '\n0250\n')],
      ['a negative size', (n) => n.replace('\n250\n', '\n-250\n')],
      ['a root that is not base64 of 32 bytes', (n) => n.replace(ROOT.toString('base64'), 'AAAA')],
      ['no final newline', (n) => n.slice(0, -1)],
      ['a carriage return', (n) => n.replace('\n250\n', '\n250\r\n')],
      ['an empty signature section', (n) => `${n}\n`],
      ['a signature line with an extra field', (n) => `${n.slice(0, -1)} x\n`],
      ['a signature that is not base64', (n) => n.replace(/ [^ ]+\n$/, ' not*base64\n')],
      ['a space in the origin', (n) => n.replace('zt-infra/main\n', 'zt infra/main\n')],
      ['only two checkpoint lines', (n) => n.replace('\n250\n', '\n')],
    ];
    it.each(variants)('fails with CHECKPOINT_MALFORMED on %s', (_what, change) => {
      const note = change(checkpoint.note);
      expect(() => parseCheckpointNote(note)).toThrow(CheckpointMalformedError);
      expect(verifyCheckpoint({ ...checkpoint, note }, [rootKey.publicKeyPem])).toMatchObject({
        ok: false,
        code: 'CHECKPOINT_MALFORMED',
      });
    });

    it('fails with CHECKPOINT_MALFORMED when the checkpoint is not an object of the right shape', () => {
      expect(verifyCheckpoint(null as unknown as Checkpoint, [rootKey.publicKeyPem])).toMatchObject({
        code: 'CHECKPOINT_MALFORMED',
      });
      expect(
        verifyCheckpoint({ ...checkpoint, size: '250' } as unknown as Checkpoint, [rootKey.publicKeyPem]),
      ).toMatchObject({ code: 'CHECKPOINT_MALFORMED' });
    });
  });

  it('refuses to sign a malformed origin or root', async () => {
    await expect(signCheckpoint({ origin: 'a b', size: 1, root: ROOT }, rootKey)).rejects.toThrow(
      CheckpointMalformedError,
    );
    await expect(
      signCheckpoint({ origin: ORIGIN, size: 1, root: new Uint8Array(31) }, rootKey),
    ).rejects.toThrow(CheckpointMalformedError);
  });

  const hasOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      console.warn(
        'openssl is missing: the independent signature check is skipped (apt-get install -y openssl)',
      );
      return false;
    }
  })();

  it.skipIf(!hasOpenssl)(
    'is independently verified by openssl over the note body (skipped without openssl: apt-get install -y openssl)',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'zt-checkpoint-'));
      try {
        const parsed = parseCheckpointNote(checkpoint.note);
        writeFileSync(join(dir, 'root.pem'), rootKey.publicKeyPem);
        writeFileSync(join(dir, 'body.txt'), parsed.body);
        writeFileSync(join(dir, 'sig.der'), parsed.signatures[0]!.signature);
        const out = execFileSync(
          'openssl',
          ['dgst', '-sha256', '-verify', 'root.pem', '-signature', 'sig.der', 'body.txt'],
          { cwd: dir, encoding: 'utf8' },
        );
        expect(out.trim()).toBe('Verified OK');
        // and the 4-byte key id is the truncated SHA-256 of the SPKI DER, computed by openssl too
        const spki = execFileSync('openssl', ['pkey', '-pubin', '-in', 'root.pem', '-outform', 'DER'], {
          cwd: dir,
        });
        const digest = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: spki, encoding: 'utf8' });
        expect(parsed.signatures[0]!.keyId.toString('hex')).toBe(digest.slice(0, 8));
        // a one-byte change of the body is refused
        writeFileSync(join(dir, 'body.txt'), parsed.body.replace('250', '251'));
        expect(() =>
          execFileSync(
            'openssl',
            ['dgst', '-sha256', '-verify', 'root.pem', '-signature', 'sig.der', 'body.txt'],
            {
              cwd: dir,
              stdio: 'pipe',
            },
          ),
        ).toThrow();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

/** A chain of `count` real, signed agent records, appended through the LaneWriter. */
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

/** A store whose `query` of one partition prefix fails, to see store failures surface. */
function failingQueries(store: InMemoryKeyValueStore, prefix: string): InMemoryKeyValueStore {
  const query = store.query.bind(store);
  store.query = async (pk, options) => {
    if (pk.startsWith(prefix)) throw new Error('store down');
    return query(pk, options);
  };
  return store;
}

describe('when checkpointing an audit log', () => {
  let store: InMemoryKeyValueStore;
  let clock: FakeClock;
  let writer: LaneWriter;
  let checkpointer: Checkpointer;

  const leavesOf = async (w: LaneWriter): Promise<Buffer[]> =>
    (await w.page(0, 10_000)).map((t) => leafHash(t));

  beforeEach(async () => {
    store = new InMemoryKeyValueStore();
    clock = new FakeClock();
    writer = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), { lane: 'main' });
    checkpointer = new Checkpointer({ store, rootSigner: rootKey, clock });
    await appendRecords(writer, 250);
  });

  it('signs the RFC 6962 root of every record with its time, and an epoch naming the lane', async () => {
    const cp = await checkpointer.checkpoint();
    expect(cp.size).toBe(250);
    expect(cp.origin).toBe('zt-infra/main');
    expect(cp.time).toBe('2026-01-01T00:00:00.000Z');
    expect(cp.note.split('\n')[3]).toBe('time 2026-01-01T00:00:00.000Z');
    expect(cp.root).toBe(rootFromLeaves(await leavesOf(writer)).toString('base64'));
    expect(verifyCheckpoint(cp, [rootKey.publicKeyPem])).toEqual({
      ok: true,
      keyId: rootKey.keyId,
      time: '2026-01-01T00:00:00.000Z',
    });
    expect(cp.epoch).toMatchObject({
      origin: 'zt-infra',
      epoch: 1,
      time: '2026-01-01T00:00:00.000Z',
      lanes: [{ lane: 'main', size: 250, root: cp.root }],
    });
    expect(verifyEpoch(cp.epoch, [rootKey.publicKeyPem]).ok).toBe(true);
    expect(cp.checkpoints).toEqual([
      { origin: cp.origin, size: 250, root: cp.root, time: cp.time, note: cp.note },
    ]);
    const stored = JSON.parse((await store.get(checkpointPartition('main'), '00000000000000000250'))!);
    expect(stored).toEqual(cp.checkpoints[0]);
    expect(JSON.parse((await store.get(merklePartition('main'), 'state'))!)).toMatchObject({ size: 250 });
    expect(await checkpointer.latestEpoch()).toEqual(cp.epoch);
  });

  it('reuses the epoch while nothing changed and it is fresh, then signs a later one over the same notes', async () => {
    const first = await checkpointer.checkpoint();
    clock.ms += 10_000;
    const query = vi.spyOn(store, 'query');
    expect(await checkpointer.checkpoint()).toEqual(first);
    // O(new records): the chain is read from its covered head only
    const chainReads = query.mock.calls.filter(([pk]) => pk === 'chain#main');
    expect(chainReads.map(([, o]) => o.after)).toEqual(['00000000000000000250']);
    clock.ms += 30_000;
    const later = await checkpointer.checkpoint();
    expect(later.epoch).toMatchObject({ epoch: 2, time: '2026-01-01T00:00:40.000Z' });
    expect(later.checkpoints).toEqual(first.checkpoints);
    expect(await checkpointer.list(-1)).toHaveLength(1);
  });

  it('extends with only the new records and proves consistency with the previous checkpoint', async () => {
    const first = await checkpointer.checkpoint();
    await appendRecords(writer, 10);
    clock.ms += 1000;
    const second = await checkpointer.checkpoint();
    expect(second.size).toBe(260);
    expect(second.epoch.epoch).toBe(2);
    const leaves = await leavesOf(writer);
    expect(second.root).toBe(rootFromLeaves(leaves).toString('base64'));
    const proof = consistencyProof(250, 260, leaves);
    expect(
      verifyConsistency(
        250,
        260,
        Buffer.from(first.root, 'base64'),
        Buffer.from(second.root, 'base64'),
        proof,
      ),
    ).toBe(true);
    const bare = (c: Checkpoint) => ({
      origin: c.origin,
      size: c.size,
      root: c.root,
      time: c.time,
      note: c.note,
    });
    expect(await checkpointer.list(0)).toEqual([bare(first), bare(second)]);
    expect(await checkpointer.list(250)).toEqual([bare(second)]);
    expect(await checkpointer.latest()).toEqual(bare(second));
  });

  describe('when the log has several lanes', () => {
    it('checkpoints every lane of the registry and main (missing from it) under `<log origin>/<lane>`', async () => {
      const origin = 'zt-infra/local/abc/main';
      const lanes = new Checkpointer({ store, rootSigner: rootKey, clock, origin });
      const w1 = new LaneWriter(store, clock, staticSigner(InMemoryP256Signer.generate()), { lane: 'w-1' });
      await appendRecords(w1, 7);
      await store.put(LANES_PARTITION, 'w-1', '{"createdAt":1}');
      await store.put(LANES_PARTITION, 'w-2', '{"createdAt":2}');
      const cp = await lanes.checkpoint();
      expect(cp.origin).toBe(origin);
      expect(cp.epoch.origin).toBe('zt-infra/local/abc');
      expect(cp.epoch.lanes.map((l) => [l.lane, l.size])).toEqual([
        ['main', 250],
        ['w-1', 7],
        ['w-2', 0],
      ]);
      expect(cp.checkpoints.map((c) => c.origin)).toEqual([
        'zt-infra/local/abc/main',
        'zt-infra/local/abc/w-1',
        'zt-infra/local/abc/w-2',
      ]);
      expect(cp.checkpoints[1]?.root).toBe(rootFromLeaves(await leavesOf(w1)).toString('base64'));
      expect(cp.checkpoints[2]?.root).toBe(rootFromLeaves([]).toString('base64'));
      for (const c of cp.checkpoints) expect(verifyCheckpoint(c, [rootKey.publicKeyPem]).ok).toBe(true);
      expect(await lanes.list(0, 100, 'w-1')).toEqual([cp.checkpoints[1]]);
      // a lane once named is never dropped, even if its registry item went missing
      await store.delete(LANES_PARTITION, 'w-2');
      clock.ms += 60_000;
      expect((await lanes.checkpoint()).epoch.lanes.map((l) => l.lane)).toEqual(['main', 'w-1', 'w-2']);
    });

    it('refuses to sign an epoch in which a lane shrank (CHECKPOINT_ROOT_MISMATCH)', async () => {
      await checkpointer.checkpoint();
      await store.delete('chain#main', '00000000000000000250');
      await store.delete(merklePartition('main'), 'state');
      await store.delete(checkpointPartition('main'), '00000000000000000250');
      await expect(checkpointer.checkpoint()).rejects.toMatchObject({ code: 'CHECKPOINT_ROOT_MISMATCH' });
    });
  });

  it('stores one checkpoint and one epoch for two concurrent calls', async () => {
    const [a, b] = await Promise.all([checkpointer.checkpoint(), checkpointer.checkpoint()]);
    expect(a).toEqual(b);
    expect(await checkpointer.list(-1)).toEqual(a.checkpoints);
  });

  it('keeps one growing sequence of epochs when two processes checkpoint at once, one with a clock behind', async () => {
    const behind = new FakeClock(clock.ms - 5000);
    const other = new Checkpointer({ store, rootSigner: rootKey, clock: behind, epochRefreshMs: 0 });
    const mine = new Checkpointer({ store, rootSigner: rootKey, clock, epochRefreshMs: 0 });
    const [a, b] = await Promise.all([mine.checkpoint(), other.checkpoint()]);
    // ECDSA signatures are randomized: equal notes mean both returned the one stored note
    expect(a.note).toBe(b.note);
    await appendRecords(writer, 5);
    const [c, d] = await Promise.all([other.checkpoint(), mine.checkpoint()]);
    expect(c.root).toBe(rootFromLeaves(await leavesOf(writer)).toString('base64'));
    const byNumber = new Map([a, b, c, d].map((x) => [x.epoch.epoch, x.epoch]));
    const epochs = [...byNumber.values()].sort((x, y) => x.epoch - y.epoch);
    for (let i = 1; i < epochs.length; i++) {
      const [before, after] = [epochs[i - 1]!, epochs[i]!];
      expect(after.epoch).toBe(before.epoch + 1);
      expect(Date.parse(after.time)).toBeGreaterThan(Date.parse(before.time));
      expect(after.lanes[0]!.size).toBeGreaterThanOrEqual(before.lanes[0]!.size);
    }
  });

  it('tells the events port of a lost epoch race, then signs the next epoch number', async () => {
    let refused = 0;
    let conflicts = 0;
    // the store says another process wrote this epoch number first (once), as a lost putIfAbsent does
    const racing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'putIfAbsent') {
          return async (pk: string, sk: string, data: string) => {
            if (pk === EPOCH_PARTITION && refused === 0) {
              refused++;
              return false;
            }
            return target.putIfAbsent(pk, sk, data);
          };
        }
        const value = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const events = { appendConflict: () => conflicts++ };
    const cp = await new Checkpointer({ store: racing, rootSigner: rootKey, clock, events }).checkpoint();
    expect(refused).toBe(1);
    expect(conflicts).toBe(1);
    expect(verifyEpoch(cp.epoch, [rootKey.publicKeyPem]).ok).toBe(true);
  });

  it('checkpoints an empty log as the empty-tree root', async () => {
    const empty = new Checkpointer({
      store: new InMemoryKeyValueStore(),
      rootSigner: rootKey,
      clock,
      chain: 'empty',
      origin: 'zt-infra.example.com/empty',
    });
    const cp = await empty.checkpoint();
    expect(cp).toMatchObject({
      origin: 'zt-infra.example.com/empty',
      size: 0,
      root: rootFromLeaves([]).toString('base64'),
    });
    expect(cp.epoch.lanes.map((l) => l.lane)).toEqual(['empty', 'main']);
    expect(verifyCheckpoint(cp, [rootKey.publicKeyPem]).ok).toBe(true);
    expect((await empty.latest())?.note).toBe(cp.note);
  });

  it('refuses an origin whose last segment is not its lane', () => {
    expect(
      () => new Checkpointer({ store, rootSigner: rootKey, clock, origin: 'zt-infra/local/x/other' }),
    ).toThrow(/must end with `\/main`/);
  });

  it('throws when the signer fails, storing no checkpoint and no epoch', async () => {
    const broken: Signer = {
      keyId: rootKey.keyId,
      publicKeyPem: rootKey.publicKeyPem,
      sign: async () => {
        throw new Error('kms down');
      },
    };
    const failing = new Checkpointer({ store, rootSigner: broken, clock });
    await expect(failing.checkpoint()).rejects.toMatchObject({ code: 'SIGNING_FAILED' });
    expect(await failing.latest()).toBeNull();
    expect(await failing.latestEpoch()).toBeNull();
    // the next call (signer back) still works
    expect((await checkpointer.checkpoint()).size).toBe(250);
  });

  it('throws when the store fails', async () => {
    const failing = new Checkpointer({ store: failingQueries(store, 'chain#'), rootSigner: rootKey, clock });
    const error = await failing.checkpoint().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InfrastructureError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('refuses to hash over a gap in a lane', async () => {
    await store.delete('chain#main', '00000000000000000100');
    await expect(checkpointer.checkpoint()).rejects.toMatchObject({ code: 'CHAIN_GAP' });
  });

  it('refuses a record changed under an existing checkpoint of the same size', async () => {
    await checkpointer.checkpoint();
    // rebuild the merkle state from scratch over altered records: the stored note must not be reused
    await store.delete(merklePartition('main'), 'state');
    const text = (await store.get('chain#main', '00000000000000000007'))!;
    await store.put('chain#main', '00000000000000000007', text.replace('agent-6', 'agent-X'));
    await expect(checkpointer.checkpoint()).rejects.toMatchObject({ code: 'CHECKPOINT_ROOT_MISMATCH' });
  });
});

describe('when scheduling checkpoints', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A checkpointer stand-in whose calls finish when the test says so. */
  function fakeCheckpointer() {
    let head = 0;
    let active = 0;
    const state = {
      calls: 0,
      maxActive: 0,
      fail: false,
      setHead(n: number) {
        head = n;
      },
      async checkpoint(): Promise<{ epoch: { lanes: Array<{ lane: string; size: number }> } }> {
        state.calls++;
        const size = head;
        active++;
        state.maxActive = Math.max(state.maxActive, active);
        await new Promise((resolve) => setTimeout(resolve, 10));
        active--;
        if (state.fail) throw new Error('signer down');
        return { epoch: { lanes: [{ lane: 'main', size }] } };
      },
    };
    return state;
  }

  it('runs after everyRecords appended records, never two at once', async () => {
    const cp = fakeCheckpointer();
    const scheduler = new CheckpointScheduler(cp, { everyRecords: 10, everyMs: 60_000 });
    scheduler.start();
    for (let seq = 1; seq <= 9; seq++) scheduler.notifyAppended({ chain: 'main', seq });
    expect(cp.calls).toBe(0);
    cp.setHead(10);
    scheduler.notifyAppended({ chain: 'main', seq: 10 });
    await vi.advanceTimersByTimeAsync(0);
    expect(cp.calls).toBe(1);
    // 20 more while the first run is in flight: one more run after it, not one per record
    cp.setHead(30);
    for (let seq = 11; seq <= 30; seq++) scheduler.notifyAppended({ chain: 'main', seq });
    await vi.advanceTimersByTimeAsync(10);
    expect(cp.calls).toBe(2);
    await vi.advanceTimersByTimeAsync(10);
    expect(cp.calls).toBe(2);
    expect(cp.maxActive).toBe(1);
    await scheduler.stop();
  });

  it('counts the records of every lane together', async () => {
    const cp = fakeCheckpointer();
    const scheduler = new CheckpointScheduler(cp, { everyRecords: 10, everyMs: 60_000 });
    scheduler.start();
    for (let seq = 1; seq <= 5; seq++) scheduler.notifyAppended({ chain: 'w-1', seq });
    for (let seq = 1; seq <= 4; seq++) scheduler.notifyAppended({ chain: 'w-2', seq });
    expect(cp.calls).toBe(0);
    scheduler.notifyAppended({ chain: 'w-2', seq: 5 });
    await vi.advanceTimersByTimeAsync(20);
    expect(cp.calls).toBe(1);
    await scheduler.stop();
  });

  it('runs every everyMs even when idle (to keep the signed time fresh), and stops', async () => {
    const cp = fakeCheckpointer();
    const scheduler = new CheckpointScheduler(cp, { everyRecords: 100, everyMs: 1000 });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(cp.calls).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(cp.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1010);
    expect(cp.calls).toBe(2);
    // stop() waits for the run in flight
    const stopped = scheduler.stop();
    await vi.advanceTimersByTimeAsync(10);
    await stopped;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cp.calls).toBe(2);
    scheduler.notifyAppended({ chain: 'main', seq: 1_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(cp.calls).toBe(2);
  });

  it('reports failures to onError and keeps running', async () => {
    const cp = fakeCheckpointer();
    cp.fail = true;
    const errors: unknown[] = [];
    const scheduler = new CheckpointScheduler(cp, { everyMs: 1000, onError: (e) => errors.push(e) });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(1010);
    expect(errors).toHaveLength(1);
    cp.fail = false;
    await vi.advanceTimersByTimeAsync(1010);
    expect(cp.calls).toBe(2);
    expect(errors).toHaveLength(1);
    await scheduler.stop();
  });

  it('does not keep the process alive', () => {
    const scheduler = new CheckpointScheduler(fakeCheckpointer(), { everyMs: 1000 });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    scheduler.start();
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    void scheduler.stop();
  });
});
