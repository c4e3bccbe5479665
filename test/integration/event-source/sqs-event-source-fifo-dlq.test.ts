import { SendMessageBatchCommand, SQSClient, type SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSqsEventSource, type SqsEventSource, type SqsEventSourceOptions } from '../../../local/event-source/sqs-event-source.ts';

let server: FauxqsServer;
let sqs: SQSClient;
const sources: SqsEventSource[] = [];
const pollerErrors: unknown[] = [];

beforeAll(async () => {
  server = await startFauxqs({ port: 0, logger: false });
  sqs = new SQSClient({
    endpoint: server.address,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    useQueueUrlAsEndpoint: false,
  });
});

afterAll(async () => {
  await Promise.all(sources.map((source) => source.stop()));
  expect(pollerErrors).toEqual([]);
  sqs.destroy();
  await server.stop();
});

function start(queue: { queueUrl: string; queueArn: string }, overrides: Partial<SqsEventSourceOptions> & Pick<SqsEventSourceOptions, 'handler'>) {
  const source = startSqsEventSource({
    sqs,
    queueUrl: queue.queueUrl,
    queueArn: queue.queueArn,
    functionName: 'finalizer',
    batchSize: 10,
    maximumConcurrency: 2,
    functionTimeoutSeconds: 1,
    reportBatchItemFailures: true,
    onInvocationError: () => {},
    onPollerError: (error) => pollerErrors.push(error),
    ...overrides,
  });
  sources.push(source);
  return source;
}

async function sendBatch(queueUrl: string, entries: Omit<SendMessageBatchRequestEntry, 'Id'>[]) {
  const response = await sqs.send(
    new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries.map((entry, index) => ({ Id: String(index), ...entry })) }),
  );
  expect(response.Failed ?? []).toEqual([]);
  return entries.map((_, index) => response.Successful!.find((ok) => ok.Id === String(index))!);
}

function depth(queueName: string) {
  const { messages } = server.inspectQueue(queueName)!;
  return { ready: messages.ready.length, inflight: messages.inflight.length, delayed: messages.delayed.length };
}

async function waitUntil(condition: () => boolean, timeoutMs = 6000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.concurrent('SQS event source with fauxqs queue features', () => {
  it('lets the RedrivePolicy move a message to the DLQ after maxReceiveCount failed invocations', async () => {
    const dlq = server.createQueue('poison-dlq');
    const queue = server.createQueue('poison', {
      attributes: {
        VisibilityTimeout: '1',
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 2 }),
      },
    });
    const [sent] = await sendBatch(queue.queueUrl, [{ MessageBody: 'poison' }]);
    const receiveCounts: string[] = [];
    const source = start(queue, {
      handler: async (event) => {
        receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
        throw new Error('cannot process');
      },
    });

    await waitUntil(() => depth(dlq.queueName).ready === 1);

    expect(receiveCounts).toEqual(['1', '2']);
    const [inDlq] = server.inspectQueue(dlq.queueName)!.messages.ready;
    expect(inDlq).toMatchObject({ messageId: sent!.MessageId, body: 'poison' });
    expect(depth(queue.queueName)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiveCounts).toEqual(['1', '2']);
    expect(source.stats).toMatchObject({ invocations: 2, errors: 2, failedRecords: 2 });
  });

  it('delivers the records of each FIFO message group in order, a reported failure holding back the rest of its group', async () => {
    const queue = server.createQueue('clips.fifo', { attributes: { FifoQueue: 'true', VisibilityTimeout: '1' } });
    const bodies = ['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4', 'b4'];
    const sent = await sendBatch(
      queue.queueUrl,
      bodies.map((body) => ({ MessageBody: body, MessageGroupId: `group-${body[0]}`, MessageDeduplicationId: body })),
    );
    const events: SQSEvent[] = [];
    const source = start(queue, {
      handler: async (event) => {
        events.push(event);
        return {
          batchItemFailures: event.Records.filter((r) => r.body === 'a2' && r.attributes.ApproximateReceiveCount === '1').map((r) => ({
            itemIdentifier: r.messageId,
          })),
        };
      },
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
