import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { RelayMetrics } from './metrics.ts';

/**
 * The middy handler of an SQS-triggered function: the Lambda context on every log line, EMF
 * metrics flushed once per invocation when `metrics` is Powertools' (the local stack passes a
 * plain recorder instead), and a new batch processor for each invocation, because Powertools
 * keeps the batch's state on the processor and overlapping invocations (the local stack, or work
 * still unwinding after a deadline) would report each other's failures.
 *
 * middy's early timeout (`timeoutEarlyInMillis`) is not used: it fails the whole invocation, so
 * SQS would deliver every record of the batch again, the settled ones too. A function that must
 * stop before its deadline (the fan-out) aborts its own work and reports only what is unsettled.
 */
export function sqsBatchHandler<Processor>(
  deps: { logger: Logger; metrics?: RelayMetrics | undefined },
  newProcessor: () => Processor,
  handleBatch: (event: SQSEvent, context: Context, processor: Processor) => Promise<SQSBatchResponse>,
) {
  return middy<SQSEvent, SQSBatchResponse, Error, Context>()
    .use(injectLambdaContext(deps.logger))
    .use(deps.metrics instanceof Metrics ? [logMetrics(deps.metrics)] : [])
    .handler(function sqsBatch(event, context) {
      return handleBatch(event, context, newProcessor());
    });
}
