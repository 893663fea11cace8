import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing over the audit chain.
 *
 * The leaf entry of record `seq` is its stored canonical JSON text (UTF-8), at leaf index `seq - 1`.
 * Hashes are 32-byte SHA-256 digests. Sizes and indices are JavaScript safe integers; the bit arithmetic
 * below uses division, not `>>`, so it stays correct past 2^31 leaves.
 */

/** Length of every hash in the tree. */
export const HASH_SIZE = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** MTH({}) = SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** MTH({d}) = SHA-256(0x00 || d); a string entry is hashed as its UTF-8 bytes. */
export function leafHash(entry: string | Uint8Array): Buffer {
  const bytes = typeof entry === 'string' ? Buffer.from(entry, 'utf8') : entry;
  return createHash('sha256').update(LEAF_PREFIX).update(bytes).digest();
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/** The largest power of two strictly below `n` (n > 1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  if (n < 1) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

function popCount(n: number): number {
  let count = 0;
  for (; n > 0; n = half(n)) if (isOdd(n)) count++;
  return count;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  return isHash(a) && isHash(b) && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

function checkLeaves(leafHashes: readonly Uint8Array[]): void {
  leafHashes.forEach((h, i) => {
    if (!isHash(h)) throw new TypeError(`leaf hash ${i} is not ${HASH_SIZE} bytes`);
  });
}

/** MTH(D[start:end]) by the recursive definition; O(end - start) time, O(log n) stack. */
function subtreeRoot(leaves: readonly Uint8Array[], start: number, end: number): Buffer {
  const n = end - start;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return Buffer.from(leaves[start]!);
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end));
}

/** The Merkle tree hash of a list of leaf hashes (already `leafHash`ed). */
export function rootFromLeaves(leafHashes: readonly Uint8Array[]): Buffer {
  checkLeaves(leafHashes);
  return subtreeRoot(leafHashes, 0, leafHashes.length);
}

/** The JSON form of a `CompactRange`: its size and the base64 roots of its perfect subtrees, largest first. */
export interface CompactRangeJson {
  size: number;
  hashes: string[];
}

/**
 * The Merkle "frontier" of the range [0, size): the roots of the perfect subtrees that the binary
 * decomposition of `size` splits it into, largest (leftmost) first. It holds popcount(size) <= 53 hashes,
 * so a root over millions of leaves is kept and extended in O(log n) memory and O(1) amortised per leaf.
 *
 * INVARIANT: `#hashes.length === popCount(#size)` and `#hashes[i]` is the root of the i-th perfect subtree.
 */
export class CompactRange {
  #size = 0;
  #hashes: Buffer[] = [];

  /** Number of leaves covered. */
  get size(): number {
    return this.#size;
  }

