import { BLOCK_MESSAGE_VERSION, type BlockMessage } from '../../lib/protocol/messages.ts';
import type { Ticket } from '../../lib/protocol/ticket.ts';

/** What a test may change in {@link oneBlockMessage}: any field, and any of the ticket's fields. */
export type BlockMessageOverrides = Partial<Omit<BlockMessage, 'ticket'>> & { ticket?: Partial<Ticket> };

/** A one-block, 10-byte block message for `key`, as the splitter would plan it now; `overrides` win. */
export function oneBlockMessage(bucket: string, key: string, uploadUri: string, overrides: BlockMessageOverrides = {}): BlockMessage {
  const now = new Date().toISOString();
  const { ticket, ...rest } = overrides;
  return {
    v: BLOCK_MESSAGE_VERSION,
    clip: { bucket, key, etag: `etag-${key.replaceAll(/\W+/g, '-')}`, size: 10 },
    ticket: { uploadUri, uploadId: 'never-opened', expectedBlocks: 1, ...ticket },
    blockSize: 10,
    blockNum: 0,
    start: 0,
    end: 10,
    droppedAt: now,
    plannedAt: now,
    ...rest,
  };
}
