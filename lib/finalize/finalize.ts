import type { ClipStore } from '../aws/clip-store.ts';
import type { RelayConfig } from '../runtime/config.ts';
import { describeError, ReceiptTooNewError, RetryLaterError } from '../protocol/errors.ts';
import { clipId } from '../protocol/correlation.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { noMetrics, type MetricName, type RelayMetrics } from '../runtime/metrics.ts';
import type { OutcomeMessage } from '../protocol/messages.ts';
import { claimsCommitted, nextReceipt, parseReceipt, receiptKey, type Receipt } from '../protocol/receipt.ts';

/** What the finalizer needs. */
export interface FinalizerDeps {
  clips: ClipStore;
  config: Pick<RelayConfig, 'receiptsPrefix'>;
  logger: RelayLogger;
  metrics?: RelayMetrics;
}

const STATUS_METRIC: Record<Receipt['status'], MetricName> = {
  committed: 'ClipsCommitted',
  failed: 'ClipsFailed',
  unconfirmed: 'ClipsUnconfirmed',
};

/**
 * Turns an outcome into the clip's receipt by the receipt rules. Outcomes of one clip arrive
 * one at a time (FIFO group per clip); the conditional write is the second guard in AWS. A
 * stored receipt that is not a receipt is logged, counted (CorruptReceipts) and replaced as if
 * there were none (throwing would fail every delivery of the clip's group until the DLQ), unless
 * it still says committed. A receipt of a newer build is kept and the outcome retried later.
 * @returns 'written', or 'kept' when the existing receipt stands
 * @throws RetryLaterError when the receipt changed between read and write, or a newer build wrote it
 */
export async function recordOutcome(outcome: OutcomeMessage, deps: FinalizerDeps): Promise<'written' | 'kept'> {
  const { bucket } = outcome.clip;
  const key = receiptKey(deps.config.receiptsPrefix, outcome.clip.key);
  const metrics = deps.metrics ?? noMetrics;
  const stored = await deps.clips.read(bucket, key);
  let existing: Receipt | undefined;
  if (stored !== undefined) {
    try {
      existing = parseReceipt(stored.body);
    } catch (error) {
      // A newer build's receipt is not corrupt: the outcome waits (SQS redelivers) for a build that reads it.
      if (error instanceof ReceiptTooNewError) throw error;
      metrics.addMetric('CorruptReceipts', 'Count', 1);
      const fields = { clipId: clipId(bucket, outcome.clip.key), key: outcome.clip.key, receiptKey: key, reason: describeError(error) };
      if (claimsCommitted(stored.body, outcome.clip.etag)) {
        deps.logger.error('receipt corrupt but says committed: kept', fields);
        return 'kept';
      }
      deps.logger.error('receipt corrupt: replacing it', fields);
    }
  }
  const receipt = nextReceipt(existing, outcome);
  if (receipt === undefined) {
    deps.logger.info('receipt kept', { clipId: clipId(bucket, outcome.clip.key), key: outcome.clip.key, status: existing?.status, outcome: outcome.status });
    return 'kept';
  }
  const written = await deps.clips.writeIf(bucket, key, `${JSON.stringify(receipt, null, 2)}\n`, stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.etag });
  if (!written) throw new RetryLaterError(`receipt s3://${bucket}/${key} changed while it was being written`);
  metrics.addMetric(STATUS_METRIC[receipt.status], 'Count', 1);
  const dropToReceiptMs = receipt.droppedAt === undefined ? undefined : Date.parse(receipt.decidedAt) - Date.parse(receipt.droppedAt);
  if (dropToReceiptMs !== undefined && Number.isFinite(dropToReceiptMs)) metrics.addMetric('DropToReceipt', 'Milliseconds', dropToReceiptMs);
  deps.logger.info('receipt written', {
    clipId: clipId(bucket, outcome.clip.key),
    key: outcome.clip.key,
    receiptKey: key,
    status: receipt.status,
    reason: receipt.reason?.code,
    dropToReceiptMs,
  });
  return 'written';
}
