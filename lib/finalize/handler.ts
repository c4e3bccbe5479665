import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSRecord } from 'aws-lambda';
import { sqsBatchHandler } from '../runtime/sqs-handler.ts';
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
      if (!(error instanceof MessageError)) throw error; // e.g. a newer build's version: delivered again
      deps.logger.error('outcome message dropped', { messageId: record.messageId, reason: describeError(error) });
      return 'dropped';
    }
    return recordOutcome(outcome, deps);
  }

  return sqsBatchHandler(
    deps,
    () => new SqsFifoPartialProcessorAsync(),
    function finalizer(event, context, processor) {
      return processPartialResponse(event, finalizeRecord, processor, { context, skipGroupOnError: true, throwOnFullBatchFailure: false });
    },
  );
}
