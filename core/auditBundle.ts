import {
  type ChainEntry,
  ChainVerifier,
  type ChainVerifierOptions,
  ChainVerifierOptionsError,
  type VERIFICATION_CODES,
  type VerificationFinding,
} from './ChainVerifier.js';
import { type Checkpoint, verifyCheckpoint } from './checkpoint.js';
import { CompactRange, EMPTY_ROOT, leafHash } from './merkle.js';
import type { AuditRecord } from './records.js';
import { keyIdOf } from './signing.js';

/**
 * The whole-log verification an auditor runs on an export (DESIGN.md invariant 5), pure and streaming:
 * the chain steps of {@link ChainVerifier}, then, over the same single pass,
 *
 *   7. keys file: its root must be one of the trusted roots (`KEYS_ROOT_MISMATCH`), its session keys
 *      count only through their root-signed certificates (`KEYS_CERTIFICATE_INVALID`);
 *   8. checkpoints: each signed by a trusted root (`CHECKPOINT_*` of core/checkpoint.ts), each root equal
 *      to the RFC 6962 root of the first `size` records (`CHECKPOINT_ROOT_MISMATCH`; an earlier one that
 *      disagrees while a later one matches, `CHECKPOINT_INCONSISTENT`), none larger than the log
 *      (`LOG_TRUNCATED`), the newest covering the tail (`TAIL_NOT_COVERED`), one at all (`NO_CHECKPOINT`);
 *   9. freshness: the newest checkpoint not older than `maxAgeMs` (`CHECKPOINT_STALE`);
 *  10. references: every policy an allow names was put earlier and not deleted since
 *      (`POLICY_NOT_IN_FORCE`), its actor registered earlier and not disabled since
 *      (`ACTOR_NOT_REGISTERED`, `ACTOR_DISABLED`). A deny may name anyone.
 *
 * The Merkle root is computed incrementally (`CompactRange`), so memory stays flat.
 *
 * A checkpoint note carries no time. Its age is therefore measured from the newest record it covers (a
 * signed timestamp); the note was signed at or after that instant, so the age shown is an upper bound, and
 * an idle log whose newest record is older than `maxAgeMs` reads as stale (fail safe).
 */

/** Codes beyond the chain steps. */
export const AUDIT_CODES = [
  'KEYS_ROOT_MISMATCH',
  'CHECKPOINT_MALFORMED',
  'CHECKPOINT_SIGNATURE_INVALID',
  'CHECKPOINT_UNKNOWN_KEY',
  'CHECKPOINT_FIELDS_MISMATCH',
  'CHECKPOINT_ROOT_MISMATCH',
  'CHECKPOINT_INCONSISTENT',
  'LOG_TRUNCATED',
  'NO_CHECKPOINT',
  'TAIL_NOT_COVERED',
  'CHECKPOINT_NOT_CHECKABLE',
  'CHECKPOINT_STALE',
  'POLICY_NOT_IN_FORCE',
  'ACTOR_NOT_REGISTERED',
  'ACTOR_DISABLED',
] as const;

export type AuditCode = (typeof VERIFICATION_CODES)[number] | (typeof AUDIT_CODES)[number];

/** Findings that say the proof is incomplete or stale (exit 3), not that anything was altered (exit 1). */
export const INCOMPLETE_CODES: ReadonlySet<AuditCode> = new Set<AuditCode>([
  'NO_CHECKPOINT',
  'TAIL_NOT_COVERED',
  'CHECKPOINT_NOT_CHECKABLE',
  'CHECKPOINT_STALE',
]);

export interface AuditFinding extends Omit<VerificationFinding, 'code'> {
  code: AuditCode;
}

/** `valid`: nothing found; `incomplete`: only incompleteness findings; `tampered`: any other finding. */
export type AuditStatus = 'valid' | 'tampered' | 'incomplete';

export interface CheckpointSummary {
  origin: string;
  /** Size of the newest checkpoint that verified. */
  size: number;
  /** Its root equals the log's and it covers the last record. */
  covered: boolean;
  /** now minus the timestamp of the newest record it covers (an upper bound on its age); null for size 0. */
  ageMs: number | null;
}

export interface AuditReport {
  ok: boolean;
  status: AuditStatus;
  records: number;
  firstSeq: number | null;
  lastSeq: number | null;
  headHash: string | null;
  keysUsed: string[];
  /** The newest valid checkpoint, or null. */
  checkpoint: CheckpointSummary | null;
  /** Checkpoints given that verified. */
  checkpointsVerified: number;
  /** What the input is: a whole log from seq 1, a suffix (`fromSeq`), or one record checked on its own (`singleRecord`). */
  scope: 'log' | 'suffix' | 'record';
  /** References are checked only from seq 1 (the state before a suffix is unknown) and not for one record. */
  references: 'checked' | 'skipped';
  findings: AuditFinding[];
}

