import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  rootFromLeaves,
  verifyConsistency,
  verifyInclusion,
} from '../../core/log/merkle.js';

/** The RFC 6962 definition, written out independently of the module under test. */
function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function mth(entries: string[]): Buffer {
  if (entries.length === 0) return sha256();
  if (entries.length === 1) return sha256(Buffer.from([0]), Buffer.from(entries[0]!, 'utf8'));
  let k = 1;
  while (k * 2 < entries.length) k *= 2;
  return sha256(Buffer.from([1]), mth(entries.slice(0, k)), mth(entries.slice(k)));
}

function entriesOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ seq: i + 1, note: `record ${i + 1}` }));
}

function flipped(hash: Uint8Array, byte = 0): Buffer {
  const copy = Buffer.from(hash);
  copy[byte] = copy[byte]! ^ 0x01;
  return copy;
}

const MAX = 32;
const entries = entriesOf(100);
const leaves = entries.map((e) => leafHash(e));
const roots = Array.from({ length: 101 }, (_, n) => mth(entries.slice(0, n)));

describe('when hashing leaves and trees', () => {
  it('hashes the empty tree to SHA-256 of the empty string', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(rootFromLeaves([]).equals(EMPTY_ROOT)).toBe(true);
  });

  it('hashes a one-leaf tree to SHA-256(0x00 || entry)', () => {
    // SHA-256 of the single byte 0x00: the RFC 6962 leaf hash of an empty entry
    expect(leafHash('').toString('hex')).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    expect(rootFromLeaves([leafHash('abc')]).equals(sha256(Buffer.from([0]), Buffer.from('abc')))).toBe(true);
  });

  it('hashes a string entry as its UTF-8 bytes', () => {
    expect(leafHash('é\u2014').equals(leafHash(Buffer.from('é\u2014', 'utf8')))).toBe(true);
  });

  it('matches the recursive definition for every size 0..100', () => {
    for (let n = 0; n <= 100; n++) {
      expect(rootFromLeaves(leaves.slice(0, n)).equals(roots[n]!), `size ${n}`).toBe(true);
    }
  });

  it('matches hand-built 2-, 3- and 5-leaf trees', () => {
    const [a, b, c, d, e] = leaves as [Buffer, Buffer, Buffer, Buffer, Buffer];
    const node = (l: Uint8Array, r: Uint8Array) => sha256(Buffer.from([1]), l, r);
    expect(rootFromLeaves([a, b]).equals(node(a, b))).toBe(true);
    expect(rootFromLeaves([a, b, c]).equals(node(node(a, b), c))).toBe(true);
    expect(rootFromLeaves([a, b, c, d, e]).equals(node(node(node(a, b), node(c, d)), e))).toBe(true);
  });
});

describe('when extending a CompactRange', () => {
  it('has the recursive root at every size 0..100', () => {
    const range = new CompactRange();
    expect(range.root().equals(EMPTY_ROOT)).toBe(true);
    for (let n = 1; n <= 100; n++) {
      range.append(leaves[n - 1]!);
      expect(range.size).toBe(n);
      expect(range.root().equals(roots[n]!), `size ${n}`).toBe(true);
    }
  });

  it('round-trips through JSON at every size and keeps extending correctly', () => {
    let range = new CompactRange();
    for (let n = 0; n < 100; n++) {
      const json = JSON.parse(JSON.stringify(range.toJSON()));
      range = CompactRange.fromJSON(json);
      expect(range.size).toBe(n);
      expect(range.root().equals(roots[n]!)).toBe(true);
      range.append(leaves[n]!);
    }
    expect(range.root().equals(roots[100]!)).toBe(true);
  });

  it('keeps one hash per set bit of the size', () => {
    const range = new CompactRange();
    for (let n = 0; n < 100; n++) range.append(leaves[n]!);
    // 100 = 0b1100100
    expect(range.toJSON().hashes).toHaveLength(3);
  });

  it('refuses malformed JSON', () => {
    const good = (() => {
      const r = new CompactRange();
      for (let n = 0; n < 3; n++) r.append(leaves[n]!);
      return r.toJSON();
    })();
    expect(() => CompactRange.fromJSON(null)).toThrow(TypeError);
    expect(() => CompactRange.fromJSON({ ...good, size: 4 })).toThrow(TypeError);
    expect(() => CompactRange.fromJSON({ ...good, size: -1 })).toThrow(TypeError);
    expect(() => CompactRange.fromJSON({ ...good, hashes: [good.hashes[0], 'AAAA'] })).toThrow(TypeError);
  });

  it('refuses a leaf hash that is not 32 bytes', () => {
    expect(() => new CompactRange().append(new Uint8Array(31))).toThrow(TypeError);
  });
});

