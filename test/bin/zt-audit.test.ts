import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { AuditRecord } from '../../core/model/records.js';
import type { AuditReport } from '../../core/verify/auditReport.js';
import { cloneRecord, type MadeChain, makeChain, toLine } from '../helpers/chainFactory.js';
import { checkpointOver, run } from '../helpers/ztAudit.js';

describe('zt-audit verify', () => {
  let dir: string;
  let chain: MadeChain;
  let rootPem: string;
  let logFile: string;
  let cpFile: string;
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zt-audit-'));
    chain = await makeChain({ count: 20, sessionKey: true });
    rootPem = file('root.pem', chain.rootPem);
    logFile = file('audit.jsonl', `${chain.lines.join('\n')}\n`);
    cpFile = file('checkpoint.json', JSON.stringify(await checkpointOver(chain.lines, chain.rootSigner)));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('when the log is intact', () => {
    it('prints one summary line and exits 0', async () => {
      const result = await run(['verify', logFile, '--public-key', rootPem, '--checkpoint', cpFile]);

      expect(result.code).toBe(0);
      expect(result.stdout).toBe(
        `verified 20 records (seq 1-20), 2 keys, checkpoint 20 covers the tail, newest covered record 1h 0m old, head ${chain.records[19]?.current_hash}\n` +
          'proves the log up to 2026-11-26T08:00:19.000Z, the newest record its checkpoint covers (the checkpoint carries no signed time), not beyond: a bundle cut back to an older genuine checkpoint would verify the same; --state FILE remembers the newest\n',
      );
      expect(result.stderr).toBe('');
    });

    it('prints the report with --json', async () => {
      const result = await run([
        'verify',
        logFile,
        '--public-key',
        rootPem,
        '--checkpoint',
        cpFile,
        '--json',
      ]);

      const report = JSON.parse(result.stdout) as AuditReport;
      expect(result.code).toBe(0);
      expect(report).toMatchObject({
        ok: true,
        status: 'valid',
        records: 20,
        firstSeq: 1,
        lastSeq: 20,
        checkpoint: { size: 20, covered: true, ageMs: 3_600_000 },
        references: 'checked',
        findings: [],
      });
    });

    it('exits 3 (incomplete) without a checkpoint: a cut tail would go unnoticed', async () => {
      const result = await run(['verify', logFile, '--public-key', rootPem, '--json']);

      expect(result.code).toBe(3);
      const report = JSON.parse(result.stdout) as AuditReport;
      expect(report.status).toBe('incomplete');
      expect(report.findings.map((f) => [f.code, f.seq])).toEqual([['NO_CHECKPOINT', null]]);
    });

    it('reads standard input with -', async () => {
      const result = await run(
        ['verify', '-', '--public-key', rootPem, '--checkpoint', cpFile],
        `${chain.lines.join('\n')}\n`,
      );

      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^verified 20 records/);
    });

    it('accepts a JSON array of records, and a GET /audit page', async () => {
      const array = file('audit.json', JSON.stringify(chain.records, null, 2));
      const page = file('page.json', JSON.stringify({ records: chain.records, next: null }));

      const fromArray = await run(['verify', array, '--public-key', rootPem, '--checkpoint', cpFile]);
      const fromPage = await run(['verify', page, '--public-key', rootPem, '--checkpoint', cpFile]);

      expect([fromArray.code, fromPage.code]).toEqual([0, 0]);
      expect(fromArray.stdout).toMatch(/^verified 20 records \(seq 1-20\)/);
    });

    it('verifies a suffix with --from-seq and --expect-previous', async () => {
      const suffix = file('suffix.jsonl', chain.lines.slice(10).join('\n'));
      // The session key's certificate is record 1, outside the suffix: a root-signed chain is used here.
      const rootChain = await makeChain({ count: 20 });
      const rootSuffix = file('root-suffix.jsonl', rootChain.lines.slice(10).join('\n'));
      const rootKey = file('root2.pem', rootChain.rootPem);

      const ok = await run([
        'verify',
        rootSuffix,
        '--public-key',
        rootKey,
        '--from-seq',
        '11',
        '--expect-previous',
        rootChain.records[9]?.current_hash as string,
      ]);
      const unlinked = await run([
        'verify',
        suffix,
        '--public-key',
        rootPem,
        '--from-seq',
        '11',
        '--expect-previous',
        'c'.repeat(64),
        '--json',
      ]);

      // A suffix verifies, but no checkpoint can cover it: incomplete, exit 3.
      expect(ok.code).toBe(3);
      expect(ok.stdout).toMatch(/^log: CHECKPOINT_NOT_CHECKABLE: /);
      expect(ok.stdout).toMatch(/incomplete \(1 finding\): 10 records \(seq 11-20\), 1 key, a suffix/);
      expect(unlinked.code).toBe(1);
      expect((JSON.parse(unlinked.stdout) as AuditReport).findings[0]).toMatchObject({
        code: 'LINK_BROKEN',
        seq: 11,
      });
    });
  });

  describe('when given a single decision response', () => {
    const response = (audit: AuditRecord) => ({
      ok: audit.kind === 'decision' && audit.decision === 'allow',
      actor: 'ci',
      action: 'aws.ec2.terminate_instances',
      resource: 'arn:aws:ec2:us-east-1:123456789012:instance/i-0abc',
      decision: audit.kind === 'decision' ? audit.decision : 'deny',
      reason: 'permitted by policy `allow-ci-terminate`',
      audit,
    });

    it('verify-record checks its one record against a root-signed chain position', async () => {
      const rootChain = await makeChain({ count: 8 });
      const decision = rootChain.records.find((r) => r.kind === 'decision' && r.seq > 1) as AuditRecord;
      const pretty = file('response.json', JSON.stringify(response(decision), null, 2));
      const oneLine = file('response-line.json', JSON.stringify(response(decision)));
      const key = file('root3.pem', rootChain.rootPem);

      const fromPretty = await run(['verify-record', pretty, '--public-key', key]);
      const fromLine = await run(['verify-record', oneLine, '--public-key', key]);
      const fromStdin = await run(['verify-record', '-', '--public-key', key], JSON.stringify(decision));

      expect(fromPretty.code).toBe(0);
      expect(fromPretty.stdout).toMatch(
        new RegExp(`^verified 1 record \\(seq ${decision.seq}-${decision.seq}\\), 1 key, one record`),
      );
      expect(fromLine.code).toBe(0);
      expect(fromStdin.code).toBe(0);
    });

    it('verify-record checks a session-signed record through the certificate in --keys', async () => {
      const key = file('root-session.pem', chain.rootPem);
      const cert = chain.records[0] as AuditRecord;
      const keys = file(
        'keys-session.json',
        JSON.stringify({
          keys: [
            { keyId: chain.rootSigner.keyId, role: 'root', publicKeyPem: chain.rootPem },
            { keyId: chain.sessionSigner?.keyId, role: 'session', certificate: cert },
          ],
        }),
      );
      const decision = chain.records.find((r) => r.kind === 'decision') as AuditRecord;
      const path = file('session-response.json', JSON.stringify(response(decision)));

      const withKeys = await run(['verify-record', path, '--public-key', key, '--keys', keys]);
      const without = await run(['verify-record', path, '--public-key', key, '--json']);

      expect(withKeys.code).toBe(0);
      expect(without.code).toBe(1);
      expect((JSON.parse(without.stdout) as AuditReport).findings.map((f) => f.code)).toEqual([
        'UNKNOWN_SIGNING_KEY',
      ]);
    });

    it('verify-record exits 1 when its record was altered', async () => {
      const rootChain = await makeChain({ count: 8 });
      const decision = cloneRecord(rootChain.records.find((r) => r.kind === 'decision') as AuditRecord);
      Object.assign(decision, { resource: '*' });
      const path = file('forged-response.json', JSON.stringify(response(decision)));
      const key = file('root4.pem', rootChain.rootPem);

      const result = await run(['verify-record', path, '--public-key', key]);

      expect(result.code).toBe(1);
      expect(result.stdout).toContain(`seq ${decision.seq}: HASH_MISMATCH: `);
    });

    it('verify-record refuses a log (an array, a page, several lines): a log is checked by verify', async () => {
      const key = file('root5.pem', chain.rootPem);
      const array = file('two.json', JSON.stringify(chain.records.slice(0, 2)));
      const page = file('page-two.json', JSON.stringify({ records: chain.records.slice(0, 2), next: 2 }));
      const lines = file('two.jsonl', `${chain.lines.slice(0, 2).join('\n')}\n`);

      const results = await Promise.all(
        [array, page, lines].map((p) => run(['verify-record', p, '--public-key', key])),
      );

      expect(results.map((r) => r.code)).toEqual([2, 2, 2]);
      expect(results.every((r) => r.stderr.includes('zt-audit verify'))).toBe(true);
    });

    it('verify reads it as a one-record log: never verified, and never better than the whole log', async () => {
      const rootChain = await makeChain({ count: 8 });
      const decision = rootChain.records.find((r) => r.kind === 'decision' && r.seq > 1) as AuditRecord;
      const path = file('response-as-log.json', JSON.stringify(response(decision)));
      const key = file('root6.pem', rootChain.rootPem);

      const result = await run(['verify', path, '--public-key', key, '--json']);

      expect(result.code).toBe(1);
      expect((JSON.parse(result.stdout) as AuditReport).scope).toBe('log');
      expect((JSON.parse(result.stdout) as AuditReport).findings.map((f) => f.code)).toContain('SEQ_GAP');
    });
  });

  describe('when the log was tampered with', () => {
    it('prints one line per finding and a failing summary, and exits 1', async () => {
      const lines = chain.lines.filter((_, i) => i !== 9);
      const forged = cloneRecord(chain.records[14] as AuditRecord);
      forged.principal_arn = 'arn:aws:iam::999999999999:role/intruder';
      lines[13] = toLine(forged);
      const path = file('tampered.jsonl', lines.join('\n'));

      const result = await run(['verify', path, '--public-key', rootPem, '--checkpoint', cpFile]);

      expect(result.code).toBe(1);
      const out = result.stdout.trimEnd().split('\n');
      expect(out[0]).toMatch(/^seq 11: SEQ_GAP: /);
      expect(out[1]).toMatch(/^seq 15: HASH_MISMATCH: /);
      // 19 records left under a checkpoint of 20: tamper evidence, not incompleteness.
      expect(out[2]).toMatch(/^seq 20: LOG_TRUNCATED: /);
      expect(out[3]).toMatch(/^verification failed \(3 findings\): 19 records \(seq 1-20\)/);
    });

    it('names the line of an unreadable entry', async () => {
      const lines = [...chain.lines];
      lines[4] = 'not json';
      const path = file('garbage.jsonl', lines.join('\n'));

      const result = await run(['verify', path, '--public-key', rootPem]);

      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^line 5: PARSE_ERROR: /);
    });

    it('exits 1 when the key given is not the root that signed', async () => {
      const other = file('other.pem', InMemoryP256Signer.generate().publicKeyPem);

      const result = await run(['verify', logFile, '--public-key', other, '--json']);

      expect(result.code).toBe(1);
      expect((JSON.parse(result.stdout) as AuditReport).findings[0]?.code).toBe('UNKNOWN_SIGNING_KEY');
    });

    it('exits 1 for an empty log', async () => {
      const result = await run(['verify', file('empty.jsonl', ''), '--public-key', rootPem]);

      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^log: EMPTY_LOG: /);
    });
  });

  describe('when the command line is wrong or a file is missing', () => {
    it.each([
      ['no --public-key', () => ['verify', logFile]],
      ['no input', () => ['verify', '--public-key', rootPem]],
      [
        '--from-seq without --expect-previous',
        () => ['verify', logFile, '--public-key', rootPem, '--from-seq', '4'],
      ],
      ['a bad --from-seq', () => ['verify', logFile, '--public-key', rootPem, '--from-seq', '1.5']],
      ['an unknown option', () => ['verify', logFile, '--public-key', rootPem, '--lenient']],
      ['an unknown command', () => ['check', logFile]],
      ['no command', () => []],
    ])('exits 2 with usage for %s', async (_name, argv) => {
      const result = await run(argv());

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('usage: zt-audit verify');
      expect(result.stdout).toBe('');
    });

    it('exits 2 for a missing log file or key file', async () => {
      const missingLog = await run(['verify', join(dir, 'nope.jsonl'), '--public-key', rootPem]);
      const missingKey = await run(['verify', logFile, '--public-key', join(dir, 'nope.pem')]);
      const notAKey = await run(['verify', logFile, '--public-key', logFile]);

      expect([missingLog.code, missingKey.code, notAKey.code]).toEqual([2, 2, 2]);
      expect(missingLog.stderr).toContain('ENOENT');
      expect(missingKey.stderr).toContain('ENOENT');
    });

    it('prints the usage with --help and exits 0', async () => {
      const result = await run(['--help']);

      expect(result.code).toBe(0);
      expect(result.stdout).toContain('--public-key');
    });
  });

  it('ships bin/zt-audit.ts as a thin node shell', () => {
    const text = readFileSync(new URL('../../bin/zt-audit.ts', import.meta.url), 'utf8');

    expect(text.split('\n')[0]).toBe('#!/usr/bin/env node');
  });
});
