import type { RelayQueues } from './aws/queues.ts';
import type { RelayLogger } from './log.ts';
import type { BlockMessage } from './messages.ts';
import { displayUri } from './upload/upload-target.ts';

/** What the dead-letter consumer needs. */
export interface DeadLetterDeps {
  queues: Pick<RelayQueues, 'sendOutcome'>;
  logger: RelayLogger;
  now?: () => Date;
}

/**
 * Turns a block that reached the blocks DLQ (the fan-out crashed or timed out on its last
 * allowed delivery, so it could not record the failure itself) into a failed outcome: the
 * clip still ends with a receipt that says why.
 */
export async function settleDeadLetter(message: BlockMessage, receiveCount: number, deps: DeadLetterDeps): Promise<void> {
  deps.logger.error('block dead-lettered', { key: message.clip.key, blockNum: message.blockNum, receiveCount });
  await deps.queues.sendOutcome({
    v: 1,
    status: 'failed',
    clip: message.clip,
    uploadUri: displayUri(message.uploadUri),
    ...(message.expectedBlocks !== undefined && { expectedBlocks: message.expectedBlocks }),
    blockSize: message.blockSize,
    ...(message.gameClipId !== undefined && { gameClipId: message.gameClipId }),
    ...(message.blockNum !== undefined && { blockNum: message.blockNum }),
    attempts: receiveCount,
    reason: {
      code: 'DEAD_LETTERED',
      message: `block ${message.blockNum ?? 'single'} reached the dead-letter queue: the fan-out failed or timed out on every allowed delivery`,
    },
    droppedAt: message.droppedAt,
    at: (deps.now?.() ?? new Date()).toISOString(),
  });
}
