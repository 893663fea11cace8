// `npm run bench:verify`: how fast `zt-audit verify` checks a signed log of several lanes, beside the crypto floor.
//
// Generates (untimed) a bundle of ZT_BENCH_RECORDS records (default 1,000,000) across ZT_BENCH_LANES lanes
// (default 32), as `zt audit export --bundle` writes one: each lane its own chain, opened by a root-signed key
// record certifying that lane's session key; `main` then holds the admin records (an agent at config version
// 1, a policy at 2), and every lane decisions at version 2 signed by its session key; each lane's timed
// checkpoint and the epoch over all of them in checkpoint.json. Then measures:
//   - hash-chain only: parse, schema, canonical form, hash, sequence, links (no signature), lane by lane;
//   - full: the `zt-audit verify --bundle` command itself (each line parsed, checked, hashed and its signature
//     verified on worker threads; sequence, links, keys, Merkle roots, the epoch and the references across
//     lanes on the main thread);
//   - the floor: single-core `crypto.verify` rate (cached key) x cores, measured in the same run.
// Prints figures and one JSON line at the end. Never pass/fail.
import { createPrivateKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openInput, readAuditInput } from '../audit/readAuditInput.js';
import { runZtAudit } from '../bin/audit/runZtAudit.js';
import { InMemoryP256Signer } from '../core/keys/index.js';
import { type Checkpoint, CompactRange, leafHash, signCheckpoint, signEpoch } from '../core/log/index.js';
import {
  type AuditRecord,
  canonicalRecordParts,
  GENESIS_HASH,
  type KindFields,
  RECORD_SCHEMA,
  recordId,
  sha256Hex,
} from '../core/model/index.js';
import type { AuditReport } from '../core/verify/index.js';
import { ChainVerifier } from '../core/verify/index.js';

// 1,000,000 across 32 lanes as issue 9 asks: several minutes end to end on 2 cores (generation is untimed);
// ZT_BENCH_RECORDS=200000 for a quick run.
const N = Number(process.env['ZT_BENCH_RECORDS'] ?? 1_000_000);
const LANES = Number(process.env['ZT_BENCH_LANES'] ?? 32);
const cores = availableParallelism();
const START = Date.parse('2026-11-26T08:00:00.000Z');
const ARN = 'arn:aws:sts::123456789012:assumed-role/zt-agent-ci/session-1';
const ORIGIN = 'zt-infra/bench/log';

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function laneName(i: number): string {
  return i === 0 ? 'main' : `w-${String(i).padStart(2, '0')}`;
}

/** Writes one lane of `count` records to `path`; returns its frontier and bytes. */
async function generateLane(
  path: string,
  lane: string,
  count: number,
  root: InMemoryP256Signer,
): Promise<{ bytes: number; range: CompactRange }> {
  const session = InMemoryP256Signer.generate();
  // The session signer keeps its private key; a second key object is made for the hot loop.
  const sessionKey = createPrivateKey(session.exportPrivateKeyPem());
  const out = createWriteStream(path);
  const range = new CompactRange();
  let previous = GENESIS_HASH;
  let bytes = 0;
  let buffer: string[] = [];
  const policyCedar =
    'permit(principal == Agent::"ci", action == Action::"aws.ec2.terminate_instances", resource);';
  for (let seq = 1; seq <= count; seq++) {
    let fields: KindFields;
    let signer: 'root' | 'session' = 'session';
    if (seq === 1) {
      signer = 'root';
      fields = {
        kind: 'key',
        certified_key_id: session.keyId,
        certified_public_key_pem: session.publicKeyPem,
        not_before: new Date(START - 1000).toISOString(),
        not_after: new Date(START + 24 * 3_600_000).toISOString(),
      };
    } else if (lane === 'main' && seq === 2) {
      fields = {
        kind: 'agent',
        agent_id: 'ci',
        change: 'register',
        bound_principal_arn: ARN,
        config_version: 1,
      };
    } else if (lane === 'main' && seq === 3) {
      fields = {
        kind: 'policy',
        policy_id: 'allow-ci',
        change: 'put',
        cedar: policyCedar,
        policy_sha256: sha256Hex(policyCedar),
        config_version: 2,
      };
    } else {
      const allow = seq % 4 !== 0;
      fields = {
        kind: 'decision',
        request_id: `req-${lane}-${seq}`,
        actor: 'ci',
        action: 'aws.ec2.terminate_instances',
        resource: `arn:aws:ec2:us-east-1:123456789012:instance/i-${seq.toString(16).padStart(17, '0')}`,
        context_sha256: sha256Hex(`context ${seq}`),
        params_sha256: sha256Hex(`params ${seq}`),
        decision: allow ? 'allow' : 'deny',
        reason: allow ? 'permitted by policy `allow-ci`' : 'no policy permits this action',
        policy_ids: allow ? ['allow-ci'] : [],
        policy_set_sha256: sha256Hex(policyCedar),
        errors: [],
        config_version: 2,
      };
    }
    const keyId = signer === 'root' ? root.keyId : session.keyId;
    const record = {
      schema: RECORD_SCHEMA,
      chain: lane,
      seq,
      id: recordId(lane, seq),
      timestamp: new Date(START + seq).toISOString(),
      principal_arn: ARN,
      signing_key_id: keyId,
      previous_hash: previous,
      ...fields,
      current_hash: '',
      kms_signature: { algorithm: 'ECDSA_SHA_256', key_id: keyId, signature: '' },
    } as AuditRecord;
    const { payload } = canonicalRecordParts(record);
    record.current_hash = sha256Hex(payload);
    record.kms_signature.signature =
      signer === 'root'
        ? await root.sign(Buffer.from(payload))
        : sign('sha256', Buffer.from(payload), sessionKey).toString('base64');
    const { text } = canonicalRecordParts(record);
    previous = record.current_hash;
    range.append(leafHash(text));
    buffer.push(text);
    bytes += Buffer.byteLength(text) + 1;
    if (buffer.length === 2000 || seq === count) {
      if (!out.write(`${buffer.join('\n')}\n`)) await once(out, 'drain');
      buffer = [];
    }
  }
  out.end();
  await once(out, 'finish');
  return { bytes, range };
}

