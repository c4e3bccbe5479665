import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockLayoutError, ClipSizeError } from '../../../lib/protocol/errors.ts';
import { MAX_CLIP_BYTES, planBlocks } from '../../../lib/protocol/block-plan.ts';

const MiB = 1024 * 1024;
const CAP = 2 * MiB;

describe('Function: planBlocks', () => {
  it.each([
    // fileSize, expectedBlocks, blockSize, last block size
    [20 * MiB, 10, CAP, CAP],
    [5 * MiB, 3, CAP, MiB],
    [CAP + 1, 2, CAP, 1],
    [10, 4, 3, 1],
    [10, 1, 10, 10],
    [1, 1, 1, 1],
    [MAX_CLIP_BYTES, 2048, CAP, CAP - 1],
  ])('Should lay %i bytes in %i blocks of %i, the last %i', (fileSize, expectedBlocks, blockSize, last) => {
    const plan = planBlocks({ fileSize, expectedBlocks, maxBlockBytes: CAP });
    expect(plan.blockSize).toBe(blockSize);
    expect(plan.blocks).toHaveLength(expectedBlocks);
    const final = plan.blocks.at(-1)!;
    expect(final.end - final.start).toBe(last);
    expect(final).toMatchObject({ blockNum: expectedBlocks - 1, end: fileSize });
  });

  it('Should plan one PUT with no blockNum when the session has no expectedBlocks', () => {
    expect(planBlocks({ fileSize: 5 * MiB, maxBlockBytes: CAP })).toStrictEqual({ blockSize: 5 * MiB, blocks: [{ start: 0, end: 5 * MiB }] });
  });

  it.each([
    [10, 6, /no block size B gives ceil\(10 \/ B\) = 6/],
    [10, 11, /10 bytes cannot fill 11 non-empty blocks/],
    [20 * MiB, 9, /over the 2097152-byte cap/],
    [10, 0, /expectedBlocks 0 is not an integer/],
    [10, 2.5, /expectedBlocks 2.5 is not an integer/],
    [10, 2 ** 32, /expectedBlocks 4294967296 is not an integer/],
  ])('Should refuse %i bytes in %i blocks', (fileSize, expectedBlocks, message) => {
    const act = () => planBlocks({ fileSize, expectedBlocks, maxBlockBytes: CAP });
    expect(act).toThrow(BlockLayoutError);
    expect(act).toThrow(message);
  });

  it.each([0, -1, 2 ** 32, 1.5])('Should refuse a clip of %d bytes', (fileSize) => {
    expect(() => planBlocks({ fileSize, maxBlockBytes: CAP })).toThrow(ClipSizeError);
  });

  it('Should plan contiguous, non-empty, capped blocks that cover the clip exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_CLIP_BYTES }), fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: CAP }), (fileSize, expectedBlocks, cap) => {
        let plan;
        try {
          plan = planBlocks({ fileSize, expectedBlocks, maxBlockBytes: cap });
        } catch (error) {
          expect(error).toBeInstanceOf(BlockLayoutError);
          // Refused only when truly impossible: no B <= cap with ceil(fileSize / B) == expectedBlocks.
          const smallest = Math.ceil(fileSize / expectedBlocks);
          expect(smallest > cap || Math.ceil(fileSize / smallest) !== expectedBlocks).toBe(true);
          return;
        }
        expect(plan.blocks).toHaveLength(expectedBlocks);
        expect(Math.ceil(fileSize / plan.blockSize)).toBe(expectedBlocks);
        let offset = 0;
        plan.blocks.forEach((block, index) => {
          expect(block.blockNum).toBe(index);
          expect(block.start).toBe(offset);
          expect(block.end).toBeGreaterThan(block.start);
          expect(block.end - block.start).toBeLessThanOrEqual(Math.min(plan.blockSize, cap));
          if (index < expectedBlocks - 1) expect(block.end - block.start).toBe(plan.blockSize);
          offset = block.end;
        });
        expect(offset).toBe(fileSize);
      }),
      { numRuns: 500 },
    );
  });
});

describe('Function: planBlocks, a single PUT and its cap', () => {
  it.each([
    [1000, 1000, 'one PUT'],
    [1001, 1000, 'refused'],
    [4_294_967_295, undefined, 'one PUT'],
  ] as const)('Should plan a %i-byte clip without expectedBlocks under a cap of %s as %s', (fileSize, maxSinglePutBytes, expected) => {
    const plan = () => planBlocks({ fileSize, maxBlockBytes: 2_097_152, maxSinglePutBytes });
    if (expected === 'one PUT') expect(plan()).toStrictEqual({ blockSize: fileSize, blocks: [{ start: 0, end: fileSize }] });
    else expect(plan).toThrow(/1001 bytes, over the 1000-byte cap of a single PUT .*expected-blocks/);
  });
});
