import { uploadIdHash } from './correlation.ts';
import type { BlockMessage, OutcomeMessage } from './messages.ts';
import { displayUri } from './upload-target.ts';

/**
 * The outcome a block's fate makes for its clip: the block message's coordinates (the
 * uploadUri without its query, never the uploadId), plus what happened (`details`).
 */
export function blockOutcome(
  message: BlockMessage,
  status: OutcomeMessage['status'],
  details: { attempts: number; at: Date } & Pick<OutcomeMessage, 'reason' | 'answer'>,
): OutcomeMessage {
  return {
    v: 1,
    status,
    clip: message.clip,
    uploadUri: displayUri(message.uploadUri),
    uploadIdHash: uploadIdHash(message.uploadId),
    ...(message.expectedBlocks !== undefined && { expectedBlocks: message.expectedBlocks }),
    blockSize: message.blockSize,
    ...(message.gameClipId !== undefined && { gameClipId: message.gameClipId }),
    ...(message.blockNum !== undefined && { blockNum: message.blockNum }),
    attempts: details.attempts,
    ...(details.reason !== undefined && { reason: details.reason }),
    ...(details.answer !== undefined && { answer: details.answer }),
    droppedAt: message.droppedAt,
    at: details.at.toISOString(),
  };
}
