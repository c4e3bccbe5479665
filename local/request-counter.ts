import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';

/**
 * AWS API calls made, by `Service:Command` (e.g. `S3:GetObject`), counted as they are sent. Calls
 * to a FIFO queue count as `SQS.fifo:Command`: SQS bills them at a higher rate.
 */
export type RequestCounts = Map<string, number>;

/**
 * Counts every command a client sends: the bench prices a run from what it actually did,
 * not from what it should have done.
 */
export function countRequests(client: S3Client | SQSClient, service: 'S3' | 'SQS', counts: RequestCounts): void {
  (client as S3Client).middlewareStack.add(
    (next, context) => async (args) => {
      const queueUrl = (args.input as { QueueUrl?: unknown }).QueueUrl;
      const counted = service === 'SQS' && typeof queueUrl === 'string' && queueUrl.endsWith('.fifo') ? 'SQS.fifo' : service;
      const name = `${counted}:${String(context.commandName).replace(/Command$/, '')}`;
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: 'initialize', name: 'clipRelayRequestCounter' },
  );
}