describe('when proving inclusion', () => {
  it('verifies every (index, size) up to 32', () => {
    for (let size = 1; size <= MAX; size++) {
      const tree = leaves.slice(0, size);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, tree);
        expect(verifyInclusion(leaves[index]!, index, size, proof, roots[size]!), `${index}/${size}`).toBe(
          true,
        );
      }
    }
  });

  it('fails when one byte of the leaf, a proof hash or the root is flipped', () => {
    for (let size = 1; size <= MAX; size++) {
      const tree = leaves.slice(0, size);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, tree);
        const root = roots[size]!;
        expect(verifyInclusion(flipped(leaves[index]!), index, size, proof, root)).toBe(false);
        expect(verifyInclusion(leaves[index]!, index, size, proof, flipped(root, 31))).toBe(false);
        proof.forEach((_, i) => {
          const bad = proof.map((h, j) => (i === j ? flipped(h, 17) : h));
          expect(verifyInclusion(leaves[index]!, index, size, bad, root), `${index}/${size} hash ${i}`).toBe(
            false,
          );
        });
      }
    }
  });

  it('fails with the wrong index, or against the root of another size', () => {
    for (let size = 1; size <= MAX; size++) {
      const tree = leaves.slice(0, size);
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(index, tree);
        for (let other = 0; other <= size; other++) {
          if (other === index) continue;
          expect(
            verifyInclusion(leaves[index]!, other, size, proof, roots[size]!),
            `${index}->${other}/${size}`,
          ).toBe(false);
        }
        for (let otherSize = 1; otherSize <= MAX + 1; otherSize++) {
          if (otherSize === size) continue;
          expect(
            verifyInclusion(leaves[index]!, index, otherSize, proof, roots[otherSize]!),
            `${index}/${size}->${otherSize}`,
          ).toBe(false);
        }
      }
    }
  });

  it('fails with a proof that is too short or too long', () => {
    const proof = inclusionProof(5, leaves.slice(0, 13));
    expect(verifyInclusion(leaves[5]!, 5, 13, proof.slice(1), roots[13]!)).toBe(false);
    expect(verifyInclusion(leaves[5]!, 5, 13, [...proof, leaves[0]!], roots[13]!)).toBe(false);
  });

  it('refuses an index outside the tree', () => {
    expect(() => inclusionProof(3, leaves.slice(0, 3))).toThrow(RangeError);
    expect(verifyInclusion(leaves[0]!, 0, 0, [], EMPTY_ROOT)).toBe(false);
  });
});

describe('when proving consistency', () => {
  it('verifies every (m, n) up to 32', () => {
    for (let n = 0; n <= MAX; n++) {
      const tree = leaves.slice(0, n);
      for (let m = 0; m <= n; m++) {
        const proof = consistencyProof(m, n, tree);
        expect(verifyConsistency(m, n, roots[m]!, roots[n]!, proof), `${m}->${n}`).toBe(true);
      }
    }
  });

  it('fails when one byte of a root or a proof hash is flipped', () => {
    for (let n = 1; n <= MAX; n++) {
      const tree = leaves.slice(0, n);
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, n, tree);
        expect(verifyConsistency(m, n, flipped(roots[m]!), roots[n]!, proof), `${m}->${n} old root`).toBe(
          false,
        );
        expect(verifyConsistency(m, n, roots[m]!, flipped(roots[n]!), proof), `${m}->${n} new root`).toBe(
          false,
        );
        proof.forEach((_, i) => {
          const bad = proof.map((h, j) => (i === j ? flipped(h, 9) : h));
          expect(verifyConsistency(m, n, roots[m]!, roots[n]!, bad), `${m}->${n} hash ${i}`).toBe(false);
        });
      }
    }
  });

  it('fails when used for other sizes, with their roots', () => {
    for (let n = 2; n <= MAX; n++) {
      const tree = leaves.slice(0, n);
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(m, n, tree);
        for (let m2 = 1; m2 < n; m2++) {
          if (m2 === m) continue;
          expect(verifyConsistency(m2, n, roots[m2]!, roots[n]!, proof), `${m}->${n} as ${m2}`).toBe(false);
        }
        for (let n2 = m + 1; n2 <= MAX + 1; n2++) {
          if (n2 === n) continue;
          expect(verifyConsistency(m, n2, roots[m]!, roots[n2]!, proof), `${m}->${n} as ->${n2}`).toBe(false);
        }
      }
    }
  });

  it('fails for a tree that is not an extension', () => {
    // a different 5th leaf: the 8-leaf tree does not extend the 5-leaf one
    const forked = [...leaves.slice(0, 4), leafHash('forged'), ...leaves.slice(5, 8)];
    const proof = consistencyProof(5, 8, forked);
    expect(verifyConsistency(5, 8, roots[5]!, rootFromLeaves(forked), proof)).toBe(false);
  });

  it('fails for m > n, equal sizes with different roots, or a non-empty proof from 0', () => {
    expect(verifyConsistency(5, 4, roots[5]!, roots[4]!, [])).toBe(false);
    expect(verifyConsistency(4, 4, roots[4]!, roots[5]!, [])).toBe(false);
    expect(verifyConsistency(0, 4, EMPTY_ROOT, roots[4]!, [roots[4]!])).toBe(false);
    expect(verifyConsistency(0, 4, roots[1]!, roots[4]!, [])).toBe(false);
    expect(() => consistencyProof(5, 4, leaves)).toThrow(RangeError);
  });
});
