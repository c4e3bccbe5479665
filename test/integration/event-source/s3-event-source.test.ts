import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { Context, S3Event } from 'aws-lambda';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LambdaTimeoutError } from '../../../local/event-source/invoke-with-timeout.ts';
import { decodeS3EventKey } from '../../../lib/protocol/s3-event.ts';
import { encodeS3EventKey } from '../../../local/event-source/s3-event-key.ts';
import { s3TestEvent, type S3TestEvent } from '../../../local/event-source/s3-event.ts';
import {
  deliverS3Event,
  startS3EventSource,
  type S3EventSourceOptions,
} from '../../../local/event-source/s3-event-source.ts';
import { FAUXQS_CLIENT_CONFIG, useFauxqsHarness } from '../../helpers/sqs-source-harness.ts';

const harness = useFauxqsHarness({
  createClient: (endpoint) => new S3Client({ endpoint, ...FAUXQS_CLIENT_CONFIG, forcePathStyle: true }),
  checkPollerErrors: 'afterAll',
});
let bucketCount = 0;

function createBucket() {
  const bucket = `clips-${++bucketCount}`;
  harness.server.createBucket(bucket);
  return bucket;
}

function start(bucket: string, overrides: Partial<S3EventSourceOptions> = {}) {
  const events: S3Event[] = [];
  const contexts: Context[] = [];
  const source = startS3EventSource({
    s3: harness.client,
    bucket,
    functionName: 'splitter',
    functionTimeoutSeconds: 1,
    handler: async (event, context) => {
      events.push(event);
      contexts.push(context);
    },
    retryDelayMs: 20,
    onPollerError: harness.onPollerError,
    ...overrides,
  });
  harness.track(source);
  return { source, events, contexts };
}

const put = (bucket: string, key: string, body: string) => harness.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const objectsOf = (events: S3Event[]) => events.flatMap((event) => event.Records.map((record) => record.s3.object));

describe('encodeS3EventKey', () => {
  it.each([
    ['a b+c/ü.mp4', 'a+b%2Bc/%C3%BC.mp4'],
    ['clip (1).mp4', 'clip+%281%29.mp4'],
    ['x:y=z&w?#.mp4', 'x%3Ay%3Dz%26w%3F%23.mp4'],
    ["it's~!", 'it%27s%7E%21'],
    ['keep-these_.*/AZaz09', 'keep-these_.*/AZaz09'],
    ['100%.mp4', '100%25.mp4'],
    ['🎮.mp4', '%F0%9F%8E%AE.mp4'],
  ])('encodes %j as %j, and decodes it back', (key, encoded) => {
    expect(encodeS3EventKey(key)).toBe(encoded);
    expect(decodeS3EventKey(encoded)).toBe(key);
  });
});

