import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  type KeptRequest,
  parseKeptRequest,
  ReplayError,
  type ReplayReport,
  replayDecisions,
} from '../core/gateway/index.js';
import type { AuditRecord, SchemaRecord } from '../core/model/index.js';
import {
  BUILTIN_DECLARATIONS,
  type Declarations,
  mergeDeclarations,
  parseAuditRecord,
  parseDeclarations,
} from '../core/model/index.js';
import { type CedarPolicy, POLICY_ID_PATTERN, PolicyEngine } from '../core/policy/index.js';
import { type AuditReport, BUNDLE_FILES } from '../core/verify/index.js';
import { AuditInputError } from './auditFiles.js';
import { laneFileName, readBundleLayout } from './bundle.js';
import { verifyAuditLog } from './verifyLog.js';

export interface ReplayBundleArgs {
  /** A bundle directory (`zt audit export --bundle DIR [--requests]`). */
  bundle: string;
  /** A directory of candidate policies: each `<policyId>.cedar` file is one policy. */
  policies: string;
  /** A declarations file (as `zt schema put` takes); default the bundle's newest `schema` record. */
  schema?: string;
  /** Root public keys (PEM files), the verifier's only trust anchor. */
  publicKeys: string[];
  now: Date;
}

export interface ReplayResult extends ReplayReport {
  /** Where the declarations came from: the `--schema` file, the bundle's schema record (its id), or built-in only. */
  declarationsFrom: string;
  /** Lines of `requests.jsonl` (0 when the bundle has none). */
  keptRequests: number;
  /** The verifier's report on the bundle (valid). */
  verification: AuditReport;
}

/**
 * `zt policies replay`: verifies the bundle (a private copy of it, so what is replayed is exactly what was
 * verified), refuses it unless it is valid (`BUNDLE_INVALID`, with the verifier's first finding), then replays
 * every decision against the candidate policies (core/gateway/replay.ts).
 *
 * @throws ReplayError when the bundle does not verify, the request data does not match its records, a candidate
 *   policy is invalid, or the declarations are; AuditInputError when a file cannot be read.
 */
export async function replayBundle(args: ReplayBundleArgs): Promise<ReplayResult> {
  const copy = await mkdtemp(join(tmpdir(), 'zt-replay-'));
  try {
    const layout = await readBundleLayout(args.bundle);
    await mkdir(join(copy, BUNDLE_FILES.lanes));
    for (const { lane, path } of layout.lanes) {
      await copyFile(
        path,
        layout.legacy ? join(copy, BUNDLE_FILES.records) : join(copy, BUNDLE_FILES.lanes, laneFileName(lane)),
      );
    }
    if (layout.legacy) await rm(join(copy, BUNDLE_FILES.lanes), { recursive: true });
    for (const file of [BUNDLE_FILES.checkpoint, BUNDLE_FILES.keys, BUNDLE_FILES.requests]) {
      await copyFile(join(args.bundle, file), join(copy, file)).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
    }

    const { report } = await verifyAuditLog({
      input: null,
      bundle: copy,
      publicKeys: args.publicKeys,
      checkpoints: [],
      threads: 1,
      now: args.now,
    });
    // INVARIANT: nothing is replayed from a bundle that does not verify whole.
    if (report.status !== 'valid') {
      const first = report.findings[0];
      throw new ReplayError(
        'BUNDLE_INVALID',
        `the bundle \`${args.bundle}\` does not verify (${report.status})${first ? `: ${first.code}: ${first.message}` : ''}`,
        { findings: report.findings.slice(0, 20) },
      );
    }

    const records: AuditRecord[] = [];
    const copied = await readBundleLayout(copy);
    for (const { path } of copied.lanes) {
      for (const line of (await readFile(path, 'utf8')).split('\n')) {
        if (line.trim() !== '') records.push(parseAuditRecord(line));
      }
    }
    const kept = await readKept(join(copy, BUNDLE_FILES.requests));
    const engine = new PolicyEngine();
    const { declarations, from } = await loadDeclarations(args.schema, records, engine);
    const policies = await loadPolicies(args.policies, engine, declarations);
    const replay = replayDecisions({
      records,
      kept,
      policies,
      declarations,
      engine,
      now: args.now.getTime(),
    });
    return { ...replay, declarationsFrom: from, keptRequests: kept.length, verification: report };
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
}

async function readKept(path: string): Promise<KeptRequest[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: KeptRequest[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const kept = parseKeptRequest(line);
    if (typeof kept === 'string') {
      throw new ReplayError('REQUEST_DATA_INVALID', `line ${i + 1} of ${BUNDLE_FILES.requests} ${kept}`);
    }
    out.push(kept);
  });
  return out;
}

