/**
 * The relay's limits, each written once. Everything that checks or caps one of these imports it
 * from here, so two places can never disagree about a limit again.
 */

/** The largest value of the protocol's 32-bit unsigned integers: fileSize, expectedBlocks, blockNum, byte offsets. */
export const MAX_UINT32 = 2 ** 32 - 1;

/** The largest clip the protocol can describe: fileSize is a 32-bit unsigned integer (4 GiB - 1). */
export const MAX_CLIP_BYTES = MAX_UINT32;

/** The most blocks one upload may have: expectedBlocks is a 32-bit unsigned integer. */
export const MAX_EXPECTED_BLOCKS = MAX_UINT32;

/** The longest uploadUri a ticket may carry, and the most of one a receipt or log keeps. */
export const MAX_UPLOAD_URI_CHARS = 2048;

/** The longest uploadId a ticket may carry. */
export const MAX_UPLOAD_ID_CHARS = 1024;

/** The largest block the relay may be configured to send (CLIP_RELAY_MAX_BLOCK_BYTES). */
export const MAX_BLOCK_BYTES_CAP = 64 * 1024 * 1024;

/** SQS hides a received message for at most 12 h, counted from its receive. */
const SQS_MAX_VISIBILITY_MS = 12 * 60 * 60 * 1000;

/** The longest Lambda invocation (15 min), which may pass between a receive and the visibility change. */
const LAMBDA_MAX_RUN_MS = 15 * 60 * 1000;

/**
 * The longest the relay delays a block's redelivery: a Retry-After, the back-off's cap and the
 * visibility change are all capped here (11 h 45 min: SQS's 12 h less the longest Lambda run,
 * which may already have passed since the receive).
 */
export const MAX_REDELIVERY_DELAY_MS = SQS_MAX_VISIBILITY_MS - LAMBDA_MAX_RUN_MS;

/** Most Location hops one block follows. */
export const MAX_REDIRECTS = 3;