/** The bundle: lanes/<lane>.jsonl and checkpoint.json (every lane's timed checkpoint and the epoch). */
async function generate(dir: string, root: InMemoryP256Signer): Promise<{ bytes: number; lanes: string[] }> {
  await mkdir(join(dir, 'lanes'), { recursive: true });
  const lanes = Array.from({ length: LANES }, (_, i) => laneName(i));
  const time = new Date();
  const checkpoints: Checkpoint[] = [];
  const entries: Array<{ lane: string; size: number; root: Buffer }> = [];
  let bytes = 0;
  let done = 0;
  for (const [i, lane] of lanes.entries()) {
    const count = Math.floor(N / LANES) + (i < N % LANES ? 1 : 0);
    const made = await generateLane(join(dir, 'lanes', `${lane}.jsonl`), lane, count, root);
    bytes += made.bytes;
    done += count;
    const r = made.range.root();
    checkpoints.push(await signCheckpoint({ origin: `${ORIGIN}/${lane}`, size: count, root: r, time }, root));
    entries.push({ lane, size: count, root: r });
    process.stderr.write(`\rgenerating: ${fmt(done)} / ${fmt(N)} records, ${i + 1} / ${LANES} lanes`);
  }
  process.stderr.write('\n');
  const epoch = await signEpoch({ origin: ORIGIN, epoch: 1, time, lanes: entries }, root);
  const main = checkpoints[0] as Checkpoint;
  await writeFile(join(dir, 'checkpoint.json'), JSON.stringify({ ...main, epoch, checkpoints }));
  return { bytes, lanes };
}

async function chainOnly(dir: string, lanes: string[]): Promise<{ seconds: number; records: number }> {
  const t0 = process.hrtime.bigint();
  let records = 0;
  for (const lane of lanes) {
    const verifier = new ChainVerifier({ trustedRootKeys: [], chain: lane });
    await readAuditInput(openInput(join(dir, 'lanes', `${lane}.jsonl`)), {
      start: () => undefined,
      line: (text) => verifier.add(text),
      record: (value) => verifier.addRecord(value as AuditRecord),
      unreadable: (text) => verifier.add(text),
    });
    const report = verifier.finish();
    // The one finding is NO_TRUSTED_KEYS: no signature is checked in this mode, by construction.
    if (report.findings.length !== 1) throw new Error(`chain-only verification of lane ${lane} failed`);
    records += report.records;
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, records };
}

