/** The largest file a session can describe: `fileSize` is a 32-bit unsigned integer. */
export const MAX_FILE_BYTES = 0xffff_ffff;

/** A block upload's declared shape. */
export interface BlockLayout {
  expectedBlocks: number;
  fileSize?: number | undefined;
  maxBlockBytes: number;
}

/** Sizes learnt from blocks already accepted: `B` from any non-last block, the last block's size. */
export interface SeenSizes {
  blockSize?: number;
  lastSize?: number;
}

/**
 * Says why a block of `size` bytes at `blockNum` contradicts the layout (every block `B` bytes
 * but the last, which holds `1..B`; with a known fileSize `ceil(fileSize / B) == expectedBlocks`
 * and the sizes add up to fileSize), or returns undefined when it fits with what was seen.
 */
export function layoutViolation(
  layout: BlockLayout,
  seen: SeenSizes,
  blockNum: number,
  size: number,
): string | undefined {
  const { expectedBlocks, fileSize, maxBlockBytes } = layout;
  const lastNum = expectedBlocks - 1;
  if (size < 1 || size > maxBlockBytes) return `block ${blockNum} must hold 1..${maxBlockBytes} bytes, not ${size}`;
  if (blockNum < lastNum) return innerBlockViolation(lastNum, fileSize, seen, blockNum, size);
  return lastBlockViolation(lastNum, fileSize, maxBlockBytes, seen, size);
}

function innerBlockViolation(
  lastNum: number,
  fileSize: number | undefined,
  seen: SeenSizes,
  blockNum: number,
  size: number,
): string | undefined {
  if (seen.blockSize !== undefined && size !== seen.blockSize) {
    return `block ${blockNum} holds ${size} bytes but the other blocks hold ${seen.blockSize}`;
  }
  if (seen.lastSize !== undefined && seen.lastSize > size) {
    return `block ${blockNum} holds ${size} bytes, fewer than the last block's ${seen.lastSize}`;
  }
  if (fileSize === undefined) {
    return lastNum * size + 1 > MAX_FILE_BYTES ? `blocks of ${size} bytes overflow the largest file` : undefined;
  }
  const lastSize = fileSize - lastNum * size;
  if (lastSize < 1 || lastSize > size) {
    return `blocks of ${size} bytes cannot split ${fileSize} bytes into ${lastNum + 1} blocks`;
  }
  if (seen.lastSize !== undefined && seen.lastSize !== lastSize) {
    return `blocks of ${size} bytes leave ${lastSize} bytes for the last block, which holds ${seen.lastSize}`;
  }
  return undefined;
}

function lastBlockViolation(
  lastNum: number,
  fileSize: number | undefined,
  maxBlockBytes: number,
  seen: SeenSizes,
  size: number,
): string | undefined {
  if (seen.blockSize !== undefined) {
    if (size > seen.blockSize) return `the last block holds ${size} bytes, more than the block size ${seen.blockSize}`;
    if (fileSize !== undefined && size !== fileSize - lastNum * seen.blockSize) {
      return `the last block must hold ${fileSize - lastNum * seen.blockSize} bytes, not ${size}`;
    }
    return undefined;
  }
  if (fileSize === undefined) return undefined;
  if (lastNum === 0) return size === fileSize ? undefined : `the only block must hold ${fileSize} bytes, not ${size}`;
  const rest = fileSize - size;
  const blockSize = rest / lastNum;
  if (rest <= 0 || !Number.isInteger(blockSize) || blockSize < size || blockSize > maxBlockBytes) {
    return `a last block of ${size} bytes fits no block size splitting ${fileSize} bytes into ${lastNum + 1} blocks`;
  }
  return undefined;
}
