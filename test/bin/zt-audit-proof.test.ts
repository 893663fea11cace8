import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer, signRecord } from '../../core/keys/signing.js';
import { leafHash, rootFromLeaves } from '../../core/log/merkle.js';
import type { AuditRecord, KeyRecord } from '../../core/model/records.js';
import type { AuditReport } from '../../core/verify/auditReport.js';
import type { AuditReceipt } from '../../core/verify/receipt.js';
import { ChainBuilder, cloneRecord, type MadeChain, makeChain, toLine } from '../helpers/chainFactory.js';
import { checkpointOver, type Run, run } from '../helpers/ztAudit.js';

function keysOf(chain: MadeChain, rootPem = chain.rootPem, rootId = chain.rootSigner.keyId) {
  const cert = chain.records[0] as KeyRecord;
  return {
    keys: [
      { keyId: rootId, role: 'root', publicKeyPem: rootPem },
      {
        keyId: cert.certified_key_id,
        role: 'session',
        publicKeyPem: cert.certified_public_key_pem,
        notBefore: cert.not_before,
        notAfter: cert.not_after,
        certificate: cert,
      },
    ],
  };
}

/** Codes and seqs of a JSON report: what the tests assert (never message text). */
function codes(result: Run): Array<[string, number | null]> {
  return (JSON.parse(result.stdout) as AuditReport).findings.map((f) => [f.code, f.seq]);
}

