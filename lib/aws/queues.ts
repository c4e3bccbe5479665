import { createHash } from 'node:crypto';
import { ChangeMessageVisibilityCommand, SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createLimiter } from '../runtime/concurrency.ts';
import { clipId } from '../protocol/correlation.ts';
import { RetryLaterError } from '../protocol/errors.ts';
import type { BlockMessage, OutcomeMessage } from '../protocol/messages.ts';
import { MAX_REDELIVERY_DELAY_MS } from '../protocol/limits.ts';

/** The relay's view of SQS. */
export interface RelayQueues {
  /** Enqueues block messages, 10 per SendMessageBatch; re-sends only the entries a call rejected. */
  sendBlocks(messages: readonly BlockMessage[]): Promise<void>;
  /** Sends an outcome to the FIFO outcomes queue, grouped per clip so the finalizer is serial per clip. */
  sendOutcome(outcome: OutcomeMessage): Promise<void>;
  /** Hides a received block for `seconds` before SQS delivers it again: the relay's back-off. */
  delayRedelivery(receiptHandle: string, seconds: number): Promise<void>;
}

const SEND_ATTEMPTS = 5;
const PARALLEL_BATCH_CALLS = 16;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function sendBatch(sqs: SQSClient, queueUrl: string, batch: readonly BlockMessage[]): Promise<void> {
  let pending = batch.map((message, index) => ({ Id: String(index), MessageBody: JSON.stringify(message) }));
  for (let attempt = 1; pending.length > 0; attempt++) {
    const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
    const failed = new Set((result.Failed ?? []).map((entry) => entry.Id));
    pending = pending.filter((entry) => failed.has(entry.Id));
    if (pending.length > 0 && attempt >= SEND_ATTEMPTS) {
      const reasons = [...new Set((result.Failed ?? []).map((entry) => entry.Code))].join(', ');
      throw new RetryLaterError(`SQS rejected ${pending.length} block messages ${SEND_ATTEMPTS} times (${reasons})`);
    }
    if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
  }
}

/** RelayQueues over an SQS client (AWS or fauxqs). */
export function sqsRelayQueues(sqs: SQSClient, urls: { blocksQueueUrl: string; outcomesQueueUrl: string }): RelayQueues {
  return {
    async sendBlocks(messages) {
      const batches: BlockMessage[][] = [];
      for (let i = 0; i < messages.length; i += 10) batches.push(messages.slice(i, i + 10));
      const limited = createLimiter(PARALLEL_BATCH_CALLS);
      await Promise.all(batches.map((batch) => limited(() => sendBatch(sqs, urls.blocksQueueUrl, batch))));
    },

    async sendOutcome(outcome) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: urls.outcomesQueueUrl,
          MessageBody: JSON.stringify(outcome),
          // One group per clip, so the finalizer handles a clip's outcomes one at a time.
          MessageGroupId: clipId(outcome.clip.bucket, outcome.clip.key),
          // The same outcome sent twice (a duplicate delivery) is dropped by FIFO deduplication.
          // FIFO deduplicates across the whole queue: the id names the clip, not just its bytes.
          MessageDeduplicationId: sha256(
            [
              clipId(outcome.clip.bucket, outcome.clip.key),
              outcome.clip.versionId ?? '',
              outcome.clip.etag,
              // A retake (same bytes, new session) is another upload, not a duplicate.
              outcome.uploadIdHash ?? '',
              outcome.status,
              outcome.blockNum ?? '',
              outcome.reason?.code ?? '',
              outcome.attempts ?? '',
            ].join('|'),
          ),
        }),
      );
    },

    async delayRedelivery(receiptHandle, seconds) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: urls.blocksQueueUrl,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: Math.max(0, Math.min(MAX_REDELIVERY_DELAY_MS / 1000, Math.ceil(seconds))),
        }),
      );
    },
  };
}
