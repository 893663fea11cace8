import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { prepareLine } from '../../core/ChainVerifier.js';
import { keyIdOf } from '../../core/signing.js';
import type { LineBatchReply, LinePoolMessage, LineWorkerData } from './LinePool.js';

/**
 * A worker of {@link LinePool}: takes batches of stored lines (one joined string per message) through
 * {@link prepareLine} (parse, schema, canonical text, hash, ECDSA check) and returns, per line, the reduced
 * record or the line itself (for the main thread to verify inline), and the RFC 6962 leaf hashes.
 */

const port = parentPort;
if (port === null) throw new Error('verifyWorker runs on a worker thread');

const keys = new Map<string, KeyObject>();
for (const pem of (workerData as LineWorkerData).roots) {
  try {
    const key = createPublicKey(pem);
    keys.set(keyIdOf(key), key);
  } catch {
    // The main thread's verifier refuses an unusable root key itself.
  }
}

const LEAF_PREFIX = Buffer.from([0x00]);

port.on('message', (m: LinePoolMessage) => {
  if (m.type === 'key') {
    // Announced from an unverified line: kept only if its id is the hash of the key.
    try {
      const key = createPublicKey(m.pem);
      if (!keys.has(m.keyId) && keyIdOf(key) === m.keyId) keys.set(m.keyId, key);
    } catch {
      // Not a key: the line is reported when the main thread verifies it.
    }
    return;
  }
  const lines = m.text.split('\n');
  const leaves = new Uint8Array(lines.length * 32);
  const entries: unknown[] = new Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const prepared = prepareLine(line, keys);
    if (prepared.record === null) {
      entries[i] = line;
      const certified = prepared.certifiedKey;
      // An id is the hash of its key: checking later lines with it is sound whether or not the
      // certificate is valid; the main thread decides, in order, whether the key is trusted.
      if (certified && !keys.has(certified.keyId)) keys.set(certified.keyId, certified.publicKey);
      continue;
    }
    entries[i] = prepared.record;
    leaves.set(createHash('sha256').update(LEAF_PREFIX).update(line, 'utf8').digest(), i * 32);
  }
  const reply: LineBatchReply = { batch: m.batch, entries: JSON.stringify(entries), leaves };
  port.postMessage(reply, [leaves.buffer]);
});
