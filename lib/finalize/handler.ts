import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { describeError, MessageError } from '../protocol/errors.ts';
import { recordOutcome, type FinalizerDeps } from './finalize.ts';
import { parseOutcomeMessage } from '../protocol/messages.ts';

/**
 * The finalizer Lambda: outcomes from the FIFO queue, one receipt write each. A failed record
 * fails only the rest of its own clip's group (`skipGroupOnError`), so other clips go on.
 */
export function createFinalizerHandler(deps: FinalizerDeps & { logger: Logger }) {
  async function finalizeRecord(record: SQSRecord): Promise<unknown> {
    let outcome;
    try {
      outcome = parseOutcomeMessage(record.body);
    } catch (error) {
      deps.logger.error('outcome message dropped', { messageId: record.messageId, reason: describeError(error) });
      if (error instanceof MessageError) return 'dropped';
      throw error;
    }
    return recordOutcome(outcome, deps);
  }

  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(deps.logger))
    // EMF in AWS, flushed once per invocation; the local stack passes a plain recorder instead.
    .use(deps.metrics instanceof Metrics ? [logMetrics(deps.metrics)] : [])
    .handler(async function finalizer(event, context) {
      // One processor per invocation: Powertools keeps the batch's state on the processor, and
      // overlapping invocations (the local stack, or work left running after an early timeout)
      // would report each other's failures.
      const processor = new SqsFifoPartialProcessorAsync();
      return processPartialResponse(event, finalizeRecord, processor, { context, skipGroupOnError: true, throwOnFullBatchFailure: false });
    });
}
