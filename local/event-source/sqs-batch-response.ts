/** What Lambda concludes from a handler's (JSON) response when ReportBatchItemFailures is on. */
export type BatchResponseVerdict =
  | { valid: true; failedMessageIds: ReadonlySet<string> }
  | { valid: false; reason: string };

/**
 * Interprets an `SQSBatchResponse` the way Lambda's SQS event source mapping does.
 *
 * Complete success: a `null` response, an object without `batchItemFailures`, or a `null`/empty list.
 * Complete failure (the whole batch is retried): a response that is not an object, a
 * `batchItemFailures` that is not a list, or an entry whose `itemIdentifier` is missing, `null`,
 * empty, not a string, or not the `messageId` of a record in this batch.
 */
export function judgeBatchResponse(response: unknown, batchMessageIds: ReadonlySet<string>): BatchResponseVerdict {
  if (response === null || response === undefined) return { valid: true, failedMessageIds: new Set() };
  if (typeof response !== 'object' || Array.isArray(response)) {
    return { valid: false, reason: `response is not an SQSBatchResponse object: ${JSON.stringify(response)}` };
  }
  const failures: unknown = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { valid: true, failedMessageIds: new Set() };
  if (!Array.isArray(failures)) {
    return { valid: false, reason: `batchItemFailures is not a list: ${JSON.stringify(failures)}` };
  }
  const failedMessageIds = new Set<string>();
  for (const failure of failures) {
    const id: unknown = typeof failure === 'object' && failure !== null ? (failure as { itemIdentifier?: unknown }).itemIdentifier : undefined;
    if (typeof id !== 'string' || id === '') {
      return { valid: false, reason: `invalid batchItemFailures entry: ${JSON.stringify(failure)}` };
    }
    if (!batchMessageIds.has(id)) {
      return { valid: false, reason: `itemIdentifier ${JSON.stringify(id)} is not a messageId in this batch` };
    }
    failedMessageIds.add(id);
  }
  return { valid: true, failedMessageIds };
}
