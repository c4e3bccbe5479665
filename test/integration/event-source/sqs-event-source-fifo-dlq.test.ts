import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { useSqsSourceHarness } from '../../helpers/sqs-source-harness.ts';

const harness = useSqsSourceHarness({ functionName: 'finalizer', checkPollerErrors: 'afterAll', waitTimeoutMs: 6000 });
const { createQueue, start, send, depth, waitUntil } = harness;

describe.concurrent('SQS event source with fauxqs queue features', () => {
  it('lets the RedrivePolicy move a message to the DLQ after maxReceiveCount failed invocations', async () => {
    const dlq = harness.server.createQueue('poison-dlq');
    const queue = createQueue({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 2 }) }, 'poison');
    const [sent] = await send(queue.queueUrl, [{ MessageBody: 'poison' }]);
    const receiveCounts: string[] = [];
    const source = start(queue, async (event) => {
      receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
      throw new Error('cannot process');
    });

    await waitUntil(() => depth(dlq.queueName).ready === 1);

    expect(receiveCounts).toEqual(['1', '2']);
    const [inDlq] = harness.server.inspectQueue(dlq.queueName)!.messages.ready;
    expect(inDlq).toMatchObject({ messageId: sent!.MessageId, body: 'poison' });
    expect(depth(queue.queueName)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiveCounts).toEqual(['1', '2']);
    expect(source.stats).toMatchObject({ invocations: 2, errors: 2, failedRecords: 2 });
  });

  it('delivers the records of each FIFO message group in order, a reported failure holding back the rest of its group', async () => {
    const queue = createQueue({ FifoQueue: 'true' }, 'clips.fifo');
    const bodies = ['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4'];
    const sent = await send(
      queue.queueUrl,
      bodies.map((body) => ({ MessageBody: body, MessageGroupId: `group-${body[0]}`, MessageDeduplicationId: body })),
    );
    const events: SQSEvent[] = [];
    const source = start(queue, async (event) => {
      events.push(event);
      return {
        batchItemFailures: event.Records.filter((r) => r.body === 'a2' && r.attributes.ApproximateReceiveCount === '1').map((r) => ({
          itemIdentifier: r.messageId,
        })),
      };
    });

    await waitUntil(() => events.flatMap((event) => event.Records).length === 9);
    await source.waitForInvocations(events.length);

    const deliveredBodies = (group: string) =>
      events.flatMap((event) => event.Records.filter((r) => r.attributes.MessageGroupId === group).map((r) => r.body));
    expect(deliveredBodies('group-a')).toEqual(['a1', 'a2', 'a2', 'a3', 'a4']);
    expect(deliveredBodies('group-b')).toEqual(['b1', 'b2', 'b3', 'b4']);
    for (const event of events) {
      for (const group of ['group-a', 'group-b']) {
        const sequence = event.Records.filter((r) => r.attributes.MessageGroupId === group).map((r) => BigInt(r.attributes.SequenceNumber!));
        expect(sequence).toEqual([...sequence].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
      }
    }
    expect(depth(queue.queueName)).toEqual({ ready: 0, inflight: 0, delayed: 0 });

    const firstA1 = events[0]!.Records.find((record) => record.body === 'a1');
    const timestamp = expect.stringMatching(/^\d{13}$/);
    expect(firstA1).toStrictEqual({
      messageId: sent[0]!.MessageId,
      receiptHandle: expect.any(String),
      body: 'a1',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: timestamp,
        SequenceNumber: sent[0]!.SequenceNumber,
        MessageGroupId: 'group-a',
        SenderId: '000000000000',
        MessageDeduplicationId: 'a1',
        ApproximateFirstReceiveTimestamp: timestamp,
      },
      messageAttributes: {},
      md5OfMessageAttributes: null,
      md5OfBody: sent[0]!.MD5OfMessageBody,
      eventSource: 'aws:sqs',
      eventSourceARN: queue.queueArn,
      awsRegion: 'us-east-1',
    });
    expect(Object.keys(firstA1!.attributes)).toEqual([
      'ApproximateReceiveCount',
      'SentTimestamp',
      'SequenceNumber',
      'MessageGroupId',
      'SenderId',
      'MessageDeduplicationId',
      'ApproximateFirstReceiveTimestamp',
    ]);
  });
});
