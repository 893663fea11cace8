import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord, KeyRecord } from '../../core/model/records.js';
import { type MadeChain, makeChain, toLine } from '../helpers/chainFactory.js';
import { checkpointOver, run } from '../helpers/ztAudit.js';

/**
 * DESIGN.md invariant 7: a gutted log never verifies better than the honest one, whatever shape the input
 * takes. For every shape the reader of `zt-audit verify` sniffs (JSON Lines, a JSON array, a GET /audit
 * page, a decision response, one record, a bundle directory, standard input), every cut of the log (one
 * of its own records, the tail cut, the head cut, a record taken out of the middle, nothing at all) must
 * exit no better than the honest full log given with the same checkpoint and keys.
 */

/** Exit statuses from best to worst: 0 valid, 3 incomplete, 2 nothing verified, 1 tampered. */
const RANK: Record<number, number> = { 0: 0, 3: 1, 2: 2, 1: 3 };

type Shape = {
  /** The text of the input holding `records`; null when the shape cannot hold that many. */
  encode: (records: AuditRecord[]) => string | null;
};

const decisionResponse = (audit: AuditRecord) => ({
  ok: true,
  actor: 'ci',
  action: 'aws.ec2.terminate_instances',
  resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abc',
  decision: 'allow',
  reason: 'permitted by policy `allow-ci-terminate`',
  audit,
});

const one = (records: AuditRecord[]) => (records.length === 1 ? (records[0] as AuditRecord) : null);

const SHAPES: Record<string, Shape> = {
  'JSON Lines': { encode: (r) => (r.length === 0 ? '' : `${r.map(toLine).join('\n')}\n`) },
  'JSON Lines with CRLF and blank lines': {
    encode: (r) => `\r\n${r.map(toLine).join('\r\n\r\n')}\r\n`,
  },
  'a pretty JSON array': { encode: (r) => JSON.stringify(r, null, 2) },
  'a JSON array on one line': { encode: (r) => JSON.stringify(r) },
  'a GET /audit page on one line': { encode: (r) => JSON.stringify({ records: r, next: null }) },
  'a pretty GET /audit page': { encode: (r) => `${JSON.stringify({ records: r, next: null }, null, 2)}\n` },
  'a decision response on one line': {
    encode: (r) => (one(r) ? JSON.stringify(decisionResponse(one(r) as AuditRecord)) : null),
  },
  'a pretty decision response': {
    encode: (r) => (one(r) ? JSON.stringify(decisionResponse(one(r) as AuditRecord), null, 2) : null),
  },
  'one pretty record': { encode: (r) => (one(r) ? JSON.stringify(one(r), null, 2) : null) },
};

