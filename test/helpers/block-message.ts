import type { BlockMessage } from '../../lib/protocol/messages.ts';

/** A one-block, 10-byte block message for `key`, as the splitter would plan it now; `overrides` win. */
export function oneBlockMessage(bucket: string, key: string, uploadUri: string, overrides: Partial<BlockMessage> = {}): BlockMessage {
  const now = new Date().toISOString();
  return {
    v: 1,
    clip: { bucket, key, etag: `etag-${key.replaceAll(/\W+/g, '-')}`, size: 10 },
    uploadUri,
    uploadId: 'never-opened',
    expectedBlocks: 1,
    blockSize: 10,
    blockNum: 0,
    start: 0,
    end: 10,
    droppedAt: now,
    plannedAt: now,
    ...overrides,
  };
}