export interface AuditVerifierOptions
  extends Omit<ChainVerifierOptions, 'onEntry' | 'certificates' | 'trustedRootKeys'> {
  trustedRootKeys: string[];
  /** Checkpoint bodies as given (`GET /audit/checkpoint`), unverified. */
  checkpoints?: unknown[];
  /** The parsed `keys.json` (`GET /keys` body), unverified. */
  keys?: unknown;
  /** `--max-age`: the newest checkpoint must not be older. */
  maxAgeMs?: number;
  /** The verifier's notion of now, for ages. */
  now: Date;
  /**
   * The input is one record checked on its own (`zt-audit verify-record`, asked for by name), not a log:
   * completeness does not apply and references are not checked. Its certificate can come from `keys`.
   * Never set for an input given as a log, whatever its shape: a one-record file is a one-record log
   * (DESIGN.md invariant 7).
   */
  singleRecord?: boolean;
}

interface ValidCheckpoint {
  origin: string;
  size: number;
  root: string;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The checkpoints in a `--checkpoint` file: one body, a `GET /audit/checkpoints` body, or an array. */
export function checkpointsOf(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (isObject(doc) && Array.isArray(doc['checkpoints'])) return doc['checkpoints'];
  return [doc];
}

const DURATION = /^([0-9]{1,12})(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `7d`, `500ms` in milliseconds; null when it is none of these. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text);
  return m ? Number(m[1]) * (UNIT_MS[m[2] as string] as number) : null;
}

/** `2d 3h`, `5m 2s`, `800ms`: the two largest units. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (rest >= size || (parts.length > 0 && parts.length < 2)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/**
 * Verifies an exported log streaming, in one pass: feed entries with {@link add} / {@link addRecord}
 * (and, in `deferSignatures` mode, run the checks of {@link chain}), then {@link finish}.
 */
export class AuditVerifier {
  /** The chain verifier underneath (for deferred signature checks). */
  readonly chain: ChainVerifier;
  readonly #findings: Array<AuditFinding & { step: number }> = [];
  readonly #checkpoints: ValidCheckpoint[] = [];
  /** Sizes at which the streamed Merkle root must be kept, and what it was. */
  readonly #rootsAt = new Map<number, string | null>();
  readonly #range = new CompactRange();
  readonly #fromStart: boolean;
  readonly #single: boolean;
  readonly #now: number;
  readonly #maxAgeMs: number | undefined;
  readonly #checkReferences: boolean;
  /** Timestamp of the record at each checkpointed size, for the age. */
  readonly #timestampAt = new Map<number, string | null>();
  /** policy id -> seq of its last change, and whether it is in force. */
  readonly #policies = new Map<string, { active: boolean; seq: number }>();
  readonly #agents = new Map<string, { active: boolean; seq: number }>();
  #report: AuditReport | null = null;

  constructor(opts: AuditVerifierOptions) {
    this.#fromStart = (opts.fromSeq ?? 1) === 1;
    this.#single = opts.singleRecord === true;
    this.#checkReferences = this.#fromStart && !this.#single;
    this.#now = opts.now.getTime();
    this.#maxAgeMs = opts.maxAgeMs;
    const certificates = opts.keys === undefined ? [] : this.#readKeys(opts.keys, opts.trustedRootKeys);
    this.chain = new ChainVerifier({
      ...opts,
      certificates,
      onEntry: (entry) => this.#onEntry(entry),
    });
    for (const cp of opts.checkpoints ?? []) this.#readCheckpoint(cp, opts.trustedRootKeys);
    for (const cp of this.#checkpoints) {
      this.#rootsAt.set(cp.size, cp.size === 0 ? EMPTY_ROOT.toString('base64') : null);
      this.#timestampAt.set(cp.size, null);
    }
  }

  add(line: string): void {
    this.chain.add(line);
  }

  addRecord(record: AuditRecord | Record<string, unknown>): void {
    this.chain.addRecord(record);
  }

  /** A line already taken through its independent steps (see {@link ChainVerifier.addPrepared}). */
  addPrepared(record: AuditRecord, leaf: Uint8Array): void {
    this.chain.addPrepared(record, leaf);
  }