describe('zt-audit verify with checkpoints, bundles and keys', () => {
  let dir: string;
  let chain: MadeChain;
  let rootPem: string;
  let n = 0;
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  /** Writes a bundle; each part can be replaced. */
  const bundle = async (parts: { lines?: string[]; checkpoint?: unknown; keys?: unknown } = {}) => {
    const path = join(dir, `bundle-${++n}`);
    mkdirSync(path);
    const lines = parts.lines ?? chain.lines;
    writeFileSync(join(path, 'records.jsonl'), `${lines.join('\n')}\n`);
    const cp = parts.checkpoint ?? (await checkpointOver(chain.lines, chain.rootSigner));
    writeFileSync(join(path, 'checkpoint.json'), JSON.stringify(cp));
    writeFileSync(join(path, 'keys.json'), JSON.stringify(parts.keys ?? keysOf(chain)));
    return path;
  };
  const verify = (b: string, ...more: string[]) =>
    run(['verify', '--bundle', b, '--public-key', rootPem, '--json', ...more]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zt-audit-proof-'));
    chain = await makeChain({ count: 30, sessionKey: true });
    rootPem = file('root.pem', chain.rootPem);
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when a bundle is gutted into something that looks like a single record', () => {
    it('refuses a decision-response first line followed by a tampered tail', async () => {
      const [first, second] = chain.lines as [string, string];
      const forged = `${JSON.stringify({ audit: JSON.parse(first) })}\n${second.replace('"seq":2', '"seq":9')}\nTOTAL GARBAGE`;
      const b = await bundle();
      writeFileSync(join(b, 'records.jsonl'), `${forged}\n`);

      const result = await verify(b);

      expect(result.code).toBe(1);
      expect(codes(result).length).toBeGreaterThan(0);
    });

    it('refuses one pretty-printed record checked against a checkpoint over the whole log', async () => {
      const b = await bundle();
      writeFileSync(
        join(b, 'records.jsonl'),
        `${JSON.stringify(JSON.parse(chain.lines[0] as string), null, 2)}\n`,
      );

      const result = await verify(b);

      expect(result.code).toBe(1);
      expect(codes(result).map(([code]) => code)).toContain('LOG_TRUNCATED');
    });

    it('checks a lone decision response against a checkpoint given with --checkpoint', async () => {
      const single = file(
        'single.json',
        JSON.stringify({ ok: true, audit: JSON.parse(chain.lines[0] as string) }),
      );
      const cp = file('cp-all.json', JSON.stringify(await checkpointOver(chain.lines, chain.rootSigner)));

      const result = await run(['verify', single, '--public-key', rootPem, '--checkpoint', cp, '--json']);

      expect(result.code).toBe(1);
      expect(codes(result).map(([code]) => code)).toContain('LOG_TRUNCATED');
    });
  });

  describe('when the bundle is intact', () => {
    it('exits 0 and says the checkpoint covers the tail', async () => {
      const b = await bundle();

      const human = await run(['verify', '--bundle', b, '--public-key', rootPem]);
      const json = await verify(b);

      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(
        /^verified 30 records \(seq 1-30\), 2 keys, checkpoint 30 covers the tail/,
      );
      expect(JSON.parse(json.stdout)).toMatchObject({
        status: 'valid',
        checkpoint: { size: 30, covered: true },
      });
    });

    it('accepts several checkpoints that are prefixes of the log (GET /audit/checkpoints output too)', async () => {
      const b = await bundle();
      const list = file(
        'checkpoints.json',
        JSON.stringify({
          checkpoints: [
            await checkpointOver(chain.lines, chain.rootSigner, 1),
            await checkpointOver(chain.lines, chain.rootSigner, 17),
          ],
        }),
      );

      const result = await verify(b, '--checkpoint', list);

      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ checkpointsVerified: 3 });
    });

    it('verifies a suffix whose certificate comes from the keys file', async () => {
      const suffix = file('suffix.jsonl', chain.lines.slice(10).join('\n'));
      const keys = file('keys.json', JSON.stringify(keysOf(chain)));

      const result = await run([
        'verify',
        suffix,
        '--public-key',
        rootPem,
        '--keys',
        keys,
        '--from-seq',
        '11',
        '--expect-previous',
        chain.records[9]?.current_hash as string,
        '--json',
      ]);

      // Signatures all verify; only completeness cannot be shown for a suffix.
      expect(codes(result)).toEqual([['CHECKPOINT_NOT_CHECKABLE', null]]);
      expect(result.code).toBe(3);
    });

    it('verifies the same on worker threads as inline, for a large input', async () => {
      const big = await makeChain({ count: 2600, sessionKey: true });
      const forged = cloneRecord(big.records[2199] as AuditRecord);
      const foreign = InMemoryP256Signer.generate();
      forged.kms_signature.signature = await foreign.sign(Buffer.from('x'));
      const lines = [...big.lines];
      lines[2199] = toLine(forged);
      const path = file('big.jsonl', lines.join('\n'));
      const cp = file('big-cp.json', JSON.stringify(await checkpointOver(big.lines, big.rootSigner)));
      const key = file('big-root.pem', big.rootPem);

      const threaded = await run([
        'verify',
        path,
        '--public-key',
        key,
        '--checkpoint',
        cp,
        '--threads',
        '2',
        '--json',
      ]);
      const inline = await run([
        'verify',
        path,
        '--public-key',
        key,
        '--checkpoint',
        cp,
        '--threads',
        '1',
        '--json',
      ]);

      expect(codes(threaded)).toEqual([
        ['SIGNATURE_INVALID', 2200],
        ['CHECKPOINT_ROOT_MISMATCH', 2600],
      ]);
      expect(codes(inline)).toEqual(codes(threaded));
      expect(threaded.code).toBe(1);
    });
  });

  describe('when the bundle was tampered with (each case its own code and seq)', () => {
    it('truncated tail with a checkpoint present: LOG_TRUNCATED, exit 1 (not incomplete)', async () => {
      const b = await bundle({ lines: chain.lines.slice(0, 25) });

      const result = await verify(b);

      expect(codes(result)).toEqual([['LOG_TRUNCATED', 26]]);
      expect(result.code).toBe(1);
    });

    it('a signature replaced by one from another key: SIGNATURE_INVALID', async () => {
      const forged = cloneRecord(chain.records[11] as AuditRecord);
      const foreign = InMemoryP256Signer.generate();
      forged.kms_signature.signature = await foreign.sign(Buffer.from(forged.current_hash, 'hex'));
      const lines = [...chain.lines];
      lines[11] = toLine(forged);

      const result = await verify(await bundle({ lines }));

      // The hash is intact, so the Merkle root changes only through the signature bytes.
      expect(codes(result)).toEqual([
        ['SIGNATURE_INVALID', 12],
        ['CHECKPOINT_ROOT_MISMATCH', 30],
      ]);
      expect(result.code).toBe(1);
    });

    it('a key certificate signed by a non-root key in the keys file: KEYS_CERTIFICATE_INVALID', async () => {
      const suffix = file('suffix2.jsonl', chain.lines.slice(10).join('\n'));
      const impostor = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      const fake = await builder.certify(impostor, chain.sessionSigner as InMemoryP256Signer);
      const keys = keysOf(chain);
      (keys.keys[1] as { certificate: unknown }).certificate = fake;
      const keysFile = file('keys-fake-cert.json', JSON.stringify(keys));

      const result = await run([
        'verify',
        suffix,
        '--public-key',
        rootPem,
        '--keys',
        keysFile,
        '--from-seq',
        '11',
        '--expect-previous',
        chain.records[9]?.current_hash as string,
        '--json',
      ]);

      expect(codes(result)).toEqual([
        ['KEYS_CERTIFICATE_INVALID', 1],
        ['UNKNOWN_SIGNING_KEY', 11],
        ['CHECKPOINT_NOT_CHECKABLE', null],
      ]);
      expect(result.code).toBe(1);
    });

    it('an altered checkpoint: CHECKPOINT_SIGNATURE_INVALID, or CHECKPOINT_FIELDS_MISMATCH', async () => {
      const good = await checkpointOver(chain.lines, chain.rootSigner);
      const otherRoot = rootFromLeaves(chain.lines.slice(0, 29).map((l) => leafHash(l))).toString('base64');
      const noteAltered = {
        ...good,
        size: 29,
        root: otherRoot,
        note: good.note.replace(`\n30\n${good.root}`, `\n29\n${otherRoot}`),
      };
      const fieldAltered = { ...good, size: 29 };

      const a = await verify(await bundle({ lines: chain.lines.slice(0, 29), checkpoint: noteAltered }));
      const b = await verify(await bundle({ checkpoint: fieldAltered }));

      expect(codes(a)).toEqual([['CHECKPOINT_SIGNATURE_INVALID', 29]]);
      expect(codes(b)).toEqual([['CHECKPOINT_FIELDS_MISMATCH', 29]]);
      expect([a.code, b.code]).toEqual([1, 1]);
    });

    it('a checkpoint not consistent with an earlier one (log rewritten after it): CHECKPOINT_INCONSISTENT', async () => {
      // The log as it was when checkpoint 10 was signed, then rewritten from seq 1 and checkpointed again
      // by a gateway that holds the root key.
      const earlier = await checkpointOver(chain.lines, chain.rootSigner, 10);
      const rewritten = await makeChain({
        count: 30,
        sessionKey: true,
        rootSigner: chain.rootSigner,
        start: new Date('2026-11-26T08:00:05.000Z'),
      });
      const b = await bundle({
        lines: rewritten.lines,
        checkpoint: await checkpointOver(rewritten.lines, chain.rootSigner),
        keys: keysOf(rewritten),
      });
      const old = file('earlier.json', JSON.stringify(earlier));

      const result = await verify(b, '--checkpoint', old);

      expect(codes(result)).toEqual([['CHECKPOINT_INCONSISTENT', 10]]);
      expect(result.code).toBe(1);
    });

    it('a bundle whose keys file was swapped: KEYS_ROOT_MISMATCH, and its certificates add nothing', async () => {
      const attacker = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const fake = await new ChainBuilder().certify(attacker, session);
      const swapped = {
        keys: [
          { keyId: attacker.keyId, role: 'root', publicKeyPem: attacker.publicKeyPem },
          { keyId: session.keyId, role: 'session', publicKeyPem: session.publicKeyPem, certificate: fake },
        ],
      };

      const result = await verify(await bundle({ keys: swapped }));

      expect(codes(result)).toEqual([
        ['KEYS_ROOT_MISMATCH', null],
        ['KEYS_CERTIFICATE_INVALID', 1],
      ]);
      expect(result.code).toBe(1);
    });

    it('a stale newest checkpoint: CHECKPOINT_STALE, exit 3', async () => {
      const b = await bundle();

      const stale = await verify(b, '--max-age', '30m');
      const fresh = await verify(b, '--max-age', '2h');

      expect(codes(stale)).toEqual([['CHECKPOINT_STALE', null]]);
      expect(stale.code).toBe(3);
      expect(fresh.code).toBe(0);
    });

    it('records after the newest checkpoint: TAIL_NOT_COVERED, exit 3; no checkpoint: NO_CHECKPOINT', async () => {
      const b = await bundle({ checkpoint: await checkpointOver(chain.lines, chain.rootSigner, 20) });
      const log = file('plain.jsonl', chain.lines.join('\n'));

      const uncovered = await verify(b);
      const none = await run(['verify', log, '--public-key', rootPem, '--json']);

      expect(codes(uncovered)).toEqual([['TAIL_NOT_COVERED', 21]]);
      expect(uncovered.code).toBe(3);
      expect(codes(none)).toEqual([['NO_CHECKPOINT', null]]);
      expect(none.code).toBe(3);
    });

    it('refuses to run without --public-key even with a keys file (exit 2)', async () => {
      const result = await run(['verify', '--bundle', await bundle()]);

      expect(result.code).toBe(2);
    });
  });

  describe('when checking references', () => {
    const build = async (steps: Array<(b: ChainBuilder, root: InMemoryP256Signer) => Promise<unknown>>) => {
      const root = InMemoryP256Signer.generate();
      const b = new ChainBuilder();
      for (const step of steps) await step(b, root);
      const lines = b.lines;
      const path = file(`refs-${++n}.jsonl`, lines.join('\n'));
      const cp = file(`refs-cp-${n}.json`, JSON.stringify(await checkpointOver(lines, root)));
      const key = file(`refs-root-${n}.pem`, root.publicKeyPem);
      return run(['verify', path, '--public-key', key, '--checkpoint', cp, '--json']);
    };
    const agent = (change: 'register' | 'disable') => (b: ChainBuilder, root: InMemoryP256Signer) =>
      b.append(
        { kind: 'agent', agent_id: 'ci', change, bound_principal_arn: 'arn:aws:iam::1:role/ci' },
        root,
      );
    const policy = (change: 'put' | 'delete') => (b: ChainBuilder, root: InMemoryP256Signer) =>
      b.append(
        change === 'put'
          ? {
              kind: 'policy',
              policy_id: 'allow-ci-terminate',
              change,
              cedar: 'permit(principal, action, resource);',
              policy_sha256: 'a'.repeat(64),
            }
          : { kind: 'policy', policy_id: 'allow-ci-terminate', change, cedar: null, policy_sha256: null },
        root,
      );
    const decision =
      (which: 'allow' | 'deny', actor = 'ci') =>
      (b: ChainBuilder, root: InMemoryP256Signer) =>
        b.appendSample('decision', root).then(async () => {
          // appendSample alternates allow/deny: rewrite the last one to what the case needs.
          const last = b.records.pop() as AuditRecord & { decision: string };
          const fields = {
            ...last,
            decision: which,
            actor,
            policy_ids: which === 'allow' ? ['allow-ci-terminate'] : [],
          };
          const {
            schema: _s,
            chain: _c,
            seq: _q,
            id: _i,
            timestamp,
            principal_arn: _p,
            signing_key_id: _k,
            previous_hash: _h,
            current_hash: _x,
            kms_signature: _g,
            ...kind
          } = fields;
          return b.append(kind as never, root, { timestamp: new Date(timestamp) });
        });

    it('accepts allows under a policy in force for a registered agent, and denies naming anyone', async () => {
      const result = await build([
        agent('register'),
        policy('put'),
        decision('allow'),
        decision('deny', 'nobody'),
      ]);

      expect(codes(result)).toEqual([]);
      expect(result.code).toBe(0);
    });

    it('reports POLICY_NOT_IN_FORCE and ACTOR_NOT_REGISTERED for an allow with nothing behind it', async () => {
      const result = await build([decision('allow')]);

      expect(codes(result)).toEqual([
        ['POLICY_NOT_IN_FORCE', 1],
        ['ACTOR_NOT_REGISTERED', 1],
      ]);
      expect(result.code).toBe(1);
    });

    it('reports an allow after its policy was deleted, or its agent disabled', async () => {
      const result = await build([
        agent('register'),
        policy('put'),
        decision('allow'),
        policy('delete'),
        decision('allow'),
        policy('put'),
        agent('disable'),
        decision('allow'),
      ]);

      expect(codes(result)).toEqual([
        ['POLICY_NOT_IN_FORCE', 5],
        ['ACTOR_DISABLED', 8],
      ]);
    });
  });

  describe('when proving one record with a receipt', () => {
    it('proves a session-signed record, and verify-receipt accepts it with the root key alone', async () => {
      const b = await bundle();
      const out = join(dir, 'receipt-17.json');

      const proved = await run(['prove', '17', '--bundle', b, '--out', out]);
      const checked = await run(['verify-receipt', out, '--public-key', rootPem]);

      expect(proved.code, proved.stderr).toBe(0);
      const receipt = JSON.parse(readFileSync(out, 'utf8')) as AuditReceipt;
      expect(receipt.record.seq).toBe(17);
      expect(receipt.certificate?.record.seq).toBe(1);
      expect(receipt.proof).toMatchObject({ leafIndex: 16, treeSize: 30 });
      expect(checked.code).toBe(0);
      expect(checked.stdout).toMatch(
        /^verified receipt: record main-17 is in the log of its lane's checkpoint 30/,
      );
    });

    it.each([
      [
        'an altered record',
        (r: AuditReceipt) => Object.assign(r.record, { principal_arn: 'arn:aws:iam::9:role/x' }),
        'HASH_MISMATCH',
      ],
      ['a proof for another leaf', (r: AuditReceipt) => r.proof.hashes.reverse(), 'INCLUSION_PROOF_INVALID'],
      [
        'no certificate for the session key',
        (r: AuditReceipt) => Object.assign(r, { certificate: null }),
        'UNKNOWN_SIGNING_KEY',
      ],
      [
        'an altered checkpoint',
        (r: AuditReceipt) =>
          Object.assign(r.checkpoint, { note: r.checkpoint.note.replace('\n30\n', '\n31\n'), size: 31 }),
        'CHECKPOINT_SIGNATURE_INVALID',
      ],
    ] as const)('refuses a receipt with %s (%s)', async (_name, tamper, code) => {
      const b = await bundle();
      const proved = await run(['prove', '17', '--bundle', b]);
      const receipt = JSON.parse(proved.stdout) as AuditReceipt;
      tamper(receipt);
      const path = file(`receipt-${++n}.json`, JSON.stringify(receipt));

      const result = await run(['verify-receipt', path, '--public-key', rootPem, '--json']);

      expect(result.code).toBe(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, code });
    });

    it('refuses a certificate signed by a non-root key (CERTIFICATE_NOT_ROOT_SIGNED)', async () => {
      const b = await bundle();
      const receipt = JSON.parse((await run(['prove', '17', '--bundle', b])).stdout) as AuditReceipt;
      const impostor = InMemoryP256Signer.generate();
      const cert = receipt.certificate?.record as KeyRecord;
      const {
        current_hash: _h,
        kms_signature: _s,
        ...unsigned
      } = { ...cert, signing_key_id: impostor.keyId };
      (receipt.certificate as { record: KeyRecord }).record = (await signRecord(
        unsigned as never,
        impostor,
      )) as KeyRecord;
      const path = file('receipt-impostor.json', JSON.stringify(receipt));

      const result = await run(['verify-receipt', path, '--public-key', rootPem, '--json']);

      expect(JSON.parse(result.stdout)).toMatchObject({
        ok: false,
        code: 'CERTIFICATE_NOT_ROOT_SIGNED',
        seq: 1,
      });
    });

    it('will not prove a record the checkpoint does not cover, or from a bundle that does not match it', async () => {
      const short = await bundle({ checkpoint: await checkpointOver(chain.lines, chain.rootSigner, 10) });
      const lines = [...chain.lines];
      const forged = cloneRecord(chain.records[5] as AuditRecord);
      forged.principal_arn = 'arn:aws:iam::9:role/x';
      lines[5] = toLine(forged);
      const broken = await bundle({ lines });

      const beyond = await run(['prove', '17', '--bundle', short]);
      const mismatch = await run(['prove', '17', '--bundle', broken]);

      expect(beyond.code).toBe(1);
      expect(beyond.stderr).toMatch(/NOT_CHECKPOINTED/);
      expect(mismatch.code).toBe(1);
      expect(mismatch.stderr).toMatch(/CHECKPOINT_ROOT_MISMATCH/);
    });
  });
});