  /** Adds the next leaf (a `leafHash`), merging equal-sized subtrees as a binary counter carries. */
  append(hash: Uint8Array): void {
    if (!isHash(hash)) throw new TypeError(`leaf hash is not ${HASH_SIZE} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw new RangeError('compact range is full');
    let carry: Buffer = Buffer.from(hash);
    for (let s = this.#size; isOdd(s); s = half(s)) carry = nodeHash(this.#hashes.pop()!, carry);
    this.#hashes.push(carry);
    this.#size++;
  }

  /** MTH of the leaves covered: the subtree roots folded right to left, as RFC 6962 splits the tree. */
  root(): Buffer {
    if (this.#hashes.length === 0) return EMPTY_ROOT;
    let root = this.#hashes[this.#hashes.length - 1]!;
    for (let i = this.#hashes.length - 2; i >= 0; i--) root = nodeHash(this.#hashes[i]!, root);
    return root;
  }

  toJSON(): CompactRangeJson {
    return { size: this.#size, hashes: this.#hashes.map((h) => h.toString('base64')) };
  }

  /** Rebuilds a range from `toJSON()` output; throws a `TypeError` on anything else. */
  static fromJSON(json: unknown): CompactRange {
    if (json === null || typeof json !== 'object') throw new TypeError('compact range must be an object');
    const { size, hashes } = json as Record<string, unknown>;
    if (typeof size !== 'number' || !isSize(size)) {
      throw new TypeError('compact range `size` must be a non-negative integer');
    }
    if (!Array.isArray(hashes) || hashes.length !== popCount(size)) {
      throw new TypeError(`compact range of size ${size} must hold ${popCount(size)} hashes`);
    }
    const decoded = hashes.map((h, i) => {
      const bytes = typeof h === 'string' ? Buffer.from(h, 'base64') : null;
      if (bytes === null || bytes.length !== HASH_SIZE || bytes.toString('base64') !== h) {
        throw new TypeError(`compact range hash ${i} is not base64 of ${HASH_SIZE} bytes`);
      }
      return bytes;
    });
    const range = new CompactRange();
    range.#size = size;
    range.#hashes = decoded;
    return range;
  }
}

/**
 * RFC 6962 section 2.1.1 PATH(m, D[n]): the audit path of leaf `index` in the tree of all `leafHashes`,
 * leaf to root. O(n) time: proofs are computed offline from an export.
 */
export function inclusionProof(index: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  checkLeaves(leafHashes);
  if (!isSize(index) || index >= leafHashes.length) {
    throw new RangeError(`leaf index must be below the tree size ${leafHashes.length}, got \`${index}\``);
  }
  const path = (m: number, start: number, end: number): Buffer[] => {
    const n = end - start;
    if (n <= 1) return [];
    const k = splitPoint(n);
    if (m < k) return [...path(m, start, start + k), subtreeRoot(leafHashes, start + k, end)];
    return [...path(m - k, start + k, end), subtreeRoot(leafHashes, start, start + k)];
  };
  return path(index, 0, leafHashes.length);
}

/** RFC 9162 section 2.1.3.2: checks that `leafHash` is leaf `index` of the tree of `size` leaves with `root`. */
export function verifyInclusion(
  hash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isSize(index) || !isSize(size) || index >= size) return false;
  if (!isHash(hash) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(hash);
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalHashes(r, root);
}

/**
 * RFC 6962 section 2.1.2 PROOF(m, D[n]): proves the tree of the first `m` leaves is a prefix of the tree
 * of the first `n`. Empty when m is 0 or m equals n (nothing to prove beyond comparing roots).
 */
export function consistencyProof(m: number, n: number, leafHashes: readonly Uint8Array[]): Buffer[] {
  checkLeaves(leafHashes);
  if (!isSize(m) || !isSize(n) || m > n || n > leafHashes.length) {
    throw new RangeError(
      `consistency proof needs 0 <= m <= n <= ${leafHashes.length}, got m \`${m}\` and n \`${n}\``,
    );
  }
  if (m === 0 || m === n) return [];
  // SUBPROOF(m, D[start:end], b)
  const subproof = (m: number, start: number, end: number, whole: boolean): Buffer[] => {
    const size = end - start;
    if (m === size) return whole ? [] : [subtreeRoot(leafHashes, start, end)];
    const k = splitPoint(size);
    if (m <= k) return [...subproof(m, start, start + k, whole), subtreeRoot(leafHashes, start + k, end)];
    return [...subproof(m - k, start + k, end, false), subtreeRoot(leafHashes, start, start + k)];
  };
  return subproof(m, 0, n, true);
}

/**
 * RFC 9162 section 2.1.4.2: checks that the tree of size `m` with `rootM` is a prefix of the tree of size
 * `n` with `rootN`. For m = n the proof must be empty and the roots equal; for m = 0 the proof must be
 * empty and `rootM` the empty-tree root (every tree extends the empty one).
 */
export function verifyConsistency(
  m: number,
  n: number,
  rootM: Uint8Array,
  rootN: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (!isHash(rootM) || !isHash(rootN) || !proof.every(isHash)) return false;
  if (m === 0) return proof.length === 0 && equalHashes(rootM, EMPTY_ROOT);
  if (m === n) return proof.length === 0 && equalHashes(rootM, rootN);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalHashes(fr, rootM) && equalHashes(sr, rootN);
}
