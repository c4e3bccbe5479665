import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { sqsBatchHandler } from '../runtime/sqs-handler.ts';
import { memoizeReads } from '../aws/clip-store.ts';
import { shareTokenFetches } from '../aws/token-provider.ts';
import { s3UploadHolds, shareHoldReads } from '../aws/upload-holds.ts';
import { createLimiter } from '../runtime/concurrency.ts';
import { settleInvalidMessage } from '../runtime/invalid-message.ts';
import { parseBlockMessage } from '../protocol/messages.ts';
import { sendBlock, type FanOutDeps } from './send-block.ts';

/** Time kept back from the Lambda deadline to report the batch: at most 3 s, at most a quarter. */
function deadlineMarginMs(remainingMs: number): number {
  return Math.min(3000, remainingMs / 4);
}

/**
 * The fan-out Lambda: a batch of block messages, each PUT to the transfer service, at most
 * `putConcurrency` at once. Powertools batch reports the records that should come back
 * (`ReportBatchItemFailures`); every other record is settled and deleted. Shortly before the
 * Lambda deadline the PUTs in flight are aborted and the batch is reported as it stands: the
 * records settled so far are deleted, only the others come back (a timeout would fail them all).
 */
export function createFanOutHandler(deps: FanOutDeps & { logger: Logger; putConcurrency: number }) {
  // Read fresh before every PUT: a hold another invocation set must stop this one's blocks.
  const holds = deps.holds ?? s3UploadHolds(deps.clips, deps.config.receiptsPrefix);
  async function sendRecord(record: SQSRecord, signal: AbortSignal, invocationDeps: FanOutDeps): Promise<unknown> {
    let message;
    try {
      message = parseBlockMessage(record.body);
    } catch (error) {
      return settleInvalidMessage(record, error, { queues: deps.queues, logger: deps.logger });
    }
    const receiveCount = Number(record.attributes.ApproximateReceiveCount) || 1;
    return sendBlock(message, { receiveCount, receiptHandle: record.receiptHandle, signal }, invocationDeps);
  }

  return sqsBatchHandler(deps, () => new BatchProcessor(EventType.SQS), async function fanOut(event, context, processor) {
    const remainingMs = context.getRemainingTimeInMillis();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), remainingMs - deadlineMarginMs(remainingMs));
    const reachedDeadline = new Promise<'deadline'>((resolve) => deadline.signal.addEventListener('abort', () => resolve('deadline'), { once: true }));
    // Powertools starts every record at once; the limiter keeps the PUTs bounded, in arrival order.
    const limited = createLimiter(deps.putConcurrency);
    // Per invocation: one token fetch for the blocks that need it at once, one hold read for the
    // blocks that check it at once; a fetch that hangs holds this invocation only (its deadline
    // ends it), never the environment's later ones.
    const invocationDeps: FanOutDeps = { ...deps, tokens: shareTokenFetches(deps.tokens), holds: shareHoldReads(holds), clips: memoizeReads(deps.clips), clipBackoff: new Map(), rejectedClips: new Set(), committedClips: new Set(), uncachedClips: deps.clips };
    const settled = new Set<string>();
    const processing = processPartialResponse(
      event,
      async (record: SQSRecord) => {
        const result = await limited(() => sendRecord(record, deadline.signal, invocationDeps));
        settled.add(record.messageId);
        return result;
      },
      processor,
      { context, throwOnFullBatchFailure: false },
    );
    try {
      const result = await Promise.race([processing, reachedDeadline]);
      if (result !== 'deadline') return result;
      const unsettled = event.Records.filter((record) => !settled.has(record.messageId));
      deps.logger.warn('deadline reached: unsettled blocks go back to the queue', { settled: settled.size, unsettled: unsettled.length });
      processing.catch(() => undefined);
      return { batchItemFailures: unsettled.map((record) => ({ itemIdentifier: record.messageId })) };
    } finally {
      clearTimeout(timer);
    }
  });
}