describe.concurrent('startS3EventSource', () => {
  it('delivers an ObjectCreated:Put event in S3 notification shape, the key URL-encoded', async () => {
    const bucket = createBucket();
    await put(bucket, 'a b+c/ü.mp4', 'clip-bytes');
    const { source, events, contexts } = start(bucket);

    await source.flush();

    expect(events).toStrictEqual([
      {
        Records: [
          {
            eventVersion: '2.1',
            eventSource: 'aws:s3',
            awsRegion: 'us-east-1',
            eventTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
            eventName: 'ObjectCreated:Put',
            userIdentity: { principalId: 'AWS:AIDAJDPLRKLG7UEXAMPLE' },
            requestParameters: { sourceIPAddress: '127.0.0.1' },
            responseElements: {
              'x-amz-request-id': expect.stringMatching(/^[0-9A-F]{16}$/),
              'x-amz-id-2': expect.stringMatching(/^[A-Za-z0-9+/]{64}$/),
            },
            s3: {
              s3SchemaVersion: '1.0',
              configurationId: 'local-event-source',
              bucket: { name: bucket, ownerIdentity: { principalId: 'A3NL1KOZZKEXAMPLE' }, arn: `arn:aws:s3:::${bucket}` },
              object: {
                key: 'a+b%2Bc/%C3%BC.mp4',
                size: 10,
                eTag: md5('clip-bytes'),
                sequencer: expect.stringMatching(/^[0-9A-F]{18}$/),
              },
            },
          },
        ],
      },
    ]);
    expect(Math.abs(Date.parse(events[0]!.Records[0]!.eventTime) - Date.now())).toBeLessThan(5000);
    expect(contexts[0]).toMatchObject({
      functionName: 'splitter',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:splitter',
    });
    expect(source.stats).toEqual({ events: 1, invocations: 1, errors: 0, timeouts: 0, failedEvents: 0 });
  });

  it('delivers one event per new object under the prefix and never redelivers an unchanged one', async () => {
    const bucket = createBucket();
    await put(bucket, 'clips/one.mp4', '1');
    await put(bucket, 'other/two.mp4', '2');
    const { source, events } = start(bucket, { prefix: 'clips/' });
    await source.flush();
    await put(bucket, 'clips/three.mp4', '3');

    await source.flush();
    await source.flush();

    expect(events.every((event) => event.Records.length === 1)).toBe(true);
    expect(objectsOf(events).map((object) => object.key).sort()).toEqual(['clips/one.mp4', 'clips/three.mp4']);
  });

  it('lists every page of a large bucket', async () => {
    const bucket = createBucket();
    await Promise.all(Array.from({ length: 1005 }, (_, i) => put(bucket, `k/${String(i).padStart(4, '0')}`, 'x')));
    const { source, events } = start(bucket);

    await source.flush();

    expect(new Set(objectsOf(events).map((object) => object.key)).size).toBe(1005);
  });

  it('delivers an overwritten key again, with the new ETag and a later sequencer', async () => {
    const bucket = createBucket();
    await put(bucket, 'clip.mp4', 'first');
    const { source, events } = start(bucket);
    await source.flush();

    await put(bucket, 'clip.mp4', 'second version');
    await source.flush();

    const [first, second] = objectsOf(events);
    expect(objectsOf(events)).toHaveLength(2);
    expect(first).toMatchObject({ key: 'clip.mp4', eTag: md5('first'), size: 5 });
    expect(second).toMatchObject({ key: 'clip.mp4', eTag: md5('second version'), size: 14 });
    expect(second!.sequencer > first!.sequencer).toBe(true);
  });

  it('delivers a re-upload of identical bytes and a deleted-then-recreated key, as S3 would', async () => {
    const bucket = createBucket();
    await put(bucket, 'same.mp4', 'bytes');
    await put(bucket, 'gone.mp4', 'bytes');
    const { source, events } = start(bucket);
    await source.flush();

    await new Promise((resolve) => setTimeout(resolve, 5));
    await put(bucket, 'same.mp4', 'bytes');
    await harness.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'gone.mp4' }));
    await source.flush();
    await put(bucket, 'gone.mp4', 'bytes');
    await source.flush();

    expect(objectsOf(events).map((object) => object.key).sort()).toEqual(['gone.mp4', 'gone.mp4', 'same.mp4', 'same.mp4']);
  });

  it('reports a multipart upload as ObjectCreated:CompleteMultipartUpload with its multipart ETag', async () => {
    const bucket = createBucket();
    const { UploadId } = await harness.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big.mp4' }));
    const { ETag } = await harness.client.send(new UploadPartCommand({ Bucket: bucket, Key: 'big.mp4', UploadId, PartNumber: 1, Body: 'part' }));
    await harness.client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: 'big.mp4', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }),
    );
    const { source, events } = start(bucket);

    await source.flush();

    expect(events[0]!.Records[0]!.eventName).toBe('ObjectCreated:CompleteMultipartUpload');
    expect(events[0]!.Records[0]!.s3.object.eTag).toMatch(/^[0-9a-f]{32}-1$/);
  });

  it('skips the objects already there when skipExisting is set', async () => {
    const bucket = createBucket();
    await put(bucket, 'old.mp4', 'old');
    const { source, events } = start(bucket, { skipExisting: true });
    await source.flush();
    await put(bucket, 'new.mp4', 'new');

    await source.flush();

    expect(objectsOf(events).map((object) => object.key)).toEqual(['new.mp4']);
  });

  it('retries a failing invocation twice with the same event and request id, like an async invocation', async () => {
    const bucket = createBucket();
    await put(bucket, 'flaky.mp4', 'x');
    const attempts: Array<{ requestId: string; event: S3Event; at: number }> = [];
    const failures: unknown[] = [];
    const { source } = start(bucket, {
      handler: async (event, context) => {
        attempts.push({ requestId: context.awsRequestId, event, at: Date.now() });
        if (attempts.length < 3) throw new Error(`attempt ${attempts.length} failed`);
      },
      onInvocationError: (error) => failures.push(error),
    });

    await source.flush();

    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((attempt) => attempt.requestId)).size).toBe(1);
    expect(attempts[1]!.event).toStrictEqual(attempts[0]!.event);
    expect(attempts[2]!.event).toStrictEqual(attempts[0]!.event);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(19);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(39);
    expect(failures).toEqual([]);
    expect(source.stats).toEqual({ events: 1, invocations: 3, errors: 2, timeouts: 0, failedEvents: 0 });
  });

  it('gives up after the retries and reports the last error once', async () => {
    const bucket = createBucket();
    await put(bucket, 'broken.mp4', 'x');
    let calls = 0;
    const failures: Array<[unknown, S3Event]> = [];
    const { source } = start(bucket, {
      handler: async () => {
        calls += 1;
        throw new Error(`failure ${calls}`);
      },
      onInvocationError: (error, event) => failures.push([error, event]),
    });

    await source.flush();

    expect(calls).toBe(3);
    expect(failures).toHaveLength(1);
    expect(failures[0]![0]).toEqual(new Error('failure 3'));
    expect(failures[0]![1].Records[0]!.s3.object.key).toBe('broken.mp4');
    expect(source.stats).toEqual({ events: 1, invocations: 3, errors: 3, timeouts: 0, failedEvents: 1 });
  });

  it('treats a handler that outlives the function timeout as a failure', async () => {
    const bucket = createBucket();
    await put(bucket, 'slow.mp4', 'x');
    const failures: unknown[] = [];
    const { source } = start(bucket, {
      handler: () => new Promise((resolve) => setTimeout(resolve, 1500)),
      maximumRetryAttempts: 0,
      onInvocationError: (error) => failures.push(error),
    });

    await source.flush();

    expect(failures).toEqual([expect.any(LambdaTimeoutError)]);
    expect(source.stats).toEqual({ events: 1, invocations: 1, errors: 0, timeouts: 1, failedEvents: 1 });
  });

  it('stop() cancels retries that are still waiting', async () => {
    const bucket = createBucket();
    await put(bucket, 'doomed.mp4', 'x');
    let calls = 0;
    const failures: unknown[] = [];
    const { source } = start(bucket, {
      handler: async () => {
        calls += 1;
        throw new Error('nope');
      },
      retryDelayMs: 60_000,
      onInvocationError: (error) => failures.push(error),
    });
    const deadline = Date.now() + 5000;
    while (calls === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));

    const stopping = Date.now();
    await source.stop();

    expect(Date.now() - stopping).toBeLessThan(1000);
    expect(calls).toBe(1);
    expect(failures).toEqual([new Error('nope')]);
    expect(source.stats).toMatchObject({ events: 1, invocations: 1, failedEvents: 1 });
  });
});

describe.concurrent('deliverS3Event', () => {
  it('hands a hand-made s3:TestEvent to the handler as is', async () => {
    const received: S3TestEvent[] = [];
    const event = s3TestEvent('clips');

    const result = await deliverS3Event<S3TestEvent>(
      {
        functionName: 'splitter',
        functionTimeoutSeconds: 1,
        handler: async (e) => {
          received.push(e);
        },
      },
      event,
    );

    expect(event).toStrictEqual({
      Service: 'Amazon S3',
      Event: 's3:TestEvent',
      Time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      Bucket: 'clips',
      RequestId: expect.stringMatching(/^[0-9A-F]{16}$/),
      HostId: expect.any(String),
    });
    expect(received).toStrictEqual([event]);
    expect(result).toStrictEqual({ status: 'succeeded', attempts: 1, errors: 0, timeouts: 0 });
  });
});
