import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runZtAudit } from '../../bin/audit/runZtAudit.js';
import type { Checkpoint } from '../../core/log/checkpoint.js';
import { parseCheckpointNote } from '../../core/log/checkpoint.js';
import type { AuditRecord } from '../../core/model/records.js';
import type { AuditReport } from '../../core/verify/auditReport.js';
import { type Emulator, startEmulator } from '../../local/emulator.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { ztAsAdmin } from '../helpers/emulator.js';
import { send } from '../helpers/http.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface KeysBody {
  keys: Array<{ keyId: string; role: string; publicKeyPem: string }>;
}

describe('when the emulator log is exported as a bundle and verified with the real CLIs', () => {
  let emulator: Emulator;
  let dir: string;
  let agent: AwsCredentials;
  let bundle: string;
  let rootPem: string;

  const zt = (argv: string[]): Promise<Run> => ztAsAdmin(emulator, argv, dir);
  const ztAudit = async (argv: string[]): Promise<Run> => {
    let stdout = '';
    let stderr = '';
    const code = await runZtAudit(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    });
    return { code, stdout, stderr };
  };
  // Each call its own request (as the SDK sends them): without a request_id, the same body signed in
  // the same second would be one request, answered with one record.
  let calls = 0;
  const decide = (action: string) =>
    send(emulator.url, 'POST', '/actions', {
      credentials: agent,
      body: { actor: 'worker', action, request_id: `bundle-${++calls}` },
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-audit-e2e-'));
    emulator = await startEmulator({ dataDir: dir, port: 0, inMemory: true, log: null, checkpoints: false });
    const admin = {
      accessKeyId: emulator.admin.accessKeyId,
      secretAccessKey: emulator.admin.secretAccessKey,
    };
    const reg = await send(emulator.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    agent = (reg.body as { credentials: AwsCredentials }).credentials;
    await send(emulator.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    for (let i = 0; i < 5; i++) {
      await decide('hello-world.say_hello');
      await decide('aws.ec2.terminate_instances');
    }
    const keys = (await send(emulator.url, 'GET', '/keys', { credentials: admin })).body as KeysBody;
    rootPem = join(dir, 'root.pem');
    await writeFile(rootPem, keys.keys.find((k) => k.role === 'root')?.publicKeyPem as string);
    bundle = join(dir, 'bundle');
  });

  afterAll(async () => {
    await emulator?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('exports a bundle that verifies with exit 0, then resumes it with --after', async () => {
    const exported = await zt(['audit', 'export', '--bundle', bundle, '--json']);
    expect(exported.code, exported.stderr).toBe(0);
    const first = JSON.parse(exported.stdout) as { records: number; checkpointSize: number };
    expect(first.records).toBe(first.checkpointSize);
    const earlier = await readFile(join(bundle, 'checkpoint.json'), 'utf8');
    await writeFile(join(dir, 'earlier-checkpoint.json'), earlier);

    const verified = await ztAudit([
      'verify',
      '--bundle',
      bundle,
      '--public-key',
      rootPem,
      '--max-age',
      '1h',
      '--json',
    ]);
    const report = JSON.parse(verified.stdout) as AuditReport;
    expect(report.findings).toEqual([]);
    expect(verified.code).toBe(0);
    expect(report).toMatchObject({ status: 'valid', references: 'checked', records: first.records });
    expect(report.checkpoint).toMatchObject({ size: first.records, covered: true });
    expect(report.epoch).toMatchObject({ lanes: 1 });
    expect(report.provenUpTo).toBe(report.epoch?.time);
    expect(report.keysUsed.length).toBe(2);

    await decide('hello-world.say_hello');
    await decide('mcp.fs.delete');
    const resumed = await zt([
      'audit',
      'export',
      '--bundle',
      bundle,
      '--after',
      String(first.records),
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ appended: 2, records: first.records + 2 });

    const again = await ztAudit([
      'verify',
      '--bundle',
      bundle,
      '--public-key',
      rootPem,
      '--checkpoint',
      join(dir, 'earlier-checkpoint.json'),
    ]);
    expect(again.code, again.stdout).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^verified ${first.records + 2} records .* epoch \\d+ covers every lane`),
    );

    const wrongResume = await zt(['audit', 'export', '--bundle', bundle, '--after', '3']);
    expect(wrongResume.code).toBe(2);
    expect(wrongResume.stderr).toMatch(/resume with --after/);
  });

  it('proves one decision with a receipt that verifies with the root key alone', async () => {
    const out = join(dir, 'receipt.json');
    const proved = await ztAudit(['prove', '5', '--bundle', bundle, '--out', out]);
    const checked = await ztAudit(['verify-receipt', out, '--public-key', rootPem]);

    expect(proved.code, proved.stderr).toBe(0);
    expect(checked.code, checked.stdout).toBe(0);
  });

  describe('when openssl checks the gateway signatures independently', () => {
    const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

    it('accepts record and checkpoint signatures made by the gateway, refuses tampered ones', async (ctx) => {
      if (!hasOpenssl) {
        ctx.skip('openssl is not installed: apt-get install -y openssl');
        return;
      }
      const keys = JSON.parse(await readFile(join(bundle, 'keys.json'), 'utf8')) as KeysBody;
      const lines = (await readFile(join(bundle, 'lanes', 'main.jsonl'), 'utf8')).trimEnd().split('\n');
      const decision = lines
        .map((l) => JSON.parse(l) as AuditRecord)
        .find((r) => r.kind === 'decision') as AuditRecord;
      const session = keys.keys.find((k) => k.keyId === decision.kms_signature.key_id);
      expect(session?.role).toBe('session');
      const work = await mkdtemp(join(tmpdir(), 'zt-openssl-'));
      try {
        await writeFile(join(work, 'session.pem'), session?.publicKeyPem as string);
        await writeFile(join(work, 'digest.bin'), Buffer.from(decision.current_hash, 'hex'));
        const tampered = Buffer.from(decision.current_hash, 'hex');
        tampered[31] = (tampered[31] as number) ^ 0x01;
        await writeFile(join(work, 'tampered.bin'), tampered);
        await writeFile(join(work, 'sig.der'), Buffer.from(decision.kms_signature.signature, 'base64'));
        const pkeyutl = (input: string) =>
          spawnSync(
            'openssl',
            ['pkeyutl', '-verify', '-pubin', '-inkey', 'session.pem', '-in', input, '-sigfile', 'sig.der'],
            {
              cwd: work,
              encoding: 'utf8',
            },
          );

        // The checkpoint note: ECDSA over SHA-256 of its text, after a 4-byte key id (C2SP type 0x02).
        const checkpoint = JSON.parse(await readFile(join(bundle, 'checkpoint.json'), 'utf8')) as Checkpoint;
        const note = parseCheckpointNote(checkpoint.note);
        await writeFile(join(work, 'root.pem'), await readFile(rootPem, 'utf8'));
        await writeFile(join(work, 'note.txt'), note.body);
        await writeFile(
          join(work, 'note-tampered.txt'),
          note.body.replace(`\n${note.size}\n`, `\n${note.size + 1}\n`),
        );
        await writeFile(join(work, 'note.sig'), note.signatures[0]?.signature as Buffer);
        const dgst = (input: string) =>
          spawnSync('openssl', ['dgst', '-sha256', '-verify', 'root.pem', '-signature', 'note.sig', input], {
            cwd: work,
            encoding: 'utf8',
          });

        const good = pkeyutl('digest.bin');
        const bad = pkeyutl('tampered.bin');
        const goodNote = dgst('note.txt');
        const badNote = dgst('note-tampered.txt');

        expect(good.status, good.stderr).toBe(0);
        expect(good.stdout).toContain('Signature Verified Successfully');
        expect(bad.status).not.toBe(0);
        expect(goodNote.status, goodNote.stderr).toBe(0);
        expect(badNote.status).not.toBe(0);
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  });
});
