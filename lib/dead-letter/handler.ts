import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { settleDeadLetterMessage, type DeadLetterDeps } from './dead-letter.ts';

/**
 * The dead-letter Lambda, on two queues: every block in the blocks DLQ, and every clip of an S3
 * event the splitter gave up on (its on-failure destination), becomes a failed outcome.
 */
export function createDeadLetterHandler(deps: DeadLetterDeps & { logger: Logger }) {
  async function settleRecord(record: SQSRecord): Promise<unknown> {
    return settleDeadLetterMessage({ messageId: record.messageId, body: record.body, receiveCount: Number(record.attributes.ApproximateReceiveCount) || 1 }, deps);
  }

  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(deps.logger))
    .handler(async function deadLetter(event, context) {
      // One processor per invocation: Powertools keeps the batch's state on the processor, and
      // overlapping invocations (the local stack, or work left running after an early timeout)
      // would report each other's failures.
      const processor = new BatchProcessor(EventType.SQS);
      return processPartialResponse(event, settleRecord, processor, { context, throwOnFullBatchFailure: false });
    });
}
