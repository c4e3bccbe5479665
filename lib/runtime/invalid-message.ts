import { failureReason, MessageError, MessageTooNewError, type FailureReason } from '../protocol/errors.ts';
import { salvageClipRef, type OutcomeMessage } from '../protocol/messages.ts';
import type { RelayLogger } from './log.ts';

/** Where a settled message's failed outcome goes: the outcomes queue (lib/aws/queues.ts's RelayQueues has it). */
export interface OutcomeSender {
  sendOutcome(outcome: OutcomeMessage): Promise<void>;
}

/**
 * Settles a blocks-queue message that cannot be parsed, at once: no delivery can fix it, so
 * none is spent on it. When its `clip` is intact the clip still ends with a failed receipt
 * (MESSAGE_INVALID) saying what was wrong; otherwise the log line is all that can be kept.
 *
 * A message newer than this build ({@link MessageTooNewError}) is not invalid, only early: by
 * default it goes back to SQS (rethrown) for a reader that has been updated. Where there is no
 * later reader to wait for (`tooNew: 'fail'`, the dead-letter queue, which has no redrive) it
 * is settled like an invalid one, so its clip still gets a receipt.
 * @throws the error itself when it is not a MessageError, or is a MessageTooNewError to retry (then SQS should deliver again)
 */
export async function settleInvalidMessage(
  record: { messageId: string; body: string },
  error: unknown,
  deps: { queues: OutcomeSender; logger: RelayLogger; now?: () => Date; tooNew?: 'retry-later' | 'fail' },
): Promise<'dropped' | 'failed'> {
  if (error instanceof MessageTooNewError && deps.tooNew !== 'fail') {
    deps.logger.warn('block message newer than this build: back to the queue', { messageId: record.messageId, version: error.version, key: salvageClipRef(record.body)?.key });
    throw error;
  }
  if (!(error instanceof MessageError || error instanceof MessageTooNewError)) throw error;
  const reason: FailureReason =
    error instanceof MessageTooNewError ? { code: 'MESSAGE_INVALID', message: `${error.message.replace(/: retry later$/, '')}, and the dead-letter queue is its last stop` } : failureReason(error);
  const clip = salvageClipRef(record.body);
  deps.logger.error('block message dropped', { messageId: record.messageId, reason, key: clip?.key });
  if (clip === undefined) return 'dropped';
  await deps.queues.sendOutcome({ v: 1, status: 'failed', clip, reason, at: (deps.now?.() ?? new Date()).toISOString() });
  return 'failed';
}
