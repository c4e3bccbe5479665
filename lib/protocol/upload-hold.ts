import * as z from 'zod/mini';
import { receiptKey } from './receipt.ts';
import { jsonOrUndefined } from './schema.ts';

const epochMs = z.number().check(z.int(), z.minimum(0));

/**
 * A hold on one upload after a 429: Xbox Live rate-limits the caller (user and title), so no
 * block of the upload may start a PUT before `until`, whichever invocation holds it. Stored as a
 * small JSON object beside the clip's receipt (no DynamoDB); times are epoch milliseconds.
 */
const UploadHoldSchema = z.strictObject({
  v: z.literal(1),
  /** The session it holds: the uploadId's hash, never the uploadId. */
  uploadIdHash: z.string().check(z.minLength(1)),
  since: epochMs,
  until: epochMs,
});
export type UploadHold = z.infer<typeof UploadHoldSchema>;

/** Where a clip's hold lives: the receipt's key + `.hold` (never a receipt key: those end in `.json`). */
export function holdKey(receiptsPrefix: string, clipKey: string): string {
  return `${receiptKey(receiptsPrefix, clipKey)}.hold`;
}

/** The stored hold, or undefined for anything that is not one (a hold is advice: a bad one holds nothing). */
export function parseHold(body: string): UploadHold | undefined {
  const result = UploadHoldSchema.safeParse(jsonOrUndefined(body));
  return result.success ? result.data : undefined;
}

/** How long a block of session `uploadIdHash` must still wait at `now` under `hold`: ms > 0, or undefined to go. */
export function heldForMs(hold: UploadHold | undefined, uploadIdHash: string, now: number): number | undefined {
  if (hold === undefined || hold.uploadIdHash !== uploadIdHash || hold.until <= now) return undefined;
  return hold.until - now;
}

/**
 * The hold a 429 makes, given the one stored: from `now` for `waitMs`, or undefined when the
 * stored hold of the same session already lasts at least as long (a hold only ever grows).
 */
export function nextHold(existing: UploadHold | undefined, uploadIdHash: string, now: number, waitMs: number): UploadHold | undefined {
  const until = now + waitMs;
  if (existing !== undefined && existing.uploadIdHash === uploadIdHash && existing.until >= until) return undefined;
  const since = existing !== undefined && existing.uploadIdHash === uploadIdHash && existing.until > now ? existing.since : now;
  return { v: 1, uploadIdHash, since, until };
}
