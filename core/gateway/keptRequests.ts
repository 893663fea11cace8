import { ValidationError } from '../errors/errors.js';
import { canonicalizeData, canonicalSha256, sha256Hex } from '../model/canonical.js';
import type { DecisionRecord } from '../model/records.js';
import { ACTION_PATTERN } from '../model/validate.js';

/**
 * Request data kept for replay (`zt policies replay`): a decision record holds only the SHA-256 of its request's
 * `params` and `context`, so re-evaluating it under other policies needs the data itself. A gateway configured to
 * keep it (opt-in, per action) writes one item per policy-evaluated decision, in the same transaction as the
 * record, to a partition of its own that is **not** part of any chain: it is not signed, and it can be
 * deleted (retention) without touching the log. What makes it trustworthy is the record: replay uses an item
 * only when its `params` and `context` hash to the record's `params_sha256` and `context_sha256`
 * ({@link checkKeptRequest}).
 */
export interface KeptRequest {
  /** The decision record's id (`<lane>-<seq>`). */
  id: string;
  /** The decision record's `current_hash`. */
  record_hash: string;
  params: unknown;
  context: Record<string, unknown>;
  /**
   * The agent's attributes as the decision saw them (policies read them as `principal.<attr>`). Not covered by
   * any hash in the record: replay uses them as kept (see the README, "Replay").
   */
  agent_attributes: Record<string, unknown>;
  /** Epoch ms after which the item is neither served nor replayed (the retention). */
  expires_at: number;
}

/** Which requests a gateway keeps, and for how long. */
export interface RequestKeeping {
  /** Action ids (`payments.refund`), prefixes (`payments.*`) or `*` for every action. */
  actions: string[];
  /** Days an item is kept after its decision. */
  retentionDays: number;
}

export const DEFAULT_RETENTION_DAYS = 30;
const MAX_RETENTION_DAYS = 3650;

/**
 * The keeping setting from its two environment values (`ZT_KEEP_REQUESTS`, `ZT_KEEP_REQUESTS_DAYS` for the
 * emulator; `KEEP_REQUESTS`, `KEEP_REQUESTS_DAYS` for the functions): null (keep nothing) when `actions` is
 * unset or empty.
 *
 * @throws ValidationError on a pattern that is no action id, prefix or `*`, or a retention that is not 1-3650 days.
 */
export function parseRequestKeeping(
  actions: string | undefined,
  days: string | undefined,
): RequestKeeping | null {
  if (actions === undefined || actions.trim() === '') return null;
  const patterns = actions
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  for (const p of patterns) {
    const name = p.endsWith('.*') ? p.slice(0, -2) : p;
    if (p !== '*' && !ACTION_PATTERN.test(name)) {
      throw new ValidationError(
        `the actions whose requests are kept must be action ids, \`<prefix>.*\` or \`*\`, got \`${p}\``,
      );
    }
  }
  let retentionDays = DEFAULT_RETENTION_DAYS;
  if (days !== undefined && days.trim() !== '') {
    retentionDays = Number(days);
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
      throw new ValidationError(
        `the retention of kept requests must be 1-${MAX_RETENTION_DAYS} days, got \`${days}\``,
      );
    }
  }
  return { actions: patterns, retentionDays };
}

/** Whether `keeping` keeps the requests of `action`. */
export function keepsAction(keeping: RequestKeeping, action: string): boolean {
  return keeping.actions.some(
    (p) => p === '*' || p === action || (p.endsWith('.*') && action.startsWith(p.slice(0, -1))),
  );
}

/** The partition of a lane's kept requests: sk = the record's 20-digit seq, like its record's. */
export function keptRequestPartition(lane: string): string {
  return `request#${lane}`;
}

export type KeptRequestCode =
  | 'REQUEST_DATA_INVALID'
  | 'REQUEST_DATA_MISMATCH'
  | 'REQUEST_DATA_UNKNOWN_RECORD'
  | 'REQUEST_DATA_DUPLICATE';

/**
 * Checks kept request data against its decision record: the record hash, and the SHA-256 of `params` and of
 * `context` exactly as the gateway computed them. Returns null when it matches, else a message naming what
 * differs. `kept` is untrusted input (a file anyone could edit).
 */
export function checkKeptRequest(record: DecisionRecord, kept: KeptRequest): string | null {
  if (kept.record_hash !== record.current_hash) {
    return `the request data of \`${record.id}\` names record hash \`${String(kept.record_hash)}\`, the record's is \`${record.current_hash}\``;
  }
  let params: string;
  let context: string;
  try {
    params = canonicalSha256(kept.params);
    context = sha256Hex(canonicalizeData(kept.context));
  } catch {
    return `the request data of \`${record.id}\` cannot be canonicalized`;
  }
  if (params !== record.params_sha256) {
    return `the params kept for \`${record.id}\` hash to \`${params}\`, the record says \`${record.params_sha256}\``;
  }
  if (context !== record.context_sha256) {
    return `the context kept for \`${record.id}\` hashes to \`${context}\`, the record says \`${record.context_sha256}\``;
  }
  return null;
}

/**
 * One line of `requests.jsonl` (or one stored item) as a {@link KeptRequest}, or a message saying what is wrong.
 */
export function parseKeptRequest(text: string): KeptRequest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not a JSON object';
  const o = value as Record<string, unknown>;
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (typeof o['id'] !== 'string') return 'has no string `id`';
  if (typeof o['record_hash'] !== 'string') return 'has no string `record_hash`';
  if (!isObject(o['context'])) return 'has no object `context`';
  if (!isObject(o['agent_attributes'])) return 'has no object `agent_attributes`';
  if (!Object.hasOwn(o, 'params')) return 'has no `params`';
  if (!Number.isSafeInteger(o['expires_at'])) return 'has no integer `expires_at`';
  return o as unknown as KeptRequest;
}
