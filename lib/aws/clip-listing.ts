import { createLimiter } from '../runtime/concurrency.ts';
import { describeError } from '../protocol/errors.ts';
import { parseReceipt, receiptKey, type Receipt } from '../protocol/receipt.ts';
import type { ClipStore } from './clip-store.ts';

/** A receipt that exists but is no receipt: not JSON, or not a receipt's shape ({@link parseReceipt}). */
export interface UnreadableReceipt {
  /** The clip's key. */
  key: string;
  /** Where its receipt is. */
  receiptKey: string;
  problem: string;
}

/** How {@link readReceipts} treats what it cannot read. */
export interface ReadReceiptsOptions {
  /**
   * Called for each unreadable receipt, whose clip is then left out of the map (as if it had no
   * receipt) and the others are still read. Without it, the first one throws.
   */
  onUnreadable?: (unreadable: UnreadableReceipt) => void;
}

/**
 * The receipts of `keys` that exist, read 16 at a time: one GET per key, so pass only the clips
 * whose receipt matters (the stuck-clips check leaves out the clips too young to be stuck).
 * @throws an Error naming the receipt when one is unreadable and `onUnreadable` is not given
 */
export async function readReceipts(
  clips: ClipStore,
  bucket: string,
  receiptsPrefix: string,
  keys: readonly string[],
  options: ReadReceiptsOptions = {},
): Promise<Map<string, Receipt>> {
  const limited = createLimiter(16);
  const receipts = new Map<string, Receipt>();
  await Promise.all(
    keys.map((key) =>
      limited(async () => {
        const where = receiptKey(receiptsPrefix, key);
        const stored = await clips.read(bucket, where);
        if (stored === undefined) return;
        let receipt: Receipt;
        try {
          receipt = parseReceipt(stored.body);
        } catch (error) {
          const problem = describeError(error).message;
          if (options.onUnreadable === undefined) throw new Error(`receipt s3://${bucket}/${where} is unreadable: ${problem}`, { cause: error });
          options.onUnreadable({ key, receiptKey: where, problem });
          return;
        }
        receipts.set(key, receipt);
      }),
    ),
  );
  return receipts;
}
