import { describe, expect, it } from 'vitest';
import { layoutViolation, type SeenSizes } from '../../../local/emulator/layout.ts';

const MAX = 2_097_152;

describe('Function: layoutViolation', () => {
  it.each([
    { name: 'an inner block that splits fileSize', blocks: 3, fileSize: 10, seen: {}, blockNum: 0, size: 4 },
    { name: 'a last block that fits a seen block size', blocks: 3, fileSize: 10, seen: { blockSize: 4 }, blockNum: 2, size: 2 },
    { name: 'a last block seen first that implies a block size', blocks: 3, fileSize: 10, seen: {}, blockNum: 2, size: 2 },
    { name: 'the only block holding fileSize', blocks: 1, fileSize: 10, seen: {}, blockNum: 0, size: 10 },
    { name: 'a full last block', blocks: 2, fileSize: 8, seen: { blockSize: 4 }, blockNum: 1, size: 4 },
    { name: 'any block without fileSize', blocks: 3, fileSize: undefined, seen: {}, blockNum: 1, size: 7 },
    { name: 'an inner block after the last without fileSize', blocks: 3, fileSize: undefined, seen: { lastSize: 3 }, blockNum: 0, size: 7 },
  ])('Should accept $name', ({ blocks, fileSize, seen, blockNum, size }) => {
    // Act
    const violation = layoutViolation({ expectedBlocks: blocks, fileSize, maxBlockBytes: MAX }, seen as SeenSizes, blockNum, size);

    // Assess
    expect(violation).toBeUndefined();
  });

  it.each([
    {
      name: 'an inner block whose size leaves no room for the last',
      blocks: 3, fileSize: 10, seen: {}, blockNum: 0, size: 5,
      reason: 'blocks of 5 bytes cannot split 10 bytes into 3 blocks',
    },
    {
      name: 'an inner block too small for expectedBlocks',
      blocks: 3, fileSize: 10, seen: {}, blockNum: 1, size: 3,
      reason: 'blocks of 3 bytes cannot split 10 bytes into 3 blocks',
    },
    {
      name: 'an inner block of another size',
      blocks: 3, fileSize: undefined, seen: { blockSize: 4 }, blockNum: 1, size: 5,
      reason: 'block 1 holds 5 bytes but the other blocks hold 4',
    },
    {
      name: 'an inner block smaller than the last',
      blocks: 3, fileSize: undefined, seen: { lastSize: 6 }, blockNum: 0, size: 5,
      reason: "block 0 holds 5 bytes, fewer than the last block's 6",
    },
    {
      name: 'an inner block disagreeing with the last for fileSize',
      blocks: 3, fileSize: 10, seen: { lastSize: 2 }, blockNum: 0, size: 3,
      reason: 'blocks of 3 bytes cannot split 10 bytes into 3 blocks',
    },
    {
      name: 'a last block larger than the block size',
      blocks: 3, fileSize: undefined, seen: { blockSize: 4 }, blockNum: 2, size: 5,
      reason: 'the last block holds 5 bytes, more than the block size 4',
    },
    {
      name: 'a last block that does not complete fileSize',
      blocks: 3, fileSize: 10, seen: { blockSize: 4 }, blockNum: 2, size: 1,
      reason: 'the last block must hold 2 bytes, not 1',
    },
    {
      name: 'a last block seen first that fits no block size',
      blocks: 3, fileSize: 10, seen: {}, blockNum: 2, size: 3,
      reason: 'a last block of 3 bytes fits no block size splitting 10 bytes into 3 blocks',
    },
    {
      name: 'the only block not holding fileSize',
      blocks: 1, fileSize: 10, seen: {}, blockNum: 0, size: 9,
      reason: 'the only block must hold 10 bytes, not 9',
    },
    {
      name: 'an empty block',
      blocks: 2, fileSize: undefined, seen: {}, blockNum: 0, size: 0,
      reason: `block 0 must hold 1..${MAX} bytes, not 0`,
    },
  ])('Should reject $name', ({ blocks, fileSize, seen, blockNum, size, reason }) => {
    // Act
    const violation = layoutViolation({ expectedBlocks: blocks, fileSize, maxBlockBytes: MAX }, seen as SeenSizes, blockNum, size);

    // Assess
    expect(violation).toBe(reason);
  });
});
