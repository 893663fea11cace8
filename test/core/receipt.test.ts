import { describe, expect, it } from 'vitest';
import { inclusionProof, leafHash, rootFromLeaves, verifyInclusion } from '../../core/log/merkle.js';
import { InclusionProofBuilder, inclusionProofRanges } from '../../core/verify/receipt.js';

const leaves = (n: number) => Array.from({ length: n }, (_, i) => leafHash(`entry ${i}`));

describe('InclusionProofBuilder', () => {
  it('streams the same proofs as the RFC 6962 PATH, for every leaf of trees of 1 to 40', () => {
    for (let size = 1; size <= 40; size++) {
      const all = leaves(size);
      for (let index = 0; index < size; index++) {
        const builder = new InclusionProofBuilder(index, size);
        for (const h of all) builder.append(h);

        const proof = builder.proof();

        expect(proof.hashes, `${index}/${size}`).toEqual(
          inclusionProof(index, all).map((h) => h.toString('base64')),
        );
        expect(builder.root()).toEqual(rootFromLeaves(all));
      }
    }
  });

  it('ignores leaves past the tree size, and proves against the smaller tree', () => {
    const all = leaves(50);
    const builder = new InclusionProofBuilder(7, 30);
    for (const h of all) builder.append(h);

    const proof = builder.proof().hashes.map((h) => Buffer.from(h, 'base64'));

    expect(verifyInclusion(all[7] as Buffer, 7, 30, proof, rootFromLeaves(all.slice(0, 30)))).toBe(true);
  });

  it('refuses a proof before the tree is complete, and an index outside it', () => {
    const builder = new InclusionProofBuilder(0, 4);
    builder.append(leafHash('a'));

    expect(() => builder.proof()).toThrow(RangeError);
    expect(() => inclusionProofRanges(4, 4)).toThrow(RangeError);
  });
});