describe('zt-audit verify never rates a gutted log better than the honest one', () => {
  let dir: string;
  let chain: MadeChain;
  let rootPem: string;
  let keysFile: string;
  let cpFile: string;
  let cuts: Array<[string, AuditRecord[]]>;
  let n = 0;
  const file = (name: string, content: string): string => {
    const path = join(dir, `${++n}-${name}`);
    writeFileSync(path, content);
    return path;
  };
  const bundle = (records: string, withCheckpoint: boolean): string => {
    const path = join(dir, `bundle-${++n}`);
    mkdirSync(path);
    writeFileSync(join(path, 'records.jsonl'), records);
    writeFileSync(join(path, 'keys.json'), keysText);
    if (withCheckpoint) writeFileSync(join(path, 'checkpoint.json'), cpText);
    return path;
  };
  let keysText = '';
  let cpText = '';
  const flags = (withCheckpoint: boolean) => [
    '--public-key',
    rootPem,
    '--keys',
    keysFile,
    ...(withCheckpoint ? ['--checkpoint', cpFile] : []),
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zt-audit-tamper-'));
    // Record 1 certifies the session key that signs the rest (so every record's key is known via --keys).
    chain = await makeChain({ count: 12, sessionKey: true });
    rootPem = file('root.pem', chain.rootPem);
    const cert = chain.records[0] as KeyRecord;
    keysText = JSON.stringify({
      keys: [
        { keyId: chain.rootSigner.keyId, role: 'root', publicKeyPem: chain.rootPem },
        { keyId: cert.certified_key_id, role: 'session', certificate: cert },
      ],
    });
    keysFile = file('keys.json', keysText);
    cpText = JSON.stringify(await checkpointOver(chain.lines, chain.rootSigner));
    cpFile = file('checkpoint.json', cpText);
    const r = chain.records;
    const decision = r.find((x) => x.kind === 'decision' && x.seq > 4) as AuditRecord;
    cuts = [
      ['its first record alone', [r[0] as AuditRecord]],
      [`one of its decisions alone (seq ${decision.seq})`, [decision]],
      ['its last record alone', [r[r.length - 1] as AuditRecord]],
      ['the tail cut', r.slice(0, r.length - 3)],
      ['the head cut', r.slice(3)],
      ['a record taken out of the middle', [...r.slice(0, 5), ...r.slice(6)]],
      ['nothing left', []],
    ];
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** The honest full log as exported (JSON Lines), with or without the checkpoint. */
  async function honestExit(withCheckpoint: boolean): Promise<number> {
    const path = file('honest.jsonl', `${chain.lines.join('\n')}\n`);
    return (await run(['verify', path, ...flags(withCheckpoint)])).code;
  }

  it('rates the honest log 0 with a checkpoint and 3 without, in every shape that holds a log', async () => {
    const exits: Record<string, [number, number]> = {};
    for (const [name, shape] of Object.entries(SHAPES)) {
      const text = shape.encode(chain.records);
      if (text === null) continue;
      const path = file('honest', text);
      exits[name] = [
        (await run(['verify', path, ...flags(true)])).code,
        (await run(['verify', path, ...flags(false)])).code,
      ];
    }

    expect(await honestExit(true)).toBe(0);
    expect(await honestExit(false)).toBe(3);
    for (const [name, pair] of Object.entries(exits)) expect([name, pair]).toEqual([name, [0, 3]]);
  });

  for (const [name, shape] of Object.entries(SHAPES)) {
    for (const delivery of ['a file', 'standard input'] as const) {
      describe(`when the log is given as ${name}, from ${delivery}`, () => {
        it('exits no better than the honest log for every cut, with or without a checkpoint', async () => {
          const better: string[] = [];
          let tried = 0;
          for (const withCheckpoint of [true, false]) {
            const honest = await honestExit(withCheckpoint);
            for (const [cut, records] of cuts) {
              const text = shape.encode(records);
              if (text === null) continue;
              tried++;
              const result =
                delivery === 'a file'
                  ? await run(['verify', file('gutted', text), ...flags(withCheckpoint)])
                  : await run(['verify', '-', ...flags(withCheckpoint)], text);
              // With the checkpoint over the whole log, every cut is tamper evidence.
              const floor = withCheckpoint ? 1 : honest;
              if ((RANK[result.code] ?? -1) < (RANK[floor] ?? 0)) {
                better.push(
                  `${cut}, ${withCheckpoint ? 'with' : 'without'} checkpoint: exit ${result.code}, honest ${honest}`,
                );
              }
            }
          }

          expect(tried).toBeGreaterThan(0);
          expect(better).toEqual([]);
        });
      });
    }
  }

  describe('when the text itself is cut off mid-way (the reader falls back to lines, or to one unreadable entry)', () => {
    it('exits 1 from a file and from standard input, with or without a checkpoint', async () => {
      const full = {
        'a pretty JSON array': JSON.stringify(chain.records, null, 2),
        'a JSON array on one line': JSON.stringify(chain.records),
        'a pretty GET /audit page': JSON.stringify({ records: chain.records, next: null }, null, 2),
        'JSON Lines': `${chain.lines.join('\n')}\n`,
        'a pretty decision response': JSON.stringify(
          decisionResponse(chain.records[4] as AuditRecord),
          null,
          2,
        ),
      };
      const results: string[] = [];
      for (const [name, text] of Object.entries(full)) {
        // Cut inside a record, so no entry is whole at the cut.
        const cut = text.slice(0, Math.floor(text.length * 0.6));
        for (const withCheckpoint of [true, false]) {
          const fromFile = await run(['verify', file('cut', cut), ...flags(withCheckpoint)]);
          const fromStdin = await run(['verify', '-', ...flags(withCheckpoint)], cut);
          results.push(`${name}, ${withCheckpoint ? 'with' : 'without'}: ${fromFile.code} ${fromStdin.code}`);
        }
      }

      expect(results.filter((r) => !r.endsWith(': 1 1'))).toEqual([]);
    });
  });

  describe('when the log is given as a bundle directory', () => {
    it('exits no better than the honest bundle for every cut and every shape of records.jsonl', async () => {
      const honestWith = (
        await run([
          'verify',
          '--bundle',
          bundle(`${chain.lines.join('\n')}\n`, true),
          '--public-key',
          rootPem,
        ])
      ).code;
      const honestWithout = (
        await run([
          'verify',
          '--bundle',
          bundle(`${chain.lines.join('\n')}\n`, false),
          '--public-key',
          rootPem,
        ])
      ).code;
      const better: string[] = [];
      for (const [name, shape] of Object.entries(SHAPES)) {
        for (const [cut, records] of cuts) {
          const text = shape.encode(records);
          if (text === null) continue;
          for (const withCheckpoint of [true, false]) {
            const result = await run([
              'verify',
              '--bundle',
              bundle(text, withCheckpoint),
              '--public-key',
              rootPem,
            ]);
            const floor = withCheckpoint ? 1 : honestWithout;
            if ((RANK[result.code] ?? -1) < (RANK[floor] ?? 0)) {
              better.push(
                `${name}, ${cut}, ${withCheckpoint ? 'with' : 'without'} checkpoint: exit ${result.code}`,
              );
            }
          }
        }
      }

      expect([honestWith, honestWithout]).toEqual([0, 3]);
      expect(better).toEqual([]);
    });
  });
});
