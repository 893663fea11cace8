// `npm run bench:store`: the embedded stores' write rates, SQLite (the emulator's store) beside dynalite
// (the first release's), measured in the same run on the same disk.
//
// For each store on disk: `putIfAbsent` of a signed decision record on fresh keys of one partition (as
// chain appends are), sequentially and with 32 in flight; for SQLite also `transact` (the append plus a
// check of the configuration item, as an exactly-revocable decision appends) at the same two loads, and
// the writes per group commit. Every loop is bounded by a count and a wall time. Prints a table and one
// JSON line. Never pass/fail.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryP256Signer, signRecord } from '../core/keys/index.js';
import { canonicalize } from '../core/model/index.js';
import type { KeyValueStore } from '../core/ports/index.js';
import { startEmbeddedStore } from '../local/embeddedStore.js';
import { SqliteKeyValueStore } from '../local/SqliteKeyValueStore.js';
import { typicalDecisionRecord } from './floors.js';
import { type LoadSummary, round, runBounded, summarize } from './stats.js';

// The AWS SDK (dynalite's client) warns on Node 20 at first use; not a bench figure.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

const CAPS = {
  sequential: { count: 5_000, maxMs: 3_000, concurrency: 1 },
  c32: { count: 40_000, maxMs: 3_000, concurrency: 32 },
};

interface Row {
  store: string;
  op: 'putIfAbsent' | 'transact';
  load: 'sequential' | 'c32';
  summary: LoadSummary;
  /** SQLite only: writes committed per transaction (group commit). */
  writesPerCommit?: number;
}

async function measure(
  name: string,
  store: KeyValueStore,
  op: Row['op'],
  data: string,
  commits?: () => number,
): Promise<Row[]> {
  const rows: Row[] = [];
  for (const load of ['sequential', 'c32'] as const) {
    const pk = `chain#bench-${randomUUID()}`;
    const config = `config#bench-${randomUUID()}`;
    await store.put(config, 'version', 'v1');
    let key = 0;
    const write = async (): Promise<void> => {
      const sk = (key++).toString().padStart(20, '0');
      if (op === 'putIfAbsent') {
        if (!(await store.putIfAbsent(pk, sk, data)))
          throw new Error(`fresh key \`${sk}\` was reported taken`);
        return;
      }
      const result = await store.transact([
        { op: 'putIfAbsent', pk, sk, data },
        { op: 'check', pk: config, sk: 'version', expected: 'v1' },
      ]);
      if (!result.ok) throw new Error(`transaction on fresh key \`${sk}\` failed at op ${result.failed}`);
    };
    await runBounded({ count: 200, maxMs: 2_000, concurrency: 4 }, write); // warm-up: JIT, sockets, pages
    const before = commits?.() ?? 0;
    const summary = summarize(await runBounded(CAPS[load], write));
    const row: Row = { store: name, op, load, summary };
    if (commits) row.writesPerCommit = summary.ops / Math.max(1, commits() - before);
    rows.push(row);
  }
  return rows;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'zt-bench-store-'));
  const signer = InMemoryP256Signer.generate();
  const data = canonicalize(await signRecord(typicalDecisionRecord(signer), signer));
  const rows: Row[] = [];
  try {
    const sqlite = SqliteKeyValueStore.open({ path: join(dir, 'store.sqlite') });
    try {
      const commits = () => sqlite.commits;
      rows.push(...(await measure('sqlite (disk)', sqlite, 'putIfAbsent', data, commits)));
      rows.push(...(await measure('sqlite (disk)', sqlite, 'transact', data, commits)));
    } finally {
      await sqlite.close();
    }
    const dynalite = await startEmbeddedStore({ path: join(dir, 'dynalite') });
    try {
      rows.push(...(await measure('dynalite (disk)', dynalite.store, 'putIfAbsent', data)));
    } finally {
      await dynalite.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const pad = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  const widths = [16, 12, 10, 10, 8, 8, 8, 12];
  const out = [
    `embedded store writes (${data.length} B record, one partition, fresh keys)`,
    pad(['store', 'op', 'load', 'ops/s', 'p50 ms', 'p99 ms', 'failed', 'per commit'], widths),
  ];
  for (const r of rows) {
    out.push(
      pad(
        [
          r.store,
          r.op,
          r.load,
          Math.round(r.summary.opsPerSec).toLocaleString('en-US'),
          String(round(r.summary.p50Ms)),
          String(round(r.summary.p99Ms)),
          String(r.summary.failed),
          r.writesPerCommit === undefined ? '-' : String(round(r.writesPerCommit, 1)),
        ],
        widths,
      ),
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
  process.stdout.write(
    `${JSON.stringify({
      bench: 'store',
      recordBytes: data.length,
      rows: rows.map((r) => ({
        store: r.store,
        op: r.op,
        load: r.load,
        opsPerSec: round(r.summary.opsPerSec, 0),
        p50Ms: round(r.summary.p50Ms),
        p99Ms: round(r.summary.p99Ms),
        ops: r.summary.ops,
        failed: r.summary.failed,
        writesPerCommit: r.writesPerCommit === undefined ? null : round(r.writesPerCommit, 1),
      })),
    })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:store: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
