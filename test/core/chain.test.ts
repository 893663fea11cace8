import { spawnSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InMemoryP256Signer, keyIdOf, recordSigningPayload } from '../../core/keys/signing.js';
import { leafHash } from '../../core/log/merkle.js';
import { canonicalize, sha256Hex } from '../../core/model/canonical.js';
import { BASE_RECORD_FIELDS, KIND_FIELDS, RecordFormatError } from '../../core/model/recordFormat.js';
import { parseAuditRecord, validateAuditRecord } from '../../core/model/recordParser.js';
import {
  type AuditRecord,
  GENESIS_HASH,
  type KeyRecord,
  SIGNATURE_ALGORITHM,
} from '../../core/model/records.js';
import { ChainVerifier, verifyChain } from '../../core/verify/ChainVerifier.js';
import {
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
} from '../../core/verify/chainVerifierOptions.js';
import { prepareLine } from '../../core/verify/prepareLine.js';
import { VERIFICATION_CODES, type VerificationReport } from '../../core/verify/verificationCodes.js';
import {
  ChainBuilder,
  cloneRecord,
  makeChain,
  rehashFrom,
  sampleFields,
  toLine,
} from '../helpers/chainFactory.js';

/** Codes and seqs of a report's findings: what the tests assert (never message text). */
function summary(report: VerificationReport): Array<[string, number | null]> {
  return report.findings.map((f) => [f.code, f.seq]);
}

function replaceRecord(lines: string[], seq: number, record: AuditRecord): string[] {
  const out = [...lines];
  out[seq - 1] = toLine(record);
  return out;
}

function at(records: AuditRecord[], seq: number): AuditRecord {
  const r = records[seq - 1];
  if (!r) throw new Error(`no record ${seq}`);
  return cloneRecord(r);
}

