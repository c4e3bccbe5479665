import { holdKey, nextHold, parseHold, type UploadHold } from '../protocol/upload-hold.ts';
import { createInFlightSharing } from '../runtime/concurrency.ts';
import type { ClipStore } from './clip-store.ts';

/** Holds on uploads after a 429, kept in S3 beside the receipts (see protocol/upload-hold.ts). */
export interface UploadHolds {
  /** The clip's stored hold, read fresh (not through a per-invocation memo): another invocation may have just set it. */
  read(bucket: string, clipKey: string): Promise<UploadHold | undefined>;
  /** Holds the upload for `waitMs` from `now`, unless a longer hold of it is stored; returns the hold in force. */
  hold(bucket: string, clipKey: string, uploadIdHash: string, now: number, waitMs: number): Promise<UploadHold>;
}

const WRITE_ATTEMPTS = 3;

/** Upload holds over a ClipStore: one GET per check, a conditional PUT per 429. */
export function s3UploadHolds(clips: ClipStore, receiptsPrefix: string): UploadHolds {
  return {
    async read(bucket, clipKey) {
      const stored = await clips.read(bucket, holdKey(receiptsPrefix, clipKey));
      return stored === undefined ? undefined : parseHold(stored.body);
    },
    async hold(bucket, clipKey, uploadIdHash, now, waitMs) {
      const key = holdKey(receiptsPrefix, clipKey);
      for (let attempt = 1; ; attempt++) {
        const stored = await clips.read(bucket, key);
        const existing = stored === undefined ? undefined : parseHold(stored.body);
        const next = nextHold(existing, uploadIdHash, now, waitMs);
        if (next === undefined) return existing!;
        const written = await clips.writeIf(bucket, key, JSON.stringify(next), stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.etag });
        // Another block wrote first: read its hold and extend it if ours is longer.
        if (written || attempt >= WRITE_ATTEMPTS) return next;
      }
    },
  };
}

/**
 * Per invocation: blocks of one clip that check its hold while a read of it is on its way share
 * that read (the first wave of a batch starts together: one GET, not one per block). Nothing is
 * kept once the read answers, so every later check reads afresh, as a 429 elsewhere may have set
 * a hold since.
 */
export function shareHoldReads(holds: UploadHolds): UploadHolds {
  const shared = createInFlightSharing<UploadHold | undefined>();
  return {
    read: (bucket, clipKey) => shared(`${bucket}/${clipKey}`, () => holds.read(bucket, clipKey)),
    hold: (bucket, clipKey, uploadIdHash, now, waitMs) => holds.hold(bucket, clipKey, uploadIdHash, now, waitMs),
  };
}
