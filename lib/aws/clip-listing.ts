import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createLimiter } from '../concurrency.ts';
import { receiptKey, type Receipt } from '../receipt/receipt.ts';
import type { ListedClip } from '../status/clip-status.ts';
import type { ClipStore } from './clip-store.ts';

/** Every object under `prefix`, all pages. */
export async function listClips(s3: S3Client, bucket: string, prefix: string): Promise<ListedClip[]> {
  const clips: ListedClip[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token !== undefined && { ContinuationToken: token }) }));
    for (const object of page.Contents ?? []) {
      if (object.Key === undefined || object.Key.endsWith('/')) continue;
      clips.push({ key: object.Key, etag: (object.ETag ?? '').replaceAll('"', ''), size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token !== undefined);
  return clips;
}

/** The receipts of `keys` that exist, read 16 at a time. */
export async function readReceipts(clips: ClipStore, bucket: string, receiptsPrefix: string, keys: readonly string[]): Promise<Map<string, Receipt>> {
  const limited = createLimiter(16);
  const receipts = new Map<string, Receipt>();
  await Promise.all(
    keys.map((key) =>
      limited(async () => {
        const stored = await clips.read(bucket, receiptKey(receiptsPrefix, key));
        if (stored !== undefined) receipts.set(key, JSON.parse(stored.body) as Receipt);
      }),
    ),
  );
  return receipts;
}
