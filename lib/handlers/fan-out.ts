import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { memoizeReads } from '../aws/clip-store.ts';
import { createLimiter } from '../concurrency.ts';
import { settleInvalidMessage } from '../invalid-message.ts';
import { parseBlockMessage } from '../messages.ts';
import { sendBlock, type FanOutDeps } from '../send-block.ts';

/**
 * The fan-out Lambda: a batch of block messages, each PUT to the transfer service, at most
 * `putConcurrency` at once. Powertools batch reports the records that should come back
 * (`ReportBatchItemFailures`); every other record is settled and deleted.
 */
export function createFanOutHandler(deps: FanOutDeps & { logger: Logger; putConcurrency: number; timeoutEarlyMs?: number }) {
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

  return middy<SQSEvent, SQSBatchResponse, Error, Context>({ timeoutEarlyInMillis: deps.timeoutEarlyMs ?? 1000 })
    .use(injectLambdaContext(deps.logger))
    // EMF in AWS, flushed once per invocation; the local stack passes a plain recorder instead.
    .use(deps.metrics instanceof Metrics ? [logMetrics(deps.metrics)] : [])
    .handler(async function fanOut(event, context, { signal }) {
      // Powertools starts every record at once; the limiter keeps the PUTs bounded, in arrival order.
      const limited = createLimiter(deps.putConcurrency);
      const invocationDeps = { ...deps, clips: memoizeReads(deps.clips) };
      // One processor per invocation: Powertools keeps the batch's state on the processor, and
      // overlapping invocations (the local stack, or work left running after an early timeout)
      // would report each other's failures.
      const processor = new BatchProcessor(EventType.SQS);
      return processPartialResponse(event, (record: SQSRecord) => limited(() => sendRecord(record, signal, invocationDeps)), processor, {
        context,
        throwOnFullBatchFailure: false,
      });
    });
}
