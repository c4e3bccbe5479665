import type { Receipt } from './receipt.ts';
import type { FailureReason } from './errors.ts';

/** Where a clip stands, as `clip-relay status` reports it. */
export type ClipState = 'committed' | 'failed' | 'unconfirmed' | 'in-flight' | 'stuck';

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
 * object; otherwise in flight, or stuck once it has waited longer than `stuckAfterSeconds`.
 */
export function clipStatuses(clips: readonly ListedClip[], receipts: ReadonlyMap<string, Receipt>, now: Date, stuckAfterSeconds: number): ClipStatus[] {
  return clips.map((clip) => {
    const ageSeconds = Math.max(0, Math.round((now.getTime() - clip.lastModified.getTime()) / 1000));
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