function floor(): { perCore: number } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = Buffer.alloc(400, 7);
  const signature = sign('sha256', message, privateKey);
  for (let i = 0; i < 500; i++) verify('sha256', message, publicKey, signature);
  let count = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < 2) {
    for (let i = 0; i < 200; i++) verify('sha256', message, publicKey, signature);
    count += 200;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return { perCore: count / elapsed };
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-bench-verify-'));
  try {
    const root = InMemoryP256Signer.generate();
    const g0 = Date.now();
    const { bytes, lanes } = await generate(dir, root);
    await writeFile(join(dir, 'root.pem'), root.publicKeyPem);
    const generationSeconds = (Date.now() - g0) / 1000;
    console.log(
      `generated ${fmt(N)} signed records in ${LANES} lanes (${fmt(bytes / 1e6)} MB, ${fmt(bytes / N)} B/record) in ${generationSeconds.toFixed(1)} s (not timed below)`,
    );
    const load = loadavg();
    console.log(
      `machine load average before measuring (1/5/15 min): ${load.map((l) => l.toFixed(2)).join(' / ')} on ${cores} cores`,
    );

    const f = floor();
    const floorRate = f.perCore * cores;
    console.log(
      `floor: crypto.verify ${fmt(f.perCore)}/s on one core x ${cores} cores = ${fmt(floorRate)}/s`,
    );

    const chain = await chainOnly(dir, lanes);
    const chainRate = chain.records / chain.seconds;
    console.log(`hash-chain only: ${fmt(chainRate)} records/s (${chain.seconds.toFixed(1)} s)`);

    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 50);
    const rssBefore = process.memoryUsage.rss();
    let stdout = '';
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const code = await runZtAudit(
      ['verify', '--bundle', dir, '--public-key', join(dir, 'root.pem'), '--json'],
      { stdout: { write: (s: string) => (stdout += s) }, stderr: process.stderr },
    );
    const fullSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const mainCpu = process.cpuUsage(cpu0);
    clearInterval(sampler);
    const report = JSON.parse(stdout) as AuditReport;
    if (code !== 0)
      throw new Error(`verification failed (exit ${code}): ${JSON.stringify(report.findings.slice(0, 3))}`);
    const fullRate = report.records / fullSeconds;
    const share = fullRate / floorRate;
    console.log(
      `full verification (zt-audit verify --bundle: ${report.lanes.length} lanes, lines on ${cores} worker threads, Merkle roots, epoch, references across lanes): ${fmt(fullRate)} records/s (${fullSeconds.toFixed(1)} s), ${(share * 100).toFixed(0)}% of the floor (target 70%)`,
    );
    const cpuSeconds = (mainCpu.user + mainCpu.system) / 1e6;
    // Load-independent: the CPU the floor needs for these records over the CPU the process spent. On a
    // machine shared with other work the wall-clock share above drops with the cores the process gets.
    const cpuShare = report.records / f.perCore / cpuSeconds;
    console.log(
      `process CPU during full verification (main thread and workers): ${cpuSeconds.toFixed(1)} s over ${fullSeconds.toFixed(1)} s (${(cpuSeconds / fullSeconds).toFixed(2)} cores on average); floor work / CPU spent: ${(cpuShare * 100).toFixed(0)}%`,
    );
    console.log(
      `peak RSS during full verification: ${fmt(peakRss / 1e6)} MB (${fmt(rssBefore / 1e6)} MB before it); process max RSS ${fmt(process.resourceUsage().maxRSS / 1e3)} MB`,
    );
    console.log(
      JSON.stringify({
        bench: 'verify',
        records: N,
        lanes: LANES,
        cores,
        loadAverage: load.map((l) => Number(l.toFixed(2))),
        chainOnlyPerSec: Math.round(chainRate),
        fullPerSec: Math.round(fullRate),
        floorPerCorePerSec: Math.round(f.perCore),
        floorPerSec: Math.round(floorRate),
        fullShareOfFloor: Number(share.toFixed(3)),
        cpuSeconds: Number(cpuSeconds.toFixed(1)),
        cpuShareOfFloor: Number(cpuShare.toFixed(3)),
        peakRssMb: Math.round(peakRss / 1e6),
        generationSeconds: Number(generationSeconds.toFixed(1)),
      }),
    );
  } finally {
    // ZT_BENCH_KEEP=1 keeps the generated bundle to re-run `zt-audit verify --bundle` on it by hand.
    if (process.env['ZT_BENCH_KEEP'] === '1') console.error(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

await main();
