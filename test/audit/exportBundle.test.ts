import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BundleStateError, exportAuditBundle } from '../../audit/exportBundle.js';
import { InMemoryP256Signer } from '../../core/keys/signing.js';
import type { GatewayClient } from '../../sdk/GatewayClient.js';
import { decision, honestLaneLog, type LaneLog, linesOf, signLog } from '../helpers/laneLog.js';
import { NOW, run } from '../helpers/ztAudit.js';

/** A gateway stand-in serving a lane log: `GET /audit/checkpoint`, `GET /keys`, `GET /audit?lane=` pages. */
function gatewayOf(log: LaneLog, epoch: () => Promise<unknown>, pages: string[] = []): GatewayClient {
  return {
    checkpoint: epoch,
    keys: async () => ({
      keys: [{ keyId: log.root.keyId, role: 'root', publicKeyPem: log.root.publicKeyPem }],
    }),
    async *auditPages(options: { lane?: string; after?: number; limit?: number }) {
      const lane = options.lane ?? 'main';
      pages.push(`${lane}>${options.after ?? 0}`);
      const lines = log.lanes.get(lane)?.lines ?? [];
      const limit = options.limit ?? 1000;
      for (let at = options.after ?? 0; at < lines.length; at += limit) {
        const raw = lines.slice(at, at + limit);
        yield {
          rawRecords: raw,
          records: raw.map((l) => JSON.parse(l)),
          next: at + limit < lines.length ? at + limit : null,
        };
      }
    },
  } as unknown as GatewayClient;
}

describe('when a bundle of several lanes is exported and resumed', () => {
  let dir: string;
  let log: LaneLog;
  let rootPem: string;
  const time = new Date(NOW.getTime() - 60_000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-export-'));
    log = await honestLaneLog();
    rootPem = join(dir, 'root.pem');
    await writeFile(rootPem, log.root.publicKeyPem);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every lane up to the epoch, the epoch first; resumes each lane from its file; verifies with exit 0', async () => {
    const bundle = join(dir, 'bundle');
    const first = await signLog(log.root, linesOf(log), 1, time);
    const result = await exportAuditBundle(
      gatewayOf(log, async () => first),
      { dir: bundle, pageSize: 2 },
    );
    expect(result).toMatchObject({ epoch: 1, records: 14, appended: 14 });
    expect(await readdir(join(bundle, 'lanes'))).toEqual(['main.jsonl', 'w-1.jsonl', 'w-2.jsonl']);
    expect((await run(['verify', '--bundle', bundle, '--public-key', rootPem])).code).toBe(0);

    // the log grows in one lane; records past the new epoch are not exported
    const w1 = log.lanes.get('w-1')!;
    const signer = InMemoryP256Signer.generate();
    await w1.certify(log.root, signer);
    await w1.append(decision(90, 4, true), signer);
    const second = await signLog(log.root, linesOf(log), 2, new Date(time.getTime() + 1000));
    await w1.append(decision(91, 4, true), signer); // after the epoch
    const pages: string[] = [];
    const resumed = await exportAuditBundle(
      gatewayOf(log, async () => second, pages),
      {
        dir: bundle,
        after: new Map([['w-1', 5]]),
      },
    );
    expect(resumed).toMatchObject({ epoch: 2, appended: 2, records: 16 });
    expect(pages).toEqual(['w-1>5']); // only the lane that grew is read, from where its file ends
    const report = await run(['verify', '--bundle', bundle, '--public-key', rootPem, '--json']);
    expect(JSON.parse(report.stdout).findings).toEqual([]);
    expect(report.code).toBe(0);

    await expect(
      exportAuditBundle(
        gatewayOf(log, async () => second),
        { dir: bundle, after: new Map([['w-1', 3]]) },
      ),
    ).rejects.toThrow(/resume with --after w-1=7/);
  });

  it('resumes a bundle from before lanes as its main lane', async () => {
    const bundle = join(dir, 'legacy');
    await mkdir(bundle, { recursive: true });
    const main = log.lanes.get('main')!.lines;
    await writeFile(join(bundle, 'records.jsonl'), `${main.slice(0, 3).join('\n')}\n`);
    const body = await signLog(log.root, linesOf(log), 3, time);
    const result = await exportAuditBundle(
      gatewayOf(log, async () => body),
      { dir: bundle, after: 3 },
    );
    expect(result.lanes.find((l) => l.lane === 'main')).toMatchObject({ records: 5, appended: 2 });
    expect(await readdir(bundle)).not.toContain('records.jsonl');
    expect(await readFile(join(bundle, 'lanes', 'main.jsonl'), 'utf8')).toBe(`${main.join('\n')}\n`);
  });

  it('refuses a lane name from the gateway that is not a lane name (never a path)', async () => {
    const body = await signLog(log.root, linesOf(log), 4, time);
    const evil = {
      ...body,
      epoch: { ...body.epoch, lanes: [{ lane: '../../etc', size: 1, root: body.root }] },
    };
    await expect(
      exportAuditBundle(
        gatewayOf(log, async () => evil),
        { dir: join(dir, 'evil') },
      ),
    ).rejects.toBeInstanceOf(BundleStateError);
    expect(await readdir(join(dir, 'evil', 'lanes'))).toEqual([]);
  });
});
