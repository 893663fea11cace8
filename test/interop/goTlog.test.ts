import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { honestLaneLog, linesOf, signLog, writeLaneBundle } from '../helpers/laneLog.js';

/**
 * Interop: each lane of a bundle is a standard C2SP tlog-checkpoint + RFC 6962 log, checked by an independent
 * Go program on golang.org/x/mod/sumdb/tlog (tlog.go.txt beside this file), with Debian's packages, offline.
 */
const GOPATH = '/usr/share/gocode';
const hasGo =
  spawnSync('go', ['version']).status === 0 &&
  existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/tlog/tlog.go'));
const SKIP = 'go or x/mod is missing: apt-get install -y golang-go golang-golang-x-mod-dev';
if (!hasGo) console.warn(SKIP);

describe('when Go x/mod/sumdb/tlog checks a bundle of several lanes', () => {
  let dir: string;
  let program: string;
  const env = () => ({
    ...process.env,
    GO111MODULE: 'off',
    GOPATH,
    GOCACHE: join(dir, 'gocache'),
    GOFLAGS: '',
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-go-tlog-'));
    if (!hasGo) return;
    program = join(dir, 'tlogcheck');
    await copyFile(join(import.meta.dirname, 'tlog.go.txt'), join(dir, 'main.go'));
    execFileSync('go', ['build', '-o', program, join(dir, 'main.go')], {
      env: env(),
      cwd: dir,
      stdio: 'pipe',
    });
  }, 180_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses every lane checkpoint (time line included), recomputes each root, proves every record and matches the epoch', async (ctx) => {
    if (!hasGo) return ctx.skip(SKIP);
    const log = await honestLaneLog();
    const lanes = linesOf(log);
    const bundle = join(dir, 'bundle');
    await writeLaneBundle(
      bundle,
      lanes,
      await signLog(log.root, lanes, 1, new Date('2026-11-26T09:00:00.000Z')),
    );
    await writeFile(join(dir, 'root.pem'), log.root.publicKeyPem);
    const ok = spawnSync(program, [bundle, join(dir, 'root.pem')], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('ok lanes=3 records=14\n');

    // the check can fail: one byte changed in a lane
    const path = join(bundle, 'lanes', 'w-1.jsonl');
    await writeFile(path, (await readFile(path, 'utf8')).replace('svc-2', 'svc-9'));
    const bad = spawnSync(program, [bundle, join(dir, 'root.pem')], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/lane w-1: the recomputed root differs/);
  });
});
