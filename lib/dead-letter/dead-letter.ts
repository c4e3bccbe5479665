import type { RelayQueues } from '../aws/queues.ts';
import { clipId } from '../protocol/correlation.ts';
import { settleInvalidMessage } from '../runtime/invalid-message.ts';
import type { RelayConfig } from '../runtime/config.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { parseBlockMessage, type BlockMessage } from '../protocol/messages.ts';
import { blockOutcome } from '../protocol/block-outcome.ts';
import { asSplitterFailureBody, parseSplitterFailure, splitFailedOutcomes, type SplitterFailure } from './splitter-failure.ts';

/** What the dead-letter consumer needs. */
export interface DeadLetterDeps {
  queues: Pick<RelayQueues, 'sendOutcome'>;
  logger: RelayLogger;
  /** `maxAttempts`: the blocks queue's redrive threshold (maxReceiveCount). */
  config: Pick<RelayConfig, 'maxAttempts'>;
  now?: () => Date;
}

/**
 * Turns a block that reached the blocks DLQ (the fan-out crashed or timed out on its last
 * allowed delivery, so it could not record the failure itself) into a failed outcome: the
 * clip still ends with a receipt that says why. Its `attempts` are the deliveries the redrive
 * policy allowed (`maxAttempts`); the DLQ record's own receive count is logged only: it counts
 * receives from the DLQ too, and where the source queue's count goes on from depends on the
 * implementation (moto: 8 deliveries read 9 on the first DLQ receive, fauxqs 10).
 */
export async function settleDeadLetter(message: BlockMessage, receiveCount: number, deps: DeadLetterDeps): Promise<void> {
  deps.logger.error('block dead-lettered', { key: message.clip.key, blockNum: message.blockNum, receiveCount });
  await deps.queues.sendOutcome(
    blockOutcome(message, 'failed', {
      attempts: deps.config.maxAttempts,
      at: deps.now?.() ?? new Date(),
      reason: {
        code: 'DEAD_LETTERED',
        message: `block ${message.blockNum ?? 'single'} reached the dead-letter queue: the fan-out failed or timed out on every allowed delivery`,
      },
    }),
  );
}

/**
 * Turns the record Lambda sends when it gives up on a splitter invocation (its S3 event failed
 * every attempt, or expired) into a failed outcome (SPLIT_FAILED) for each clip of that event:
 * without it the clip would get no receipt at all. What names no clip is logged and dropped.
 * @returns the number of clips failed
 */
export async function settleSplitterFailure(failure: SplitterFailure, deps: DeadLetterDeps): Promise<number> {
  const { outcomes, unusable } = splitFailedOutcomes(failure, deps.now?.() ?? new Date());
  const { functionArn, condition, approximateInvokeCount, requestId } = failure.requestContext;
  for (const problem of unusable) deps.logger.error('splitter failure names no clip', { problem, functionArn, condition, requestId });
  for (const outcome of outcomes) {
    const { bucket, key } = outcome.clip;
    deps.logger.error('splitter gave up on clip', { clipId: clipId(bucket, key), bucket, key, functionArn, condition, attempts: approximateInvokeCount, requestId, reason: outcome.reason });
    await deps.queues.sendOutcome(outcome);
  }
  return outcomes.length;
}

/**
 * Settles one message of the dead-letter function's queues, whichever it came from: a Lambda
 * async failure record (SplitterFailuresQueue) or a block message (BlocksDLQ). A message that
 * is neither goes the way of any unreadable block message ({@link settleInvalidMessage}).
 * @throws what sending the outcome threw (then SQS delivers the message again)
 */
export async function settleDeadLetterMessage(
  record: { messageId: string; body: string; receiveCount: number },
  deps: DeadLetterDeps,
): Promise<unknown> {
  const failureBody = asSplitterFailureBody(record.body);
  let parsed: { kind: 'splitter-failure'; failure: SplitterFailure } | { kind: 'block'; message: BlockMessage };
  try {
    parsed = failureBody !== undefined ? { kind: 'splitter-failure', failure: parseSplitterFailure(failureBody) } : { kind: 'block', message: parseBlockMessage(record.body) };
  } catch (error) {
    return settleInvalidMessage(record, error, deps);
  }
  return parsed.kind === 'splitter-failure' ? settleSplitterFailure(parsed.failure, deps) : settleDeadLetter(parsed.message, record.receiveCount, deps);
}
