import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ObjectCreatedEvent, s3TestEvent } from '../../local/event-source/s3-event.ts';
import { logCursor } from '../helpers/log-lines.ts';
import { waitForDeleted, waitForEmptyQueue } from '../helpers/queue-watch.ts';
import { clipBytes, startRelayFixture, type RelayFixture } from '../helpers/relay-fixture.ts';

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:clip-relay-local-splitter:$LATEST';

/** The record Lambda puts into the splitter's on-failure destination, shaped as AWS documents it. */
function failureRecord(requestPayload: unknown, overrides: { condition?: string; approximateInvokeCount?: number; responsePayload?: unknown } = {}) {
  return {
    version: '1.0',
    timestamp: new Date().toISOString(),
    requestContext: {
      requestId: 'e4b46cbf-b738-4a4e-8880-a18cdf61200e',
      functionArn: FUNCTION_ARN,
      condition: overrides.condition ?? 'RetriesExhausted',
      approximateInvokeCount: overrides.approximateInvokeCount ?? 3,
    },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    ...('responsePayload' in overrides ? (overrides.responsePayload === undefined ? {} : { responsePayload: overrides.responsePayload }) : {
      responsePayload: { errorType: 'TimeoutError', errorMessage: 'Connection timed out after 120000 ms', trace: ['TimeoutError: Connection timed out after 120000 ms'] },
    }),
  };
}

