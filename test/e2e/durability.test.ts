import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import { canonicalize } from '../../core/model/canonical.js';
import { verifyChain } from '../../core/verify/ChainVerifier.js';
import type { AwsCredentials } from '../../sdk/signer.js';
import { send } from '../helpers/http.js';
import { bundleZtLocal, credentialsFrom, type EmulatorProcess, spawnEmulator } from './emulatorProcess.js';

/** Every record of the chain, as stored (canonical text), read page by page. */
async function chainOf(url: string, admin: AwsCredentials): Promise<string[]> {
  const lines: string[] = [];
  let after = 0;
  for (let page = 0; page < 100; page++) {
    const answer = await send(url, 'GET', `/audit?after=${after}&limit=1000`, { credentials: admin });
    expect(answer.status).toBe(200);
    const body = answer.body as { records: unknown[]; next: number | null };
    lines.push(...body.records.map((record) => canonicalize(record)));
    if (body.next === null) return lines;
    after = body.next;
  }
  throw new Error('the chain did not end within 100 pages');
}

describe('when the emulator is killed (SIGKILL) right after answering decisions', () => {
  let bundle: Awaited<ReturnType<typeof bundleZtLocal>>;
  let dir: string;
  let emulator: EmulatorProcess | undefined;
  const start = async (): Promise<EmulatorProcess> => {
    emulator = await spawnEmulator(process.execPath, [
      bundle.file,
      '--data-dir',
      dir,
      '--port',
      '0',
      '--quiet',
    ]);
    return emulator;
  };

  beforeAll(async () => {
    bundle = await bundleZtLocal();
    dir = join(await mkdtemp(join(tmpdir(), 'zt-durability-')), 'zt');
  });
  afterAll(async () => {
    await emulator?.kill9();
    await bundle?.remove();
    if (dir) await rm(join(dir, '..'), { recursive: true, force: true });
  });

  it('keeps every answered decision in a chain that verifies, across three kills', async () => {
    let current = await start();
    const admin = await credentialsFrom(join(dir, 'aws-credentials'), 'zt-admin');
    const registered = await send(current.url, 'POST', '/agents', {
      credentials: admin,
      body: { agentId: 'worker' },
    });
    const agent = (registered.body as { credentials: AwsCredentials }).credentials;
    await send(current.url, 'POST', '/policies/allow', {
      credentials: admin,
      body: { action: 'hello-world.say_hello', agentId: 'worker' },
    });
    const answered: string[] = [];

    for (let round = 0; round < 3; round++) {
      // 24 decisions in flight (allows and denies); the kill lands as the 4th answer arrives, with the
      // others still being decided, committed or written to their sockets
      const { url } = current;
      const victim = current;
      let arrived = 0;
      const inFlight = Array.from({ length: 24 }, (_, i) =>
        send(url, 'POST', '/actions', {
          credentials: agent,
          body: {
            actor: 'worker',
            action: i % 3 === 0 ? 'aws.ec2.terminate_instances' : 'hello-world.say_hello',
          },
        }).then(
          (answer) => {
            if (++arrived === 4) victim.child.kill('SIGKILL');
            const audit = (answer.body as { audit?: unknown }).audit;
            // a 200 or 403 with a record is an answered decision; anything else is not
            if ((answer.status === 200 || answer.status === 403) && audit) answered.push(canonicalize(audit));
          },
          () => undefined,
        ),
      );
      await Promise.all(inFlight);
      await victim.kill9();
      expect(victim.child.signalCode).toBe('SIGKILL');
      current = await start();
    }

    const chain = await chainOf(current.url, admin);
    const rootKey = InMemoryP256Signer.fromPem(await readFile(join(dir, 'signing-key.pem'), 'utf8'));
    const report = verifyChain(chain, { trustedRootKeys: [rootKey.publicKeyPem] });
    const stored = new Set(chain);

    expect(answered.length).toBeGreaterThanOrEqual(12);
    expect(answered.filter((record) => !stored.has(record))).toEqual([]);
    expect(report.findings).toEqual([]);
    await current.stop();
  }, 120_000);
});
