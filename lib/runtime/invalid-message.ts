import type { RelayQueues } from '../aws/queues.ts';
import { failureReason, MessageError } from '../protocol/errors.ts';
import type { RelayLogger } from './log.ts';
import { salvageClipRef } from '../protocol/messages.ts';

/**
 * Settles a blocks-queue message that cannot be parsed, at once: no delivery can fix it, so
 * none is spent on it. When its `clip` is intact the clip still ends with a failed receipt
 * (MESSAGE_INVALID) saying what was wrong; otherwise the log line is all that can be kept.
 * @throws the error itself when it is not a MessageError (then SQS should deliver again)
 */
export async function settleInvalidMessage(
  record: { messageId: string; body: string },
  error: unknown,
  deps: { queues: Pick<RelayQueues, 'sendOutcome'>; logger: RelayLogger; now?: () => Date },
): Promise<'dropped' | 'failed'> {
  if (!(error instanceof MessageError)) throw error;
  const reason = failureReason(error);
  const clip = salvageClipRef(record.body);
  deps.logger.error('block message dropped', { messageId: record.messageId, reason, key: clip?.key });
  if (clip === undefined) return 'dropped';
  await deps.queues.sendOutcome({ v: 1, status: 'failed', clip, reason, at: (deps.now?.() ?? new Date()).toISOString() });
  return 'failed';
}
