import type { Receipt } from './receipt.ts';
import type { FailureReason } from './errors.ts';

/**
 * Where a clip stands, as `clip-relay status` reports it. `receipt-unreadable`: a receipt is
 * there but is no receipt (not JSON, not the schema), so nothing can be said of the clip.
 */
export type ClipState = 'committed' | 'failed' | 'unconfirmed' | 'in-flight' | 'stuck' | 'receipt-unreadable';

/** A clip object as listed under the incoming prefix. */
export interface ListedClip {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
}

/** One clip's state, with what explains it. */
export interface ClipStatus {
  key: string;
  state: ClipState;
  size: number;
  /** Seconds since the clip was dropped. */
  ageSeconds: number;
  reason?: FailureReason;
  decidedAt?: string;
  attempts?: number;
}

/**
 * The state of each clip: its receipt's status when the receipt is for this version of the
 * object; otherwise in flight, or stuck once it has waited longer than `stuckAfterSeconds`; or
 * receipt-unreadable when its receipt is corrupt.
 */
export function clipStatuses(
  clips: readonly ListedClip[],
  receipts: ReadonlyMap<string, Receipt>,
  now: Date,
  stuckAfterSeconds: number,
  /** Clips whose receipt exists but cannot be read, with what is wrong with it. */
  unreadable: ReadonlyMap<string, string> = new Map(),
): ClipStatus[] {
  return clips.map((clip) => {
    const ageSeconds = Math.max(0, Math.round((now.getTime() - clip.lastModified.getTime()) / 1000));
    const problem = unreadable.get(clip.key);
    if (problem !== undefined) return { key: clip.key, state: 'receipt-unreadable', size: clip.size, ageSeconds, reason: { code: 'RECEIPT_INVALID', message: problem } };
    const receipt = receipts.get(clip.key);
    if (receipt !== undefined && receipt.etag === clip.etag) {
      return {
        key: clip.key,
        state: receipt.status,
        size: clip.size,
        ageSeconds,
        ...(receipt.reason !== undefined && { reason: receipt.reason }),
        decidedAt: receipt.decidedAt,
        ...(receipt.attempts !== undefined && { attempts: receipt.attempts }),
      };
    }
    return { key: clip.key, state: ageSeconds > stuckAfterSeconds ? 'stuck' : 'in-flight', size: clip.size, ageSeconds };
  });
}
