import type { RelayQueues } from './aws/queues.ts';
import type { RelayLogger } from './log.ts';
import type { BlockMessage } from './messages.ts';
import { blockOutcome } from './block-outcome.ts';

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
  await deps.queues.sendOutcome(
    blockOutcome(message, 'failed', {
      attempts: receiveCount,
      at: deps.now?.() ?? new Date(),
      reason: {
        code: 'DEAD_LETTERED',
        message: `block ${message.blockNum ?? 'single'} reached the dead-letter queue: the fan-out failed or timed out on every allowed delivery`,
      },
    }),
  );
}
