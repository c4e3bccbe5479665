import { createHash } from 'node:crypto';

/**
 * A short, stable id of a clip for correlating log lines of the three functions and the FIFO
 * group of its outcomes: the SHA-256 of bucket/key, so keys stay out of group ids.
 */
export function clipId(bucket: string, key: string): string {
  return createHash('sha256').update(`${bucket}/${key}`).digest('hex');
}

/** The uploadId as logs may show it: a hash prefix, since the id itself may be sensitive. */
export function uploadIdHash(uploadId: string): string {
  return createHash('sha256').update(uploadId).digest('hex').slice(0, 12);
}
