import { BlockLayoutError, ClipSizeError } from './errors.ts';
import { MAX_CLIP_BYTES, MAX_EXPECTED_BLOCKS } from './limits.ts';

// Defined in limits.ts; re-exported for the callers that plan with it (bench, 4 GiB tests).
export { MAX_CLIP_BYTES };

/** One PUT of the upload: bytes [start, end) of the clip; blockNum absent for a single-PUT upload. */
export interface Block {
  blockNum?: number;
  start: number;
  end: number;
}

/** The PUTs that upload one clip, in blockNum order. */
export interface BlockPlan {
  /** The common block size B (the last block holds 1..B bytes); the file size for a single PUT. */
  blockSize: number;
  expectedBlocks?: number;
  blocks: Block[];
}

/**
 * Plans the blocks of a clip as docs/protocol.md lays them out: every block B bytes but the last,
 * which holds 1..B, and ceil(fileSize / B) == expectedBlocks, with B <= maxBlockBytes.
 * Among the valid B it takes the largest, which is the layout a client that split at the cap
 * (the usual case) produced when it asked for expectedBlocks.
 * Without expectedBlocks the whole clip is one PUT with no blockNum, up to `maxSinglePutBytes`.
 *
 * @throws ClipSizeError when the clip is empty, larger than 4 GiB - 1, or a single PUT over `maxSinglePutBytes`
 * @throws BlockLayoutError when no layout fits
 */
export function planBlocks(input: { fileSize: number; expectedBlocks?: number | undefined; maxBlockBytes: number; maxSinglePutBytes?: number | undefined }): BlockPlan {
  const { fileSize, expectedBlocks, maxBlockBytes, maxSinglePutBytes = MAX_CLIP_BYTES } = input;
  if (!Number.isSafeInteger(fileSize) || fileSize < 1) {
    throw new ClipSizeError(`clip is ${fileSize} bytes; the protocol needs at least 1 byte`);
  }
  if (fileSize > MAX_CLIP_BYTES) {
    throw new ClipSizeError(`clip is ${fileSize} bytes; the protocol's fileSize is at most ${MAX_CLIP_BYTES} (4 GiB - 1)`);
  }
  if (expectedBlocks === undefined) {
    if (fileSize > maxSinglePutBytes) {
      throw new ClipSizeError(
        `clip is ${fileSize} bytes, over the ${maxSinglePutBytes}-byte cap of a single PUT (CLIP_RELAY_MAX_SINGLE_PUT_BYTES): open the upload session with expectedBlocks and give the clip metadata expected-blocks`,
      );
    }
    return { blockSize: fileSize, blocks: [{ start: 0, end: fileSize }] };
  }
  if (!Number.isSafeInteger(expectedBlocks) || expectedBlocks < 1 || expectedBlocks > MAX_EXPECTED_BLOCKS) {
    throw new BlockLayoutError(`expectedBlocks ${expectedBlocks} is not an integer from 1 to ${MAX_EXPECTED_BLOCKS}`);
  }
  if (expectedBlocks > fileSize) {
    throw new BlockLayoutError(`${fileSize} bytes cannot fill ${expectedBlocks} non-empty blocks`);
  }
  // Valid B satisfy (n - 1) * B < fileSize <= n * B.
  const smallest = Math.ceil(fileSize / expectedBlocks);
  const largest = expectedBlocks === 1 ? fileSize : Math.ceil(fileSize / (expectedBlocks - 1)) - 1;
  const blockSize = Math.min(largest, maxBlockBytes);
  if (blockSize < smallest) {
    throw new BlockLayoutError(
      smallest > maxBlockBytes
        ? `${fileSize} bytes in ${expectedBlocks} blocks needs blocks of ${smallest} bytes, over the ${maxBlockBytes}-byte cap`
        : `no block size B gives ceil(${fileSize} / B) = ${expectedBlocks}`,
    );
  }
  const blocks: Block[] = [];
  for (let blockNum = 0; blockNum < expectedBlocks; blockNum++) {
    const start = blockNum * blockSize;
    blocks.push({ blockNum, start, end: Math.min(start + blockSize, fileSize) });
  }
  return { blockSize, expectedBlocks, blocks };
}
