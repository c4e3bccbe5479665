import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { sqsBatchHandler } from '../runtime/sqs-handler.ts';
import { settleDeadLetterMessage, type DeadLetterDeps } from './dead-letter.ts';

/**
 * The dead-letter Lambda, on two queues: every block in the blocks DLQ, and every clip of an S3
 * event the splitter gave up on (its on-failure destination), becomes a failed outcome.
 */
export function createDeadLetterHandler(deps: DeadLetterDeps & { logger: Logger }) {
  async function settleRecord(record: SQSRecord): Promise<unknown> {
    return settleDeadLetterMessage({ messageId: record.messageId, body: record.body, receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1 }, deps);
  }

  return sqsBatchHandler(
    deps,
    () => new BatchProcessor(EventType.SQS),
    function deadLetter(event, context, processor) {
      return processPartialResponse(event, settleRecord, processor, { context, throwOnFullBatchFailure: false });
    },
  );
}
