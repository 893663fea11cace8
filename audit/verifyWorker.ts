import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { keyIdOf, verifySignature } from '../core/keys/index.js';
import { prepareLine } from '../core/verify/index.js';
import type { VerifyJob, VerifyKey, VerifyResult, VerifyWorkerData } from './verifyJobs.js';
import { serveWorkerJobs } from './workerJobs.js';

/**
 * A worker of the verifier's pool (`WorkerPool<VerifyJob, VerifyResult, VerifyKey>`):
 *
 * - `lines`: a batch of stored lines (one joined string) taken through {@link prepareLine} (parse, schema,
 *   canonical text, hash, the ECDSA check under the key its `kms_signature.key_id` names); per line the
 *   reduced record, or the line itself for the main thread to verify inline; and the RFC 6962 leaf hashes.
 * - `signatures`: ECDSA checks of parsed records (a JSON array input), one bit each.
 *
 * Keys: the roots at start, then every key announced (a key record about to be read) or met in a key
 * record, kept only when its id is the hash of the key: an id proves its key, so a check with it is sound
 * whatever the certificate's fate; the main thread decides, in order and per lane, whether it is trusted.
 */

const keys = new Map<string, KeyObject>();

function learn(keyId: string, pem: string): void {
  if (keys.has(keyId)) return;
  try {
    const key = createPublicKey(pem);
    if (keyIdOf(key) === keyId) keys.set(keyId, key);
  } catch {
    // Not a key: the line is reported when the main thread verifies it.
  }
}

for (const pem of (workerData as VerifyWorkerData).roots) {
  try {
    const key = createPublicKey(pem);
    keys.set(keyIdOf(key), key);
  } catch {
    // The main thread's verifier refuses an unusable root key itself.
  }
}

const LEAF_PREFIX = Buffer.from([0x00]);

function lines(text: string): { result: VerifyResult; transfer: ArrayBuffer[] } {
  const all = text.split('\n');
  const leaves = new Uint8Array(all.length * 32);
  const entries: unknown[] = new Array(all.length);
  for (let i = 0; i < all.length; i++) {
    const line = all[i] as string;
    const prepared = prepareLine(line, keys);
    if (prepared.record === null) {
      entries[i] = line;
      const certified = prepared.certifiedKey;
      if (certified && !keys.has(certified.keyId)) keys.set(certified.keyId, certified.publicKey);
      continue;
    }
    entries[i] = prepared.record;
    leaves.set(createHash('sha256').update(LEAF_PREFIX).update(line, 'utf8').digest(), i * 32);
  }
  return {
    result: { kind: 'lines', entries: JSON.stringify(entries), leaves },
    transfer: [leaves.buffer as ArrayBuffer],
  };
}

function signatures(job: Extract<VerifyJob, { kind: 'signatures' }>): {
  result: VerifyResult;
  transfer: ArrayBuffer[];
} {
  const valid = new Uint8Array(job.payloads.length);
  for (let i = 0; i < job.payloads.length; i++) {
    const key = keys.get(job.keyIds[i] as string);
    if (key === undefined) continue;
    valid[i] = verifySignature(key, job.payloads[i] as string, job.signatures[i] as string) ? 1 : 0;
  }
  return { result: { kind: 'signatures', valid }, transfer: [valid.buffer as ArrayBuffer] };
}

serveWorkerJobs<VerifyJob, VerifyResult, VerifyKey>({
  job: (job) => (job.kind === 'lines' ? lines(job.text) : signatures(job)),
  broadcast: (key) => learn(key.keyId, key.pem),
});