  #finding(code: AuditCode, seq: number | null, line: number, message: string, step: number): void {
    this.#findings.push({ code, seq, line, message, step });
  }

  /** Step 7: the keys file may add session keys (through certificates), never a root. */
  #readKeys(doc: unknown, trustedRootKeys: string[]): unknown[] {
    const keys = isObject(doc) ? doc['keys'] : undefined;
    if (!Array.isArray(keys)) {
      throw new ChainVerifierOptionsError('the keys file must be the `GET /keys` body: `{"keys": [...]}`');
    }
    let trusted: Set<string>;
    try {
      trusted = new Set(trustedRootKeys.map((pem) => keyIdOf(pem)));
    } catch {
      // ChainVerifier reports unusable root keys itself.
      trusted = new Set();
    }
    const certificates: unknown[] = [];
    keys.forEach((entry, i) => {
      if (!isObject(entry)) return;
      if (entry['role'] === 'root') {
        let id: string;
        try {
          id = keyIdOf(String(entry['publicKeyPem']));
        } catch {
          id = `unreadable key ${i + 1}`;
        }
        if (!trusted.has(id) || entry['keyId'] !== id) {
          this.#finding(
            'KEYS_ROOT_MISMATCH',
            null,
            0,
            `the keys file names root key \`${String(entry['keyId'])}\`, which is not a trusted --public-key: the keys file was replaced or belongs to another gateway`,
            0,
          );
        }
      } else if (entry['certificate'] !== undefined) {
        certificates.push(entry['certificate']);
      }
    });
    return certificates;
  }

  /** Step 8, signature half: a checkpoint that does not verify is tamper evidence and is not used. */
  #readCheckpoint(value: unknown, trustedRootKeys: string[]): void {
    const size = isObject(value) && typeof value['size'] === 'number' ? value['size'] : null;
    const result = verifyCheckpoint(value as Checkpoint, trustedRootKeys);
    if (!result.ok) {
      this.#finding(
        result.code,
        size,
        0,
        `checkpoint${size !== null ? ` of size ${size}` : ''}: ${result.message}`,
        8,
      );
      return;
    }
    const cp = value as Checkpoint;
    const same = this.#checkpoints.find((c) => c.size === cp.size);
    if (same && same.root !== cp.root) {
      this.#finding(
        'CHECKPOINT_INCONSISTENT',
        cp.size,
        0,
        `two signed checkpoints of size ${cp.size} have different roots: the log forked`,
        8,
      );
      return;
    }
    if (!same) this.#checkpoints.push({ origin: cp.origin, size: cp.size, root: cp.root });
  }

  #onEntry(entry: ChainEntry): void {
    if (this.#fromStart) {
      this.#range.append(entry.leafHash ?? leafHash(entry.text ?? ''));
      const size = this.#range.size;
      if (this.#rootsAt.has(size)) {
        this.#rootsAt.set(size, this.#range.root().toString('base64'));
        this.#timestampAt.set(size, entry.record?.timestamp ?? null);
      }
    }
    if (this.#checkReferences && entry.record) this.#references(entry.record, entry.line);
  }

  /** Step 10. */
  #references(record: AuditRecord, line: number): void {
    switch (record.kind) {
      case 'policy':
        this.#policies.set(record.policy_id, { active: record.change === 'put', seq: record.seq });
        return;
      case 'agent':
        this.#agents.set(record.agent_id, { active: record.change === 'register', seq: record.seq });
        return;
      case 'decision': {
        if (record.decision !== 'allow') return;
        for (const id of record.policy_ids) {
          const p = this.#policies.get(id);
          if (!p?.active) {
            this.#finding(
              'POLICY_NOT_IN_FORCE',
              record.seq,
              line,
              p
                ? `allow names policy \`${id}\`, deleted at seq ${p.seq}`
                : `allow names policy \`${id}\`, which no earlier policy record put`,
              10,
            );
          }
        }
        const a = this.#agents.get(record.actor);
        if (!a) {
          this.#finding(
            'ACTOR_NOT_REGISTERED',
            record.seq,
            line,
            `allow for actor \`${record.actor}\`, whom no earlier agent record registered`,
            10,
          );
        } else if (!a.active) {
          this.#finding(
            'ACTOR_DISABLED',
            record.seq,
            line,
            `allow for actor \`${record.actor}\`, disabled at seq ${a.seq}`,
            10,
          );
        }
        return;
      }
      default:
        return;
    }
  }

  /** Steps 8 (coverage) and 9, then the report. */
  finish(): AuditReport {
    if (this.#report) return this.#report;
    const chain = this.chain.finish();
    const n = this.#range.size;
    let summary: CheckpointSummary | null = null;
    const byNewest = [...this.#checkpoints].sort((a, b) => b.size - a.size);
    const newest = byNewest[0];
    if (this.#single && this.#checkpoints.length === 0) {
      // One record and no checkpoint: completeness is a property of a log (prove it with a receipt).
      // Given a checkpoint, a lone record is checked against it like any log (a cut log is tampered).
    } else if (!this.#fromStart) {
      this.#finding(
        'CHECKPOINT_NOT_CHECKABLE',
        null,
        0,
        'a checkpoint covers a log from seq 1: a suffix (--from-seq) cannot be checked against one',
        8,
      );
    } else if (newest === undefined) {
      if (this.#findings.every((f) => f.step !== 8)) {
        this.#finding(
          'NO_CHECKPOINT',
          null,
          0,
          'no signed checkpoint was given, so a cut tail would go unnoticed (--checkpoint or --bundle)',
          8,
        );
      }
    } else {
      let matchedSize: number | null = null;
      for (const cp of byNewest) {
        if (cp.size > n) {
          if (cp === newest) {
            this.#finding(
              'LOG_TRUNCATED',
              n + 1,
              0,
              `a signed checkpoint covers ${cp.size} records but the log holds ${n}: records ${n + 1}-${cp.size} are missing`,
              8,
            );
          }
          continue;
        }
        const root = this.#rootsAt.get(cp.size);
        if (root === cp.root) {
          matchedSize ??= cp.size;
          continue;
        }
        if (matchedSize !== null) {
          this.#finding(
            'CHECKPOINT_INCONSISTENT',
            cp.size,
            0,
            `the checkpoint of size ${cp.size} is not a prefix of the log that the checkpoint of size ${matchedSize} signs: the log was rewritten after it`,
            8,
          );
        } else {
          this.#finding(
            'CHECKPOINT_ROOT_MISMATCH',
            cp.size,
            0,
            `the Merkle root of the first ${cp.size} records is not the one the checkpoint signs: records up to seq ${cp.size} were changed`,
            8,
          );
        }
      }
      const covered = newest.size === n && matchedSize === newest.size;
      if (newest.size < n) {
        this.#finding(
          'TAIL_NOT_COVERED',
          newest.size + 1,
          0,
          `the newest checkpoint covers ${newest.size} records; records ${newest.size + 1}-${n} are not covered by any`,
          8,
        );
      }
      const ts = this.#timestampAt.get(newest.size) ?? null;
      const ageMs = ts === null ? null : this.#now - Date.parse(ts);
      summary = { origin: newest.origin, size: newest.size, covered, ageMs };
      if (this.#maxAgeMs !== undefined && ageMs !== null && ageMs > this.#maxAgeMs) {
        this.#finding(
          'CHECKPOINT_STALE',
          newest.size,
          0,
          `the newest checkpoint covers records up to ${ts}, ${formatDuration(ageMs)} ago, more than --max-age ${formatDuration(this.#maxAgeMs)}`,
          9,
        );
      }
    }
    const step = (f: AuditFinding & { step?: number }) => f.step ?? 0;
    const perRecord = [...chain.findings, ...this.#findings.filter((f) => f.line > 0)].sort(
      (a, b) => a.line - b.line || step(a) - step(b),
    );
    const logLevel = this.#findings.filter((f) => f.line === 0).sort((a, b) => a.step - b.step);
    const findings: AuditFinding[] = [
      ...logLevel.filter((f) => f.step === 0),
      ...perRecord,
      ...logLevel.filter((f) => f.step > 0),
    ].map(({ code, seq, line, message }) => ({ code, seq, line, message }));
    const tampered = findings.some((f) => !INCOMPLETE_CODES.has(f.code));
    const status: AuditStatus = tampered ? 'tampered' : findings.length > 0 ? 'incomplete' : 'valid';
    this.#report = {
      ok: status === 'valid',
      status,
      records: chain.records,
      firstSeq: chain.firstSeq,
      lastSeq: chain.lastSeq,
      headHash: chain.headHash,
      keysUsed: chain.keysUsed,
      checkpoint: summary,
      checkpointsVerified: this.#checkpoints.length,
      scope: this.#single ? 'record' : this.#fromStart ? 'log' : 'suffix',
      references: this.#checkReferences ? 'checked' : 'skipped',
      findings,
    };
    return this.#report;
  }
}

/** The files of an audit bundle (`zt audit export --bundle DIR`). */
export const BUNDLE_FILES = {
  records: 'records.jsonl',
  checkpoint: 'checkpoint.json',
  keys: 'keys.json',
} as const;