describe('Clips the splitter gave up on (its async on-failure destination)', () => {
  let relay: RelayFixture;
  let counter = 0;
  const nextKey = (name: string) => `incoming/split-failed/${++counter}-${name}.mp4`;
  beforeAll(async () => {
    relay = await startRelayFixture();
  });
  afterAll(async () => relay?.stop());

  async function sendFailure(record: unknown): Promise<string> {
    const sent = await relay.stack.sqs.send(new SendMessageCommand({ QueueUrl: relay.stack.queues.splitterFailures.url, MessageBody: JSON.stringify(record) }));
    return sent.MessageId!;
  }

  it('Should turn a hand-built RetriesExhausted record into a failed receipt for the version the event named', async () => {
    const key = nextKey('retries exhausted');
    const droppedAt = new Date(Date.now() - 60_000);
    const event = s3ObjectCreatedEvent({ bucket: relay.stack.bucket, key, size: 5_000_000, eTag: 'abc123', versionId: 'v1', eventTime: droppedAt });
    const logs = logCursor(relay.logs);
    const messageId = await sendFailure(failureRecord(event));

    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 15_000 });
    expect(receipt).toMatchObject({
      status: 'failed',
      bucket: relay.stack.bucket,
      key,
      etag: 'abc123',
      size: 5_000_000,
      versionId: 'v1',
      attempts: 3,
      droppedAt: droppedAt.toISOString(),
      reason: {
        code: 'SPLIT_FAILED',
        message: 'the splitter failed on every attempt (RetriesExhausted, 3 attempts): TimeoutError: Connection timed out after 120000 ms',
      },
    });
    await waitForDeleted(relay.stack, relay.stack.queues.splitterFailures, messageId, 5_000);
    expect(logs.lines().filter((l) => l.function === 'dead-letter' && l.level === 'ERROR')).toMatchObject([
      { message: 'splitter gave up on clip', key, condition: 'RetriesExhausted', attempts: 3, functionArn: FUNCTION_ARN, reason: { code: 'SPLIT_FAILED' } },
    ]);
    expect(relay.stack.metrics.totals.get('ClipsFailed')?.sum).toBeGreaterThanOrEqual(1);
  });

  it('Should fail the clip of an event that aged out (EventAgeExceeded, no attempt reported)', async () => {
    const key = nextKey('aged out');
    const event = s3ObjectCreatedEvent({ bucket: relay.stack.bucket, key, size: 10, eTag: 'def456' });
    await sendFailure(failureRecord(event, { condition: 'EventAgeExceeded', approximateInvokeCount: 0, responsePayload: undefined }));
    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 15_000 });
    expect(receipt).toMatchObject({
      status: 'failed',
      attempts: 0,
      reason: { code: 'SPLIT_FAILED', message: 'its S3 event expired before the splitter could handle it (EventAgeExceeded, 0 attempts): no error was reported' },
    });
  });

  it('Should drop, with an ERROR line, a record whose event names no clip', async () => {
    const logs = logCursor(relay.logs);
    const messageId = await sendFailure(failureRecord(s3TestEvent(relay.stack.bucket)));
    await logs.waitFor((l) => l.function === 'dead-letter' && l.message === 'splitter failure names no clip');
    await waitForDeleted(relay.stack, relay.stack.queues.splitterFailures, messageId, 5_000);
    expect(relay.stack.queueCounts(relay.stack.queues.splitterFailures)).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
  });

  describe('end to end: the splitter fails every attempt on a real SQS error', () => {
    // The blocks queue is deleted while the clip is dropped: the splitter's real SendMessageBatch
    // fails (the queue does not exist), the local S3 event source retries it twice as Lambda does,
    // then delivers Lambda's failure record to the splitter-failures queue; the dead-letter
    // function turns it into an outcome and the finalizer into the clip's receipt.
    it('Should end the clip with a failed SPLIT_FAILED receipt, then relay the next clip once the queue is back', async () => {
      const blocks = relay.stack.queues.blocks;
      const inspected = relay.stack.fauxqs.inspectQueue(blocks.name)!;
      const attributes = Object.fromEntries(
        Object.entries(inspected.attributes).filter(([name]) => ['VisibilityTimeout', 'MessageRetentionPeriod', 'RedrivePolicy', 'DelaySeconds', 'MaximumMessageSize', 'ReceiveMessageWaitTimeSeconds'].includes(name)),
      );
      expect(attributes.RedrivePolicy).toContain(relay.stack.queues.blocksDlq.arn);
      const before = { ...relay.stack.sources.splitter.stats };

      const key = nextKey('no blocks queue');
      const body = clipBytes(300_000);
      const session = relay.emulator.openSession({ fileSize: body.length, expectedBlocks: 1 });
      const logs = logCursor(relay.logs);
      relay.stack.fauxqs.deleteQueue(blocks.name);
      let receipt;
      try {
        await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 1 } });
        receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 20_000 });
      } finally {
        const recreated = relay.stack.fauxqs.createQueue(blocks.name, { attributes });
        expect(recreated.queueUrl).toBe(blocks.url);
      }

      const head = await relay.stack.s3.send(new HeadObjectCommand({ Bucket: relay.stack.bucket, Key: key }));
      expect(receipt).toMatchObject({
        status: 'failed',
        key,
        etag: head.ETag!.replaceAll('"', ''),
        size: body.length,
        attempts: 3,
        reason: { code: 'SPLIT_FAILED', message: expect.stringMatching(/^the splitter failed on every attempt \(RetriesExhausted, 3 attempts\): \S.*queue/i) },
      });
      // Nothing of the ticket's secret half reaches the receipt.
      expect(JSON.stringify(receipt)).not.toContain(session.uploadId);
      expect(relay.stack.sources.splitter.stats).toMatchObject({ events: before.events + 1, invocations: before.invocations + 3, errors: before.errors + 3, failedEvents: before.failedEvents + 1 });
      expect(relay.emulator.stats(session.uploadId).puts).toBe(0);
      const splitterErrors = logs.lines().filter((l) => l.function === 'splitter' && l.level === 'ERROR');
      expect(splitterErrors.filter((l) => l.message === 'invocation failed')).toHaveLength(1);
      expect(splitterErrors.filter((l) => l.message === 'on-failure destination unreachable: the event is lost')).toStrictEqual([]);
      expect(logs.lines().filter((l) => l.function === 'dead-letter' && l.message === 'splitter gave up on clip')).toMatchObject([{ key, condition: 'RetriesExhausted', attempts: 3 }]);
      await waitForEmptyQueue(relay.stack, relay.stack.queues.splitterFailures, 5_000);

      // The stack is whole again: the next clip is relayed and committed.
      const nextBody = clipBytes(300_000);
      const next = relay.emulator.openSession({ fileSize: nextBody.length, expectedBlocks: 1 });
      const nextClip = nextKey('after recovery');
      await relay.stack.putClip({ key: nextClip, body: nextBody, ticket: { uploadUri: next.uploadUri, uploadId: next.uploadId, expectedBlocks: 1 } });
      await expect(relay.stack.waitForReceipt(nextClip, { timeoutMs: 20_000 })).resolves.toMatchObject({ status: 'committed' });
      expect(relay.emulator.committed(next.uploadId)?.equals(nextBody)).toBe(true);
    });
  });

  it('Should leave every queue and DLQ empty after all of the above', async () => {
    for (const queue of Object.values(relay.stack.queues)) await waitForEmptyQueue(relay.stack, queue, 10_000);
  });
});
