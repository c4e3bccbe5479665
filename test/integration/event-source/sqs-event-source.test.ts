import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createHash } from 'node:crypto';
import { SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { startSqsEventSource, type SqsEventSourceOptions } from '../../../local/event-source/sqs-event-source.ts';
import { FAUXQS_CLIENT_CONFIG, useSqsSourceHarness } from '../../helpers/sqs-source-harness.ts';

// Poller errors are checked after each test; the sources are all stopped at once after the last.
const harness = useSqsSourceHarness({ functionName: 'fan-out', checkPollerErrors: 'afterEach', waitTimeoutMs: 5000 });
const { createQueue, sourceOptions, start, send, sendBodies, depth, waitUntil } = harness;

type Handler = SqsEventSourceOptions['handler'];

/** A handler that records every record it is given, with its receive count, and delegates the answer. */
function recordingHandler(answer: (event: SQSEvent, call: number) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void = () => {}) {
  const events: SQSEvent[] = [];
  const seen: Array<{ body: string; receiveCount: string; at: number }> = [];
  const handler: Handler = async (event) => {
    events.push(event);
    for (const record of event.Records) {
      seen.push({ body: record.body, receiveCount: record.attributes.ApproximateReceiveCount, at: Date.now() });
    }
    return answer(event, events.length);
  };
  return { handler, events, seen };
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const idOf = (event: SQSEvent, body: string) => event.Records.find((record) => record.body === body)!.messageId;

describe.concurrent('startSqsEventSource', () => {
  it("delivers records in Lambda's exact shape, with a live context, and deletes them on success", async () => {
    const queue = createQueue();
    const [withAttributes, plain] = await send(queue.queueUrl, [
      {
        MessageBody: '{"clip":"a"}',
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'clip' },
          parts: { DataType: 'Number', StringValue: '3' },
          blob: { DataType: 'Binary', BinaryValue: new Uint8Array([0, 1, 254, 255]) },
        },
      },
      { MessageBody: 'plain' },
    ]);
    let context: Context | undefined;
    let remainingAtStart = -1;
    const { handler, events } = recordingHandler();
    const source = start(queue, async (event, ctx) => {
      context = ctx;
      remainingAtStart = ctx.getRemainingTimeInMillis();
      return handler(event, ctx);
    }, { functionTimeoutSeconds: 1, reportBatchItemFailures: false });

    await source.waitForInvocations(1);

    const timestamp = expect.stringMatching(/^\d{13}$/);
    const attributes = {
      ApproximateReceiveCount: '1',
      SentTimestamp: timestamp,
      SenderId: '000000000000',
      ApproximateFirstReceiveTimestamp: timestamp,
    };
    const common = {
      receiptHandle: expect.any(String),
      attributes,
      eventSource: 'aws:sqs',
      eventSourceARN: queue.queueArn,
      awsRegion: 'us-east-1',
    };
    expect(events).toHaveLength(1);
    expect(events[0]).toStrictEqual({
      Records: [
        {
          messageId: withAttributes!.MessageId,
          body: '{"clip":"a"}',
          messageAttributes: {
            kind: { stringValue: 'clip', stringListValues: [], binaryListValues: [], dataType: 'String' },
            parts: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
            blob: { binaryValue: 'AAH+/w==', stringListValues: [], binaryListValues: [], dataType: 'Binary' },
          },
          md5OfMessageAttributes: withAttributes!.MD5OfMessageAttributes,
          md5OfBody: md5('{"clip":"a"}'),
          ...common,
        },
        {
          messageId: plain!.MessageId,
          body: 'plain',
          messageAttributes: {},
          // Real Lambda events carry an explicit null here when there are no message attributes.
          md5OfMessageAttributes: null,
          md5OfBody: md5('plain'),
          ...common,
        },
      ],
    });
    expect(Object.keys(events[0]!.Records[0]!.attributes)).toEqual([
      'ApproximateReceiveCount',
      'SentTimestamp',
      'SenderId',
      'ApproximateFirstReceiveTimestamp',
    ]);

    expect(context).toMatchObject({
      functionName: 'fan-out',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fan-out',
      memoryLimitInMB: '128',
      logGroupName: '/aws/lambda/fan-out',
      awsRequestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(remainingAtStart).toBeGreaterThan(900);
    expect(remainingAtStart).toBeLessThanOrEqual(1000);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    expect(source.stats).toEqual({ invocations: 1, records: 2, failedRecords: 0, timeouts: 0, errors: 0 });
  });

  it('collects more than 10 records across receives within the batching window', async () => {
    const queue = createQueue({ VisibilityTimeout: '5' });
    await sendBodies(queue.queueUrl, Array.from({ length: 25 }, (_, i) => `m${i}`));
    const { handler, events } = recordingHandler();
    const source = start(queue, handler, { batchSize: 25, maximumBatchingWindowSeconds: 1 });

    await waitUntil(() => events.flatMap((event) => event.Records).length === 25);
    await source.waitForInvocations(events.length);

    const sizes = events.map((event) => event.Records.length);
    // Two pollers share 25 messages; whichever way they split, one batch must have gone past a single receive's 10.
    expect(Math.max(...sizes)).toBeGreaterThan(10);
    expect(sizes.every((size) => size <= 25)).toBe(true);
    expect(new Set(events.flatMap((event) => event.Records.map((record) => record.body))).size).toBe(25);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
  });

  it.each([
    ['up to maximumConcurrency invocations at once', {}, 3, 6],
    ['one invocation at a time with pollers 1 (one execution environment of the mapping)', { pollers: 1 }, 1, 4],
  ])('runs %s', async (_name, pollers, expectedMaxRunning, messages) => {
    const queue = createQueue({ VisibilityTimeout: '5' });
    const bodies = Array.from({ length: messages }, (_, i) => String(i + 1));
    await sendBodies(queue.queueUrl, bodies);
    let running = 0;
    let maxRunning = 0;
    const source = start(
      queue,
      async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 200));
        running -= 1;
      },
      { batchSize: 1, maximumConcurrency: 3, functionTimeoutSeconds: 5, ...pollers },
    );

    await source.waitForInvocations(messages);

    expect(maxRunning).toBe(expectedMaxRunning);
    expect(source.stats).toEqual({ invocations: messages, records: messages, failedRecords: 0, timeouts: 0, errors: 0 });
  });

  it("long-polls an idle queue as Lambda's pollers do (one receive per poller per 20 s), and stop() ends the waits at once", async () => {
    const queue = createQueue();
    const waits: number[] = [];
    const sqs = new SQSClient({ endpoint: harness.server.address, ...FAUXQS_CLIENT_CONFIG, useQueueUrlAsEndpoint: false });
    sqs.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { WaitTimeSeconds?: number };
        if (input.WaitTimeSeconds !== undefined) waits.push(input.WaitTimeSeconds);
        return next(args);
      },
      { step: 'initialize' },
    );
    const { handler, seen } = recordingHandler();
    const source = startSqsEventSource(sourceOptions(queue, { sqs, handler, maximumConcurrency: 2 }));
    await source.ready;
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const stopping = Date.now();
    await source.stop();

    expect(Date.now() - stopping).toBeLessThan(1000);
    expect(waits).toEqual([20, 20]);
    expect(seen).toEqual([]);
    sqs.destroy();
  });

  it.each([
    ['a standard queue: the next batch is taken while the delete is on its way', {}, true],
    ['a FIFO queue: the next receive waits for the delete, which releases the group', { FifoQueue: 'true' }, false],
  ])('one poller, %s', async (_name, attributes, overlaps) => {
    const fifo = 'FifoQueue' in attributes;
    const queue = createQueue(attributes, fifo ? `overlap-${Date.now()}.fifo` : undefined);
    const events: string[] = [];
    const sqs = new SQSClient({ endpoint: harness.server.address, ...FAUXQS_CLIENT_CONFIG, useQueueUrlAsEndpoint: false });
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'DeleteMessageBatchCommand') return next(args);
        events.push('delete sent');
        await new Promise((resolve) => setTimeout(resolve, 300));
        const result = await next(args);
        events.push('delete done');
        return result;
      },
      { step: 'initialize' },
    );
    await send(queue.queueUrl, ['a', 'b'].map((body) => ({ MessageBody: body, ...(fifo && { MessageGroupId: 'g', MessageDeduplicationId: body }) })));
    const source = startSqsEventSource(
      sourceOptions(queue, {
        sqs,
        handler: async (event) => {
          events.push(`invoked ${event.Records.map((record) => record.body).join()}`);
        },
        batchSize: 1,
        maximumConcurrency: 2,
        pollers: 1,
      }),
    );

    await source.waitForInvocations(2);
    await source.stop();
    sqs.destroy();

    expect(events).toEqual(
      overlaps
        ? ['invoked a', 'delete sent', 'invoked b', 'delete sent', 'delete done', 'delete done']
        : ['invoked a', 'delete sent', 'delete done', 'invoked b', 'delete sent', 'delete done'],
    );
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
  });

  it('also works with short polling (pollWaitSeconds 0), and then stops almost at once', async () => {
    const queue = createQueue();
    const { handler, seen } = recordingHandler();
    const source = start(queue, handler, { pollWaitSeconds: 0 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await sendBodies(queue.queueUrl, ['late']);

    await source.waitForInvocations(1);
    const stopping = Date.now();
    await source.stop();

    expect(Date.now() - stopping).toBeLessThan(300);
    expect(seen.map((s) => s.body)).toEqual(['late']);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
  });

  it('leaves only the reported failures, which come back after the visibility timeout with ApproximateReceiveCount 2', async () => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['ok-1', 'fail-1', 'ok-2', 'fail-2']);
    const { handler, seen } = recordingHandler((event) => ({
      batchItemFailures: event.Records.filter((r) => r.body.startsWith('fail') && r.attributes.ApproximateReceiveCount === '1').map(
        (r) => ({ itemIdentifier: r.messageId }),
      ),
    }));
    const source = start(queue, handler);

    await source.waitForInvocations(1);
    expect(seen.map((s) => s.body)).toEqual(['ok-1', 'fail-1', 'ok-2', 'fail-2']);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 2, delayed: 0 });
    expect(harness.server.inspectQueue(queue.name)!.messages.inflight.map((entry) => entry.message.body).sort()).toEqual(['fail-1', 'fail-2']);

    await waitUntil(() => seen.length === 6);
    await source.waitForInvocations(source.stats.invocations);
    const redelivered = seen.slice(4);
    expect(redelivered.map((s) => s.body).sort()).toEqual(['fail-1', 'fail-2']);
    expect(redelivered.map((s) => s.receiveCount)).toEqual(['2', '2']);
    for (const again of redelivered) expect(again.at - seen[0]!.at).toBeGreaterThanOrEqual(900);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    expect(source.stats.failedRecords).toBe(2);
  });

  it('redelivers the whole batch when the handler throws', async () => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['a', 'b']);
    const errors: unknown[] = [];
    const boom = new Error('boom');
    const { handler, seen } = recordingHandler((_event, call) => {
      if (call === 1) throw boom;
    });
    const source = start(queue, handler, { onInvocationError: (error) => errors.push(error) });

    await source.waitForInvocations(1);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 2, delayed: 0 });
    expect(errors).toEqual([boom]);

    await waitUntil(() => seen.length === 4);
    expect(seen.slice(2).map((s) => [s.body, s.receiveCount]).sort()).toEqual([
      ['a', '2'],
      ['b', '2'],
    ]);
    await waitUntil(() => depth(queue.name).inflight === 0);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    expect(source.stats).toMatchObject({ errors: 1, failedRecords: 2, timeouts: 0 });
  });

  it.each<[string, (event: SQSEvent) => unknown]>([
    ['an itemIdentifier that is not in the batch', () => ({ batchItemFailures: [{ itemIdentifier: 'not-a-message-id' }] })],
    ['an empty itemIdentifier', () => ({ batchItemFailures: [{ itemIdentifier: '' }] })],
    ['a null itemIdentifier', () => ({ batchItemFailures: [{ itemIdentifier: null }] })],
    ['a misspelt itemIdentifier key', (event) => ({ batchItemFailures: [{ itemId: idOf(event, 'a') }] })],
    ['a valid entry next to an invalid one', (event) => ({ batchItemFailures: [{ itemIdentifier: idOf(event, 'a') }, { itemIdentifier: 'x' }] })],
    ['batchItemFailures that is not a list', () => ({ batchItemFailures: 'a' })],
    ['a response that is not an object', () => 'ok'],
  ])('fails the whole batch on %s', async (_name, respond) => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['a', 'b']);
    const errors: unknown[] = [];
    const { handler, seen } = recordingHandler((event, call) => (call === 1 ? (respond(event) as SQSBatchResponse) : undefined));
    const source = start(queue, handler, { onInvocationError: (error) => errors.push(error) });

    await source.waitForInvocations(1);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 2, delayed: 0 });
    expect(errors).toEqual([expect.objectContaining({ message: expect.stringMatching(/^Invalid SQSBatchResponse/) })]);
    expect(source.stats).toMatchObject({ errors: 1, failedRecords: 2 });

    await waitUntil(() => seen.length === 4);
    expect(seen.slice(2).map((s) => [s.body, s.receiveCount]).sort()).toEqual([
      ['a', '2'],
      ['b', '2'],
    ]);
  });

  it.each<[string, unknown]>([
    ['undefined', undefined],
    ['null', null],
    ['an empty object', {}],
    ['batchItemFailures: null', { batchItemFailures: null }],
    ['an empty batchItemFailures', { batchItemFailures: [] }],
  ])('treats %s as complete success', async (_name, response) => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['a', 'b']);
    const source = start(queue, async () => response as SQSBatchResponse);

    await source.waitForInvocations(1);

    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    expect(source.stats).toEqual({ invocations: 1, records: 2, failedRecords: 0, timeouts: 0, errors: 0 });
  });

  it('ignores the response when reportBatchItemFailures is off', async () => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['a', 'b']);
    const source = start(
      queue,
      async (event) => ({ batchItemFailures: [{ itemIdentifier: event.Records[0]!.messageId }, { itemIdentifier: 'junk' }] }),
      { reportBatchItemFailures: false },
    );

    await source.waitForInvocations(1);

    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    expect(source.stats.failedRecords).toBe(0);
  });

  it('treats a handler that outlives functionTimeoutSeconds as failed and redelivers its batch', async () => {
    const queue = createQueue();
    await sendBodies(queue.queueUrl, ['slow']);
    const errors: unknown[] = [];
    let remainingWhenLate = -1;
    const { handler, seen } = recordingHandler();
    const source = start(
      queue,
      async (event, context) => {
        const result = await handler(event, context);
        if (seen.length === 1) {
          await new Promise((resolve) => setTimeout(resolve, 1300));
          remainingWhenLate = context.getRemainingTimeInMillis();
        }
        return result;
      },
      { onInvocationError: (error) => errors.push(error) },
    );

    // With VisibilityTimeout equal to the function timeout (the minimum AWS allows) the redelivery
    // races the timeout, so wait for both rather than assume an order.
    await waitUntil(() => seen.length === 2);
    await source.waitForInvocations(2);
    expect(errors).toEqual([expect.objectContaining({ name: 'Sandbox.Timedout', message: 'Task timed out after 1.00 seconds' })]);
    expect(source.stats).toMatchObject({ invocations: 2, timeouts: 1, errors: 0, failedRecords: 1 });
    expect(seen[1]).toMatchObject({ body: 'slow', receiveCount: '2' });
    await waitUntil(() => remainingWhenLate !== -1);
    expect(remainingWhenLate).toBe(0);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
  });

  it('rejects ready, and polls nothing, when the visibility timeout is shorter than the function timeout', async () => {
    const queue = createQueue({ VisibilityTimeout: '1' });
    await sendBodies(queue.queueUrl, ['never']);
    const rejected: unknown[] = [];
    const { handler, seen } = recordingHandler();
    const source = startSqsEventSource(
      sourceOptions(queue, {
        handler,
        functionTimeoutSeconds: 5,
        onInvocationError: undefined,
        onPollerError: (error) => rejected.push(error),
      }),
    );

    await expect(source.ready).rejects.toThrow('Queue visibility timeout: 1 seconds is less than Function timeout: 5 seconds');
    await source.stop();
    expect(rejected).toHaveLength(1);
    expect(seen).toEqual([]);
    expect(depth(queue.name)).toEqual({ ready: 1, inflight: 0, delayed: 0 });
  });

  it.each<[string, Partial<SqsEventSourceOptions>, string]>([
    ['batchSize above 10 without a window', { batchSize: 11 }, 'maximumBatchingWindowSeconds must be at least 1'],
    ['maximumConcurrency below 2', { maximumConcurrency: 1 }, 'maximumConcurrency must be an integer from 2 to 1000'],
    ['more pollers than maximumConcurrency', { maximumConcurrency: 2, pollers: 3 }, 'pollers must be an integer from 1 to 2'],
    ['no pollers', { pollers: 0 }, 'pollers must be an integer from 1 to'],
    ['a fractional pollWaitSeconds', { pollWaitSeconds: 0.5 }, 'pollWaitSeconds must be an integer from 0 to 20'],
    ['batchSize above 10 on a FIFO queue', { batchSize: 11, queueArn: 'arn:aws:sqs:us-east-1:000000000000:x.fifo' }, 'batchSize must be an integer from 1 to 10'],
    ['a batching window on a FIFO queue', { maximumBatchingWindowSeconds: 1, queueArn: 'arn:aws:sqs:us-east-1:000000000000:x.fifo' }, 'not supported for FIFO'],
  ])('refuses %s, as CreateEventSourceMapping does', (_name, overrides, message) => {
    expect(() =>
      startSqsEventSource(
        sourceOptions(
          { queueUrl: 'http://unused', queueArn: 'arn:aws:sqs:us-east-1:000000000000:x' },
          { handler: async () => {}, onInvocationError: undefined, onPollerError: undefined, ...overrides },
        ),
      ),
    ).toThrow(message);
  });

  it('stop() lets the invocation in progress finish and delete its records', async () => {
    const queue = createQueue({ VisibilityTimeout: '5' });
    await sendBodies(queue.queueUrl, ['in-flight']);
    let started = false;
    let finished = false;
    const bodiesSeen: string[] = [];
    const source = startSqsEventSource(
      sourceOptions(queue, {
        handler: async (event) => {
          bodiesSeen.push(...event.Records.map((record) => record.body));
          started = true;
          await new Promise((resolve) => setTimeout(resolve, 300));
          finished = true;
        },
        functionTimeoutSeconds: 5,
        reportBatchItemFailures: false,
        onInvocationError: undefined,
      }),
    );
    await waitUntil(() => started);

    await source.stop();

    expect(finished).toBe(true);
    expect(depth(queue.name)).toEqual({ ready: 0, inflight: 0, delayed: 0 });
    await sendBodies(queue.queueUrl, ['after-stop']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Nothing is invoked or deleted after stop(). The other poller's aborted long poll may still
    // take the message on fauxqs (it does not notice the closed connection): then it waits out its
    // visibility timeout, as after any consumer that drops a long poll.
    expect(bodiesSeen).toEqual(['in-flight']);
    const after = depth(queue.name);
    expect(after.ready + after.inflight).toBe(1);
  });
});
