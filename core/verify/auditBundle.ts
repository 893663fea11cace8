import { keyIdOf } from '../keys/signing.js';
import { LANE_NAME_PATTERN, MAIN_LANE } from '../model/records.js';
import type { AddFinding } from './auditReport.js';
import { ChainVerifierOptionsError } from './chainVerifierOptions.js';

/**
 * An audit's documents beside its records, and how the audit verifier (core/verify/AuditVerifier.ts) reads
 * them: the files of a bundle, the statements a checkpoint file holds, and the keys file (step 7), which may
 * add session keys through their certificates, never a root.
 */

/** The files of an audit bundle (`zt audit export --bundle DIR`). */
export const BUNDLE_FILES = {
  /** One JSONL file per lane: `lanes/<lane>.jsonl`. */
  lanes: 'lanes',
  /** A bundle from before lanes: the `main` lane's records. */
  records: 'records.jsonl',
  checkpoint: 'checkpoint.json',
  keys: 'keys.json',
  /**
   * The request data kept for replay (`zt audit export --bundle DIR --requests`), one JSON object per line,
   * keyed by record id and hash: not part of the log, not verified by `zt-audit`, checked by replay against
   * each record's hashes.
   */
  requests: 'requests.jsonl',
} as const;

/** A JSON object: not null, not an array. */
export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The checkpoint documents in a `--checkpoint` file: one lane checkpoint, a `GET /audit/checkpoints` body,
 * an array, an epoch, or a `GET /audit/checkpoint` body (its lane checkpoint, its `epoch` and its
 * `checkpoints`; the top-level lane's copy in `checkpoints` is the same note and counted once).
 */
export function checkpointsOf(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc.flatMap((d) => checkpointsOf(d));
  if (isObject(doc) && Array.isArray(doc['checkpoints'])) {
    const out: unknown[] = [];
    if (typeof doc['note'] === 'string') out.push(doc);
    if (doc['epoch'] !== undefined) out.push(doc['epoch']);
    const notes = new Set(out.map((o) => (isObject(o) ? o['note'] : undefined)));
    for (const cp of doc['checkpoints'] as unknown[]) {
      if (!(isObject(cp) && notes.has(cp['note']))) out.push(cp);
    }
    return out;
  }
  return [doc];
}

/** The `chain` a value claims, when it is a lane name. */
export function chainOf(value: unknown): string | null {
  const chain = isObject(value) ? value['chain'] : undefined;
  return typeof chain === 'string' && LANE_NAME_PATTERN.test(chain) ? chain : null;
}

/** Step 7: the keys file may add session keys (through certificates, each in its lane), never a root. */
export function readKeys(
  doc: unknown,
  trustedRootKeys: string[],
  certificates: Map<string, unknown[]>,
  finding: AddFinding,
): void {
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
        finding(
          'KEYS_ROOT_MISMATCH',
          null,
          null,
          0,
          `the keys file names root key \`${String(entry['keyId'])}\`, which is not a trusted --public-key: the keys file was replaced or belongs to another gateway`,
          0,
        );
      }
    } else if (entry['certificate'] !== undefined) {
      // A session key certified in one lane signs only in that lane.
      const lane = chainOf(entry['certificate']) ?? MAIN_LANE;
      const list = certificates.get(lane) ?? [];
      list.push(entry['certificate']);
      certificates.set(lane, list);
    }
  });
}