describe('ChainVerifier', () => {
  describe('when the chain is intact', () => {
    it('accepts 20 records signed by the root key', async () => {
      const chain = await makeChain({ count: 20 });

      const report = verifyChain(chain.lines, { trustedRootKeys: [chain.rootPem] });

      expect(report).toEqual({
        ok: true,
        records: 20,
        firstSeq: 1,
        lastSeq: 20,
        headHash: chain.records[19]?.current_hash,
        keysUsed: [chain.rootSigner.keyId],
        findings: [],
      });
    });

    it('accepts 20 records signed by a session key certified by the root', async () => {
      const chain = await makeChain({ count: 20, sessionKey: true });

      const report = verifyChain(chain.lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.keysUsed).toEqual([chain.rootSigner.keyId, chain.sessionSigner?.keyId]);
      expect(chain.records[0]?.kind).toBe('key');
      expect(new Set(chain.records.map((r) => r.kind))).toEqual(
        new Set(['key', 'agent', 'policy', 'decision', 'outcome']),
      );
    });

    it('streams from any iterable, fed one line at a time', async () => {
      const chain = await makeChain({ count: 12, sessionKey: true });
      function* lines() {
        yield* chain.lines;
      }

      const verifier = new ChainVerifier({ trustedRootKeys: [chain.rootPem] });
      for (const line of lines()) verifier.add(line);

      expect(verifier.finish().ok).toBe(true);
    });

    it('accepts parsed records through addRecord', async () => {
      const chain = await makeChain({ count: 5 });
      const verifier = new ChainVerifier({ trustedRootKeys: [chain.rootPem] });

      for (const r of chain.records) verifier.addRecord(JSON.parse(JSON.stringify(r)));

      expect(verifier.finish()).toMatchObject({ ok: true, records: 5, lastSeq: 5 });
    });

    it('reports a cut tail only through lastSeq: checkpoints make it detectable, not the chain', async () => {
      // A log missing its newest records is a valid shorter chain. The signed checkpoint that
      // covers the head (DESIGN.md) is what catches this; the chain verifier reports where it ends.
      const chain = await makeChain({ count: 20 });

      const report = verifyChain(chain.lines.slice(0, 15), { trustedRootKeys: [chain.rootPem] });

      expect(report.ok).toBe(true);
      expect(report.lastSeq).toBe(15);
      expect(report.headHash).toBe(chain.records[14]?.current_hash);
    });
  });

  describe('when a hashed field is changed', () => {
    it.each([
      ['decision', (r: AuditRecord) => Object.assign(r, { decision: 'allow', reason: 'forged' })],
      ['outcome', (r: AuditRecord) => Object.assign(r, { status: 'failed' })],
      ['policy', (r: AuditRecord) => Object.assign(r, { cedar: 'permit(principal, action, resource);' })],
      [
        'agent',
        (r: AuditRecord) => Object.assign(r, { bound_principal_arn: 'arn:aws:iam::999999999999:role/x' }),
      ],
    ] as const)('reports HASH_MISMATCH at the changed %s record', async (kind, tamper) => {
      const chain = await makeChain({ count: 20, sessionKey: true });
      const target =
        chain.records.find((r) => r.kind === kind && r.seq > 2) ?? chain.records.find((r) => r.kind === kind);
      if (!target) throw new Error(`no ${kind} record`);
      const changed = tamper(cloneRecord(target));

      const report = verifyChain(replaceRecord(chain.lines, target.seq, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(summary(report)).toEqual([['HASH_MISMATCH', target.seq]]);
    });

    it('reports HASH_MISMATCH at a changed key record, and does not trust the key it certified', async () => {
      const chain = await makeChain({ count: 20, sessionKey: true });
      const changed = at(chain.records, 1);
      if (changed.kind !== 'key') throw new Error('record 1 is not a key record');
      changed.not_after = '2030-01-01T00:00:00.000Z';

      const report = verifyChain(replaceRecord(chain.lines, 1, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(report.findings[0]).toMatchObject({ code: 'HASH_MISMATCH', seq: 1 });
      // One finding for the now-unknown session key, not one per record it signed.
      expect(summary(report)).toEqual([
        ['HASH_MISMATCH', 1],
        ['UNKNOWN_SIGNING_KEY', 2],
      ]);
    });

    it('reports HASH_MISMATCH, then LINK_BROKEN at the next record, when only current_hash changed', async () => {
      const chain = await makeChain({ count: 20 });
      const changed = at(chain.records, 7);
      changed.current_hash = 'a'.repeat(64);

      const report = verifyChain(replaceRecord(chain.lines, 7, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(summary(report)).toEqual([
        ['HASH_MISMATCH', 7],
        ['LINK_BROKEN', 8],
      ]);
    });

    it('reports SIGNATURE_INVALID when the hashes and links after it were recomputed', async () => {
      const chain = await makeChain({ count: 20, sessionKey: true });
      const records = chain.records.map((r) => cloneRecord(r));
      const target = records[9] as AuditRecord;
      Object.assign(target, { principal_arn: 'arn:aws:iam::999999999999:role/intruder' });
      const forged = rehashFrom(records, 9);

      const report = verifyChain(forged.map(toLine), { trustedRootKeys: [chain.rootPem] });

      expect(report.findings[0]).toMatchObject({ code: 'SIGNATURE_INVALID', seq: 10 });
      expect(report.findings.map((f) => f.code)).not.toContain('HASH_MISMATCH');
      expect(report.findings.map((f) => f.code)).not.toContain('LINK_BROKEN');
    });
  });

  describe('when records are removed, moved or repeated', () => {
    it('reports one SEQ_GAP at the record after a deleted middle record', async () => {
      const chain = await makeChain({ count: 20 });
      const lines = chain.lines.filter((_, i) => i !== 9);

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SEQ_GAP', 11]]);
      expect(report.findings[0]?.line).toBe(10);
      expect(report.lastSeq).toBe(20);
    });

    it('reports one SEQ_GAP for several consecutive deletions', async () => {
      const chain = await makeChain({ count: 20 });
      const lines = [...chain.lines.slice(0, 5), ...chain.lines.slice(12)];

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SEQ_GAP', 13]]);
    });

    it('reports SEQ_GAP when the head of the chain is missing', async () => {
      const chain = await makeChain({ count: 10 });

      const report = verifyChain(chain.lines.slice(3), { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SEQ_GAP', 4]]);
    });

    it('reports one SEQ_OUT_OF_ORDER, at the record that came early, for two swapped records', async () => {
      const chain = await makeChain({ count: 20 });
      const lines = [...chain.lines];
      [lines[9], lines[10]] = [lines[10] as string, lines[9] as string];

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(report.findings[0]).toMatchObject({ code: 'SEQ_OUT_OF_ORDER', seq: 11, line: 10 });
      expect(summary(report)).toEqual([['SEQ_OUT_OF_ORDER', 11]]);
      expect(report.lastSeq).toBe(20);
    });

    it('reports two SEQ_OUT_OF_ORDER, and no gap, for records swapped far apart', async () => {
      const chain = await makeChain({ count: 20 });
      const lines = [...chain.lines];
      [lines[4], lines[9]] = [lines[9] as string, lines[4] as string];

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([
        ['SEQ_OUT_OF_ORDER', 10],
        ['SEQ_OUT_OF_ORDER', 5],
      ]);
    });

    it('reports one SEQ_OUT_OF_ORDER for a record moved later, or earlier', async () => {
      const chain = await makeChain({ count: 20 });
      const later = [...chain.lines];
      later.splice(12, 0, ...later.splice(4, 1)); // seq 5 after seq 13
      const earlier = [...chain.lines];
      earlier.splice(3, 0, ...earlier.splice(14, 1)); // seq 15 after seq 3

      const movedLater = verifyChain(later, { trustedRootKeys: [chain.rootPem] });
      const movedEarlier = verifyChain(earlier, { trustedRootKeys: [chain.rootPem] });

      expect(summary(movedLater)).toEqual([['SEQ_OUT_OF_ORDER', 5]]);
      expect(summary(movedEarlier)).toEqual([['SEQ_OUT_OF_ORDER', 15]]);
    });

    it('reports LINK_BROKEN around a swapped record that was also altered', async () => {
      const chain = await makeChain({ count: 10 });
      const forged = at(chain.records, 5);
      forged.previous_hash = 'b'.repeat(64);
      const lines = [...chain.lines];
      lines[4] = lines[5] as string;
      lines[5] = toLine(rehashFrom([forged], 0)[0] as AuditRecord);

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(report.findings[0]).toMatchObject({ code: 'SEQ_OUT_OF_ORDER', seq: 6 });
      expect(summary(report)).toContainEqual(['LINK_BROKEN', 5]);
    });

    it('reports SEQ_DUPLICATE for a repeated record', async () => {
      const chain = await makeChain({ count: 20 });
      const lines = [...chain.lines.slice(0, 5), chain.lines[4] as string, ...chain.lines.slice(5)];

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SEQ_DUPLICATE', 5]]);
      expect(report.findings[0]?.line).toBe(6);
    });

    it('reports SEQ_DUPLICATE for a second, validly signed record at the same seq (a fork)', async () => {
      const chain = await makeChain({ count: 6 });
      const fork = new ChainBuilder({ start: new Date('2026-11-26T09:00:00.000Z') });
      fork.records.push(...chain.records.slice(0, 3).map((r) => cloneRecord(r)));
      const forked = await fork.appendSample('decision', chain.rootSigner);
      const lines = [...chain.lines.slice(0, 4), toLine(forked), ...chain.lines.slice(4)];

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SEQ_DUPLICATE', 4]]);
    });

    it('reports LINK_BROKEN at seq 1 for a wrong genesis', async () => {
      const root = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.appendSample('agent', root, { previousHash: 'f'.repeat(64) });
      await builder.appendSample('policy', root);

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([['LINK_BROKEN', 1]]);
    });

    it('reports CHAIN_NAME_MISMATCH for a record of another chain', async () => {
      const chain = await makeChain({ count: 3, chain: 'shard-2' });

      const report = verifyChain(chain.lines, { trustedRootKeys: [chain.rootPem], chain: 'main' });

      expect(report.findings[0]).toMatchObject({ code: 'CHAIN_NAME_MISMATCH', seq: 1 });
    });
  });

  describe('when signatures or keys are wrong', () => {
    it('reports UNKNOWN_SIGNING_KEY for a signature replaced by one from another key (key_id too)', async () => {
      const chain = await makeChain({ count: 20, sessionKey: true });
      const stranger = InMemoryP256Signer.generate();
      const changed = at(chain.records, 8);
      changed.kms_signature = {
        algorithm: SIGNATURE_ALGORITHM,
        key_id: stranger.keyId,
        signature: await stranger.sign(Buffer.from(recordSigningPayload(changed), 'utf8')),
      };

      const report = verifyChain(replaceRecord(chain.lines, 8, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(summary(report)).toEqual([['UNKNOWN_SIGNING_KEY', 8]]);
    });

    it('reports KEY_ID_MISMATCH when kms_signature.key_id names another known key', async () => {
      const chain = await makeChain({ count: 20, sessionKey: true });
      const changed = at(chain.records, 6);
      changed.kms_signature.key_id = chain.rootSigner.keyId;

      const report = verifyChain(replaceRecord(chain.lines, 6, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(summary(report)).toEqual([['KEY_ID_MISMATCH', 6]]);
    });

    it('reports SIGNATURE_INVALID for a signature of the right key over another record', async () => {
      const chain = await makeChain({ count: 10 });
      const changed = at(chain.records, 4);
      changed.kms_signature = at(chain.records, 3).kms_signature;

      const report = verifyChain(replaceRecord(chain.lines, 4, changed), {
        trustedRootKeys: [chain.rootPem],
      });

      expect(summary(report)).toEqual([['SIGNATURE_INVALID', 4]]);
    });

    it('reports UNKNOWN_SIGNING_KEY for a record signed by a key nobody certified', async () => {
      const root = InMemoryP256Signer.generate();
      const stranger = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      for (let i = 0; i < 5; i++) await builder.appendSample('decision', root);
      await builder.appendSample('decision', stranger);
      for (let i = 0; i < 4; i++) await builder.appendSample('outcome', root);

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([['UNKNOWN_SIGNING_KEY', 6]]);
    });

    it('reports UNKNOWN_SIGNING_KEY when the root key given is not the one that signed', async () => {
      const chain = await makeChain({ count: 5 });

      const report = verifyChain(chain.lines, {
        trustedRootKeys: [InMemoryP256Signer.generate().publicKeyPem],
      });

      expect(summary(report)).toEqual([['UNKNOWN_SIGNING_KEY', 1]]);
    });

    it('reports SESSION_KEY_OUTSIDE_WINDOW for records signed after not_after', async () => {
      // Window of 10 s from 1 s before record 1; records are 1 s apart, so record 10 is dated exactly at
      // not_after (the window is half-open: no longer valid) and record 11 is past it.
      const chain = await makeChain({ count: 20, sessionKey: true, sessionWindowMs: 10_000 });

      const report = verifyChain(chain.lines, { trustedRootKeys: [chain.rootPem] });

      expect(report.findings[0]).toMatchObject({ code: 'SESSION_KEY_OUTSIDE_WINDOW', seq: 10 });
      expect(new Set(report.findings.map((f) => f.code))).toEqual(new Set(['SESSION_KEY_OUTSIDE_WINDOW']));
    });

    it('refuses a record dated exactly at not_after, and accepts one a millisecond before (half-open window)', async () => {
      const root = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const notAfter = new Date('2026-11-26T09:00:00.000Z');
      const at = async (timestamp: Date) => {
        const builder = new ChainBuilder();
        await builder.certify(root, session, { notBefore: new Date('2026-11-26T08:00:00.000Z'), notAfter });
        await builder.appendSample('decision', session, { timestamp });
        return verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });
      };

      const lastValid = await at(new Date(notAfter.getTime() - 1));
      const atEnd = await at(notAfter);

      expect(summary(lastValid)).toEqual([]);
      expect(summary(atEnd)).toEqual([['SESSION_KEY_OUTSIDE_WINDOW', 2]]);
    });

    it('reports SESSION_KEY_OUTSIDE_WINDOW for a record dated before not_before', async () => {
      const root = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.certify(root, session, {
        notBefore: new Date('2026-11-26T08:10:00.000Z'),
        notAfter: new Date('2026-11-26T09:00:00.000Z'),
      });
      await builder.appendSample('decision', session, { timestamp: new Date('2026-11-26T08:05:00.000Z') });

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([['SESSION_KEY_OUTSIDE_WINDOW', 2]]);
    });

    it('reports CERTIFICATE_NOT_ROOT_SIGNED for a key record signed by a certified session key', async () => {
      const root = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const smuggled = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.certify(root, session);
      await builder.appendSample('decision', session);
      await builder.appendSample('outcome', session);
      await builder.certify(session, smuggled);
      await builder.appendSample('decision', smuggled);

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(report.findings[0]).toMatchObject({ code: 'CERTIFICATE_NOT_ROOT_SIGNED', seq: 4 });
      expect(summary(report)).toEqual([
        ['CERTIFICATE_NOT_ROOT_SIGNED', 4],
        ['UNKNOWN_SIGNING_KEY', 5],
      ]);
    });

    it('reports CERTIFICATE_INVALID when certified_key_id is not the id of the certified PEM', async () => {
      const root = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.append(
        {
          kind: 'key',
          certified_key_id: InMemoryP256Signer.generate().keyId,
          certified_public_key_pem: session.publicKeyPem,
          not_before: '2026-11-26T07:59:59.000Z',
          not_after: '2026-11-26T08:59:59.000Z',
        },
        root,
      );

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([['CERTIFICATE_INVALID', 1]]);
    });

    it('reports CERTIFICATE_INVALID for an inverted window', async () => {
      const root = InMemoryP256Signer.generate();
      const session = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.certify(root, session, {
        notBefore: new Date('2026-11-26T09:00:00.000Z'),
        notAfter: new Date('2026-11-26T08:00:00.000Z'),
      });
      await builder.appendSample('decision', session);

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([
        ['CERTIFICATE_INVALID', 1],
        ['UNKNOWN_SIGNING_KEY', 2],
      ]);
    });

    it('reports NO_TRUSTED_KEYS once, and no signature finding, without root keys', async () => {
      const chain = await makeChain({ count: 5 });

      const report = verifyChain(chain.lines, { trustedRootKeys: [] });

      expect(summary(report)).toEqual([['NO_TRUSTED_KEYS', null]]);
    });
  });

  describe('when a line is not a well-formed record', () => {
    it('reports NOT_CANONICAL for reordered keys, and nothing else', async () => {
      const chain = await makeChain({ count: 10 });
      const lines = [...chain.lines];
      lines[3] = JSON.stringify(chain.records[3]); // insertion order, not RFC 8785 order

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['NOT_CANONICAL', 4]]);
    });

    it('reports NOT_CANONICAL for extra whitespace', async () => {
      const chain = await makeChain({ count: 10 });
      const lines = [...chain.lines];
      lines[2] = (lines[2] as string).replace('"seq":3', '"seq": 3');

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['NOT_CANONICAL', 3]]);
    });

    it('reports SCHEMA_INVALID for an extra field, without a gap after it', async () => {
      const chain = await makeChain({ count: 10 });
      const lines = [...chain.lines];
      lines[4] = canonicalize({ ...chain.records[4], note: 'added later' });

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SCHEMA_INVALID', 5]]);
    });

    it('reports SCHEMA_INVALID for a float', async () => {
      const chain = await makeChain({ count: 10, kinds: ['decision', 'outcome', 'outcome'] });
      const target = chain.records.find((r) => r.kind === 'outcome' && r.exit_code === 0);
      if (!target) throw new Error('no finished outcome');
      const lines = [...chain.lines];
      lines[target.seq - 1] = (lines[target.seq - 1] as string).replace('"exit_code":0', '"exit_code":0.5');

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['SCHEMA_INVALID', target.seq]]);
    });

    it('reports PARSE_ERROR for a line that is not JSON, without cascading', async () => {
      const chain = await makeChain({ count: 10 });
      const lines = [...chain.lines];
      lines[5] = (lines[5] as string).slice(0, 40);

      const report = verifyChain(lines, { trustedRootKeys: [chain.rootPem] });

      expect(summary(report)).toEqual([['PARSE_ERROR', null]]);
      expect(report.findings[0]?.line).toBe(6);
    });

    it('reports EMPTY_LOG for no record at all', () => {
      const report = verifyChain(['', '  '], {
        trustedRootKeys: [InMemoryP256Signer.generate().publicKeyPem],
      });

      expect(summary(report)).toEqual([['EMPTY_LOG', null]]);
    });
  });

  describe('when verifying a suffix', () => {
    it('accepts records from fromSeq linked to expectPrevious', async () => {
      const chain = await makeChain({ count: 20 });

      const report = verifyChain(chain.lines.slice(10), {
        trustedRootKeys: [chain.rootPem],
        fromSeq: 11,
        expectPrevious: chain.records[9]?.current_hash,
      });

      expect(report).toMatchObject({ ok: true, records: 10, firstSeq: 11, lastSeq: 20 });
    });

    it('reports LINK_BROKEN when the suffix does not link to expectPrevious', async () => {
      const chain = await makeChain({ count: 20 });

      const report = verifyChain(chain.lines.slice(10), {
        trustedRootKeys: [chain.rootPem],
        fromSeq: 11,
        expectPrevious: chain.records[8]?.current_hash,
      });

      expect(summary(report)).toEqual([['LINK_BROKEN', 11]]);
    });

    it('reports SEQ_GAP when the suffix does not start at fromSeq', async () => {
      const chain = await makeChain({ count: 20 });

      const report = verifyChain(chain.lines.slice(12), {
        trustedRootKeys: [chain.rootPem],
        fromSeq: 11,
        expectPrevious: chain.records[9]?.current_hash,
      });

      expect(summary(report)).toEqual([['SEQ_GAP', 13]]);
    });

    it('refuses fromSeq > 1 without expectPrevious, and bad root keys, as usage errors', () => {
      expect(() => new ChainVerifier({ trustedRootKeys: [], fromSeq: 3 })).toThrow(ChainVerifierOptionsError);
      expect(() => new ChainVerifier({ trustedRootKeys: ['not a pem'] })).toThrow(ChainVerifierOptionsError);
      expect(() => new ChainVerifier({ trustedRootKeys: [], fromSeq: 0 })).toThrow(ChainVerifierOptionsError);
    });
  });

  describe('when openssl checks a record signature independently', () => {
    const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

    it('accepts a record signature and rejects a tampered hash with `openssl pkeyutl -verify`', async (ctx) => {
      if (!hasOpenssl) {
        ctx.skip('openssl is not installed: apt-get install -y openssl');
        return;
      }
      const chain = await makeChain({ count: 3, sessionKey: true });
      const dir = mkdtempSync(join(tmpdir(), 'zt-openssl-'));
      try {
        const root = chain.records[0] as AuditRecord; // the key record, signed by the root key
        writeFileSync(join(dir, 'root.pem'), chain.rootPem);
        writeFileSync(join(dir, 'digest.bin'), Buffer.from(root.current_hash, 'hex'));
        const tampered = Buffer.from(root.current_hash, 'hex');
        tampered[0] = (tampered[0] as number) ^ 0xff;
        writeFileSync(join(dir, 'tampered.bin'), tampered);
        writeFileSync(join(dir, 'sig.der'), Buffer.from(root.kms_signature.signature, 'base64'));
        const verify = (input: string) =>
          spawnSync(
            'openssl',
            ['pkeyutl', '-verify', '-pubin', '-inkey', 'root.pem', '-in', input, '-sigfile', 'sig.der'],
            { cwd: dir, encoding: 'utf8' },
          );

        const good = verify('digest.bin');
        const bad = verify('tampered.bin');

        expect(good.status, good.stderr).toBe(0);
        expect(good.stdout).toContain('Signature Verified Successfully');
        expect(bad.status).not.toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('parseAuditRecord', () => {
  it('returns the record of a canonical line', async () => {
    const chain = await makeChain({ count: 6, sessionKey: true });

    for (const [i, line] of chain.lines.entries()) expect(parseAuditRecord(line)).toEqual(chain.records[i]);
  });

  it.each([
    ['not JSON', () => '{"schema":', 'PARSE_ERROR'],
    ['an array', () => '[]', 'SCHEMA_INVALID'],
    [
      'a wrong schema',
      (r: Record<string, unknown>) => canonicalize({ ...r, schema: 'zt.audit.v2' }),
      'SCHEMA_INVALID',
    ],
    [
      'a missing field',
      (r: Record<string, unknown>) => canonicalize({ ...r, reason: undefined }),
      'SCHEMA_INVALID',
    ],
    [
      'an upper-case hash',
      (r: Record<string, unknown>) => canonicalize({ ...r, previous_hash: 'A'.repeat(64) }),
      'SCHEMA_INVALID',
    ],
    [
      'a key id without sha256:',
      (r: Record<string, unknown>) => canonicalize({ ...r, signing_key_id: 'a'.repeat(64) }),
      'SCHEMA_INVALID',
    ],
    [
      'a timestamp without ms',
      (r: Record<string, unknown>) => canonicalize({ ...r, timestamp: '2026-11-26T08:00:00Z' }),
      'SCHEMA_INVALID',
    ],
    [
      'an impossible date',
      (r: Record<string, unknown>) => canonicalize({ ...r, timestamp: '2026-02-30T08:00:00.000Z' }),
      'SCHEMA_INVALID',
    ],
    [
      'an unknown decision',
      (r: Record<string, unknown>) => canonicalize({ ...r, decision: 'maybe' }),
      'SCHEMA_INVALID',
    ],
    [
      'a seq as a string',
      (r: Record<string, unknown>) => canonicalize({ ...r, seq: '3', id: 'main-3' }),
      'SCHEMA_INVALID',
    ],
    [
      'an id that is not chain-seq',
      (r: Record<string, unknown>) => canonicalize({ ...r, id: 'main-99' }),
      'SCHEMA_INVALID',
    ],
    [
      'a number written 3.0',
      (r: Record<string, unknown>) => canonicalize(r).replace('"seq":3', '"seq":3.0'),
      'NOT_CANONICAL',
    ],
    ['a trailing space', (r: Record<string, unknown>) => `${canonicalize(r)} `, 'NOT_CANONICAL'],
  ] as const)('throws RecordFormatError for %s', async (_name, make, code) => {
    const builder = new ChainBuilder();
    const root = InMemoryP256Signer.generate();
    await builder.appendSample('agent', root);
    await builder.appendSample('policy', root);
    const decision = await builder.append(sampleFields('decision', 3, null), root);

    let error: unknown;
    try {
      parseAuditRecord(make(decision as unknown as Record<string, unknown>));
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(RecordFormatError);
    expect((error as RecordFormatError).code).toBe(code);
  });

  it('names the field path in the message', () => {
    let error: RecordFormatError | undefined;
    try {
      validateAuditRecord({ schema: 'zt.audit.v1', kind: 'agent' });
    } catch (e) {
      error = e as RecordFormatError;
    }
    expect(error?.code).toBe('SCHEMA_INVALID');
    expect(error?.path).toBe('$.chain');
  });

  describe('when an outcome carries the client nonce (an optional field)', () => {
    it('verifies outcomes with and without it in one chain: older records keep verifying', async () => {
      const root = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.appendSample('decision', root);
      const outcome = (nonce?: string) => ({
        kind: 'outcome' as const,
        decision_id: 'main-1',
        status: 'started' as const,
        exit_code: null,
        output_sha256: null,
        ...(nonce !== undefined ? { nonce } : {}),
      });
      await builder.append(outcome(), root);
      await builder.append(outcome('n0nce-AbCdEfGhIjKlMnOp_123'), root);

      const report = verifyChain(builder.lines, { trustedRootKeys: [root.publicKeyPem] });

      expect(summary(report)).toEqual([]);
      expect(parseAuditRecord(builder.lines[2] as string)).toMatchObject({
        nonce: 'n0nce-AbCdEfGhIjKlMnOp_123',
      });
      expect(parseAuditRecord(builder.lines[1] as string)).not.toHaveProperty('nonce');
    });

    it('hashes and signs it: a nonce added, changed or removed after signing is a HASH_MISMATCH', async () => {
      const root = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      await builder.appendSample('decision', root);
      const signed = await builder.append(
        {
          kind: 'outcome',
          decision_id: 'main-1',
          status: 'started',
          exit_code: null,
          output_sha256: null,
          nonce: 'original-nonce-0123456789',
        },
        root,
      );
      const verify = (record: Record<string, unknown>) =>
        summary(
          verifyChain(replaceRecord(builder.lines, 2, record as unknown as AuditRecord), {
            trustedRootKeys: [root.publicKeyPem],
          }),
        );
      const { nonce: _dropped, ...without } = signed as AuditRecord & { nonce?: string };

      expect(verify({ ...signed, nonce: 'replayed-nonce-0123456789' })).toEqual([['HASH_MISMATCH', 2]]);
      expect(verify(without)).toEqual([['HASH_MISMATCH', 2]]);
    });

    it('refuses a nonce that is not 16-128 URL-safe characters, or on another kind', async () => {
      const root = InMemoryP256Signer.generate();
      const builder = new ChainBuilder();
      const decision = await builder.appendSample('decision', root);
      const outcome = await builder.append(
        { kind: 'outcome', decision_id: 'main-1', status: 'started', exit_code: null, output_sha256: null },
        root,
      );
      const codeOf = (value: unknown) => {
        try {
          validateAuditRecord(value);
          return 'valid';
        } catch (e) {
          return (e as RecordFormatError).code;
        }
      };

      expect(codeOf({ ...outcome, nonce: 'short' })).toBe('SCHEMA_INVALID');
      expect(codeOf({ ...outcome, nonce: 'has spaces in it, sixteen+' })).toBe('SCHEMA_INVALID');
      expect(codeOf({ ...outcome, nonce: null })).toBe('SCHEMA_INVALID');
      expect(codeOf({ ...decision, nonce: 'a-valid-looking-nonce-123' })).toBe('SCHEMA_INVALID');
      expect(codeOf({ ...outcome, nonce: 'a-valid-looking-nonce-123' })).toBe('valid');
    });
  });

  it('exports the field lists per kind and the stable verification codes', () => {
    expect(BASE_RECORD_FIELDS).toContain('kms_signature');
    expect(KIND_FIELDS.outcome).toEqual(['decision_id', 'status', 'exit_code', 'output_sha256']);
    expect(VERIFICATION_CODES).toContain('SESSION_KEY_OUTSIDE_WINDOW');
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
  });
});

/** The worker-thread path: each line through prepareLine (keys learned as a worker learns them), then addPrepared or add. */
function verifyPrepared(
  lines: string[],
  opts: ChainVerifierOptions,
  extraKeys: KeyObject[] = [],
): { report: VerificationReport; prepared: number; leaves: string[] } {
  const keys = new Map<string, KeyObject>();
  for (const key of [...opts.trustedRootKeys.map((pem) => createPublicKey(pem)), ...extraKeys]) {
    keys.set(keyIdOf(key), key);
  }
  const leaves: string[] = [];
  const verifier = new ChainVerifier({
    ...opts,
    onEntry: (e) => leaves.push(Buffer.from(e.leafHash ?? leafHash(e.text ?? '')).toString('hex')),
  });
  let prepared = 0;
  for (const line of lines) {
    const p = prepareLine(line, keys);
    if (p.certifiedKey) keys.set(p.certifiedKey.keyId, p.certifiedKey.publicKey);
    if (p.record) {
      prepared++;
      verifier.addPrepared(p.record, leafHash(line));
    } else {
      verifier.add(line);
    }
  }
  return { report: verifier.finish(), prepared, leaves };
}

describe('prepared lines (the per-line steps run on worker threads)', () => {
  it('give the same report and Merkle leaves as add, intact and tampered', async () => {
    const chain = await makeChain({ count: 40, sessionKey: true, sessionWindowMs: 20_000 });
    const stranger = InMemoryP256Signer.generate();
    const foreign = at(chain.records, 30);
    foreign.signing_key_id = stranger.keyId;
    foreign.current_hash = sha256Hex(recordSigningPayload(foreign));
    foreign.kms_signature = {
      algorithm: SIGNATURE_ALGORITHM,
      key_id: stranger.keyId,
      signature: await stranger.sign(Buffer.from(recordSigningPayload(foreign), 'utf8')),
    };
    const changed = at(chain.records, 12);
    changed.principal_arn = 'arn:aws:iam::123456789012:role/other';
    const swapped = [...chain.lines];
    [swapped[5], swapped[6]] = [swapped[6] as string, swapped[5] as string];
    const variants: string[][] = [
      chain.lines,
      swapped,
      chain.lines.filter((_, i) => i !== 8),
      [...chain.lines.slice(0, 11), chain.lines[10] as string, ...chain.lines.slice(11)],
      replaceRecord(chain.lines, 12, changed),
      replaceRecord(chain.lines, 30, foreign),
      [...chain.lines.slice(0, 3), '', '{not json', ...chain.lines.slice(3)],
    ];
    const opts = { trustedRootKeys: [chain.rootPem] };
    for (const lines of variants) {
      const inline: string[] = [];
      const expected = verifyChain(lines, {
        ...opts,
        onEntry: (e) => inline.push(leafHash(e.text ?? '').toString('hex')),
      });
      const { report, prepared, leaves } = verifyPrepared(lines, opts, [
        createPublicKey(stranger.publicKeyPem),
      ]);
      expect(report).toEqual(expected);
      expect(leaves).toEqual(inline);
      expect(prepared).toBeGreaterThan(lines.length / 2);
    }
    // The stranger's record verifies under its own key, but only the verifier decides whom to trust.
    expect(summary(verifyPrepared(replaceRecord(chain.lines, 30, foreign), opts).report)).toEqual(
      summary(verifyChain(replaceRecord(chain.lines, 30, foreign), opts)),
    );
  });

  it('leave key records, and lines signed by a key the worker does not hold, to add', async () => {
    const chain = await makeChain({ count: 10, sessionKey: true });
    const roots = new Map([[keyIdOf(chain.rootPem), createPublicKey(chain.rootPem)]]);

    const key = prepareLine(chain.lines[0] as string, roots);
    const later = prepareLine(chain.lines[5] as string, roots);

    expect(key.record).toBeNull();
    expect(key.certifiedKey?.keyId).toBe((chain.records[0] as KeyRecord).certified_key_id);
    expect(later).toEqual({ record: null, certifiedKey: null });
  });
});
