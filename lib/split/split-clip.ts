import type { ClipStore } from '../aws/clip-store.ts';
import type { RelayQueues } from '../aws/queues.ts';
import type { RelayConfig } from '../runtime/config.ts';
import { clipId } from '../protocol/correlation.ts';
import { ClipRelayError, describeError, type FailureReason } from '../protocol/errors.ts';
import { classifyFailure } from '../protocol/classify.ts';
import { ticketDetails } from '../protocol/block-outcome.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { BLOCK_MESSAGE_VERSION, type BlockMessage, type ClipRef } from '../protocol/messages.ts';
import { planBlocks } from '../protocol/block-plan.ts';
import type { ClipEvent } from '../protocol/s3-event.ts';
import { parseTicket, type Ticket } from '../protocol/ticket.ts';
import { checkUploadTarget } from '../protocol/upload-target.ts';

/** What the splitter needs; the local stack passes local ones. */
export interface SplitterDeps {
  clips: ClipStore;
  queues: RelayQueues;
  config: Pick<RelayConfig, 'incomingPrefix' | 'maxBlockBytes' | 'maxSinglePutBytes' | 'allowedHosts'>;
  logger: RelayLogger;
  now?: () => Date;
}

/** What became of one ObjectCreated record. */
export type SplitResult =
  | { kind: 'enqueued'; blocks: number }
  | { kind: 'rejected'; code: FailureReason['code']; message: string }
  | { kind: 'ignored'; why: string };

/**
 * The splitter's work for one clip: read its head and ticket, plan its blocks, enqueue one
 * message per block. A clip that cannot be uploaded (bad ticket, refused target, impossible
 * layout, vanished object) gets a failed outcome, so it ends with a receipt that says why.
 */
export async function splitClip(clipEvent: ClipEvent, deps: SplitterDeps): Promise<SplitResult> {
  const { bucket, key } = clipEvent;
  if (!key.startsWith(deps.config.incomingPrefix)) return { kind: 'ignored', why: `key is outside ${deps.config.incomingPrefix}` };
  const at = () => (deps.now?.() ?? new Date()).toISOString();

  const head = await deps.clips.head(bucket, key);
  const clip: ClipRef = {
    bucket,
    key,
    etag: head?.etag ?? clipEvent.etag ?? 'unknown',
    size: head?.size ?? clipEvent.size ?? 0,
    ...((head?.versionId ?? clipEvent.versionId) !== undefined && { versionId: head?.versionId ?? clipEvent.versionId }),
  };
  if (head !== undefined && clipEvent.etag !== undefined && head.etag !== clipEvent.etag) {
    // Overwritten since this event: the newer object has an event of its own.
    return { kind: 'ignored', why: `object now has ETag ${head.etag}, not the event's ${clipEvent.etag}` };
  }

  let ticket: Ticket | undefined;
  try {
    if (head === undefined) throw new ClipRelayError('CLIP_MISSING', `clip s3://${bucket}/${key} no longer exists`);
    ticket = parseTicket(head.metadata);
    checkUploadTarget(ticket.uploadUri, deps.config.allowedHosts);
    const plannedAt = at();
    const plan = planBlocks({ fileSize: head.size, maxBlockBytes: deps.config.maxBlockBytes, maxSinglePutBytes: deps.config.maxSinglePutBytes, expectedBlocks: ticket.expectedBlocks });
    const blockTicket = ticket;
    const messages = plan.blocks.map(
      (block): BlockMessage => ({ v: BLOCK_MESSAGE_VERSION, clip, ticket: blockTicket, blockSize: plan.blockSize, ...block, droppedAt: clipEvent.eventTime, plannedAt }),
    );
    await deps.queues.sendBlocks(messages);
    deps.logger.info('clip planned', { clipId: clipId(bucket, key), bucket, key, blocks: messages.length, blockSize: plan.blockSize, size: head.size });
    return { kind: 'enqueued', blocks: messages.length };
  } catch (error) {
    // One failure policy: only the relay's own refusals end the clip; S3/SQS trouble is retried by Lambda.
    const failure = classifyFailure(error);
    if (failure.kind === 'superseded') return { kind: 'ignored', why: describeError(error).message };
    if (failure.kind === 'retry') throw error;
    const { reason } = failure;
    deps.logger.error('clip rejected', { clipId: clipId(bucket, key), bucket, key, reason });
    await deps.queues.sendOutcome({
      v: 1,
      status: 'failed',
      clip,
      ...(ticket !== undefined && ticketDetails(ticket)),
      reason,
      droppedAt: clipEvent.eventTime,
      at: at(),
    });
    return { kind: 'rejected', ...reason };
  }
}