async function loadDeclarations(
  schemaPath: string | undefined,
  records: readonly AuditRecord[],
  engine: PolicyEngine,
): Promise<{ declarations: Declarations; from: string }> {
  const reserved = Object.keys(engine.commonContext);
  const parse = (value: unknown, what: string): Declarations => {
    try {
      return mergeDeclarations(BUILTIN_DECLARATIONS, parseDeclarations(value, reserved));
    } catch (e) {
      throw new ReplayError(
        'SCHEMA_INVALID',
        `the declarations of ${what} are invalid: ${(e as Error).message}`,
      );
    }
  };
  if (schemaPath !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(await readFile(schemaPath, 'utf8'));
    } catch (e) {
      throw new AuditInputError(`cannot read the declarations \`${schemaPath}\`: ${(e as Error).message}`);
    }
    return { declarations: parse(value, `\`${schemaPath}\``), from: schemaPath };
  }
  // The newest declarations of the log: the schema record of the highest configuration version (each admin
  // change raises it by one, across lanes), or the newest by time in a log from before versions.
  const schemas = records.filter((r): r is SchemaRecord => r.kind === 'schema');
  schemas.sort(
    (a, b) => (a.config_version ?? -1) - (b.config_version ?? -1) || a.timestamp.localeCompare(b.timestamp),
  );
  const newest = schemas.at(-1);
  if (newest === undefined) return { declarations: BUILTIN_DECLARATIONS, from: 'built-in' };
  return { declarations: parse(JSON.parse(newest.declarations), `record \`${newest.id}\``), from: newest.id };
}

async function loadPolicies(
  dir: string,
  engine: PolicyEngine,
  declarations: Declarations,
): Promise<CedarPolicy[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.cedar')).sort();
  } catch (e) {
    throw new AuditInputError(
      `cannot read the policy folder \`${dir}\` (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  if (names.length === 0) {
    throw new AuditInputError(
      `\`${dir}\` holds no \`<policyId>.cedar\` file: expected the candidate policies`,
    );
  }
  const policies: CedarPolicy[] = [];
  for (const name of names) {
    const policyId = basename(name, '.cedar');
    if (!POLICY_ID_PATTERN.test(policyId)) {
      throw new ReplayError(
        'CANDIDATE_POLICY_INVALID',
        `\`${name}\` does not name a policy id (1-128 letters, digits, \`.\`, \`_\` or \`-\`, then \`.cedar\`)`,
      );
    }
    const cedar = await readFile(join(dir, name), 'utf8');
    // Validated as `zt policies put` would be: a policy the gateway would refuse is no candidate.
    const validation = engine.validate(policyId, cedar, declarations);
    if (!validation.ok) {
      const d = validation.diagnostics[0];
      throw new ReplayError(
        'CANDIDATE_POLICY_INVALID',
        `candidate policy \`${name}\` is invalid${d ? ` at line ${d.line}, column ${d.column}: ${d.message}` : ''}`,
        { diagnostics: validation.diagnostics },
      );
    }
    policies.push({ policyId, cedar });
  }
  return policies;
}
