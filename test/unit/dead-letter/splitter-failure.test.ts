import { describe, expect, it } from 'vitest';
import type { RelayQueues } from '../../../lib/aws/queues.ts';
import { settleDeadLetterMessage } from '../../../lib/dead-letter/dead-letter.ts';
import { MessageError } from '../../../lib/protocol/errors.ts';
import type { LogFields, RelayLogger } from '../../../lib/runtime/log.ts';
import { BLOCK_MESSAGE_VERSION, parseOutcomeMessage, type BlockMessage, type OutcomeMessage } from '../../../lib/protocol/messages.ts';
import { asSplitterFailureBody, parseSplitterFailure, splitFailedOutcomes } from '../../../lib/dead-letter/splitter-failure.ts';
import { asyncFailureRecord } from '../../../local/event-source/async-failure-record.ts';
import { LambdaTimeoutError } from '../../../local/event-source/invoke-with-timeout.ts';
import { s3ObjectCreatedEvent, s3TestEvent } from '../../../local/event-source/s3-event.ts';

const AT = new Date('2026-05-01T12:00:00Z');
const DROPPED = new Date('2026-05-01T11:59:00Z');
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:clip-relay-dev-splitter:$LATEST';

/** An S3 event as S3 sends it (key URL-encoded, versioned bucket). */
const s3Event = (key = 'incoming/my clip.mp4') =>
  s3ObjectCreatedEvent({ bucket: 'clips', key, size: 3_145_728, eTag: '"0123abcd"', versionId: 'v-7', eventTime: DROPPED });

/** The record Lambda sends to the on-failure destination, as AWS documents it. */
function awsRecord(overrides: { condition?: string; approximateInvokeCount?: number; requestPayload?: unknown; responsePayload?: unknown } = {}) {
  return {
    version: '1.0',
    timestamp: '2026-05-01T11:59:03.568Z',
    requestContext: {
      requestId: 'e4b46cbf-b738-xmpl-8880-a18cdf61200e',
      functionArn: FUNCTION_ARN,
      condition: overrides.condition ?? 'RetriesExhausted',
      approximateInvokeCount: overrides.approximateInvokeCount ?? 3,
    },
    requestPayload: 'requestPayload' in overrides ? overrides.requestPayload : s3Event(),
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    ...('responsePayload' in overrides
      ? overrides.responsePayload === undefined
        ? {}
        : { responsePayload: overrides.responsePayload }
      : {
          responsePayload: {
            errorType: 'AWS.SimpleQueueService.NonExistentQueue',
            errorMessage: 'The specified queue does not exist.',
            trace: ['AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist.', '    at de_QueueDoesNotExistRes (/var/task/index.mjs:1:1)'],
          },
        }),
  };
}

const outcomesOf = (record: unknown) => splitFailedOutcomes(parseSplitterFailure(record), AT);

describe('Function: splitFailedOutcomes', () => {
  it('Should fail the clip the event names, pinned to its version, naming the condition and the last error', () => {
    const { outcomes, unusable } = outcomesOf(awsRecord());
    expect(unusable).toStrictEqual([]);
    expect(outcomes).toStrictEqual([
      {
        v: 1,
        status: 'failed',
        clip: { bucket: 'clips', key: 'incoming/my clip.mp4', etag: '0123abcd', size: 3_145_728, versionId: 'v-7' },
        attempts: 3,
        reason: {
          code: 'SPLIT_FAILED',
          message: 'the splitter failed on every attempt (RetriesExhausted, 3 attempts): AWS.SimpleQueueService.NonExistentQueue: The specified queue does not exist.',
        },
        droppedAt: DROPPED.toISOString(),
        at: AT.toISOString(),
      },
    ]);
    // What the finalizer will accept, field for field.
    expect(parseOutcomeMessage(JSON.stringify(outcomes[0]))).toStrictEqual(outcomes[0]);
  });

  it('Should say the event expired when Lambda gave up on its age, with no error to report', () => {
    const { outcomes } = outcomesOf(awsRecord({ condition: 'EventAgeExceeded', approximateInvokeCount: 0, responsePayload: undefined }));
    expect(outcomes.map((o) => [o.attempts, o.reason])).toStrictEqual([
      [0, { code: 'SPLIT_FAILED', message: 'its S3 event expired before the splitter could handle it (EventAgeExceeded, 0 attempts): no error was reported' }],
    ]);
  });

  it('Should keep URL queries, control characters and excess length out of the receipt', () => {
    const errorMessage = `PUT https://upload.xboxlive.com/clips/1?uploadId=SECRET-UPLOAD-ID&x=1 failed\n\tat ${'x'.repeat(1000)}`;
    const [outcome] = outcomesOf(awsRecord({ responsePayload: { errorType: 'Error', errorMessage } })).outcomes;
    expect(outcome!.reason!.message).not.toContain('SECRET-UPLOAD-ID');
    expect(outcome!.reason!.message).toMatch(/^the splitter failed on every attempt \(RetriesExhausted, 3 attempts\): Error: PUT https:\/\/upload\.xboxlive\.com\/clips\/1 failed at x+…$/);
    expect(outcome!.reason!.message).not.toMatch(/[\n\t]/);
  });

  it('Should name a condition it does not know, and take a payload that is no error object', () => {
    const [outcome] = outcomesOf(awsRecord({ condition: 'SomethingNew', approximateInvokeCount: 1, responsePayload: 'boom' })).outcomes;
    expect(outcome!.reason).toStrictEqual({ code: 'SPLIT_FAILED', message: 'Lambda gave up on the splitter (SomethingNew, 1 attempt): no error was reported' });
  });

  it('Should fail every ObjectCreated record of the event and describe the others', () => {
    const created = s3Event('incoming/a.mp4').Records[0]!;
    const removed = { ...s3Event('incoming/b.mp4').Records[0]!, eventName: 'ObjectRemoved:Delete' };
    const { outcomes, unusable } = outcomesOf(awsRecord({ requestPayload: { Records: [created, removed] } }));
    expect(outcomes.map((o) => o.clip.key)).toStrictEqual(['incoming/a.mp4']);
    expect(unusable).toStrictEqual(['event ObjectRemoved:Delete is not ObjectCreated']);
  });

  it.each([
    ['an s3:TestEvent', s3TestEvent('clips'), 'the event is an s3:TestEvent'],
    ['no S3 event at all', { detail: {} }, 'event is not an S3 notification (no Records array): an object with keys [detail]'],
  ])('Should fail no clip for %s', (_name, requestPayload, problem) => {
    expect(outcomesOf(awsRecord({ requestPayload }))).toStrictEqual({ outcomes: [], unusable: [problem] });
  });
});

describe('Function: parseSplitterFailure / asSplitterFailureBody', () => {
  it('Should tell a Lambda failure record from a block message or anything else', () => {
    const record = awsRecord();
    expect(asSplitterFailureBody(JSON.stringify(record))).toStrictEqual(record);
    expect(asSplitterFailureBody(JSON.stringify({ v: 1, clip: {} }))).toBeUndefined();
    expect(asSplitterFailureBody('not json')).toBeUndefined();
    expect(asSplitterFailureBody('null')).toBeUndefined();
  });

  it('Should refuse a record whose fields have the wrong types, with a MessageError', () => {
    const bad = { ...awsRecord(), requestContext: { condition: 42 } };
    expect(() => parseSplitterFailure(bad)).toThrow(MessageError);
    expect(() => parseSplitterFailure(bad)).toThrow(/^splitter failure record: .*condition/);
  });
});

describe('Function: asyncFailureRecord (local stand-in for Lambda)', () => {
  it('Should build a record the dead-letter consumer reads like an AWS one', () => {
    const event = s3Event();
    const record = asyncFailureRecord(event, new Error('SQS is down'), { awsRequestId: 'req-1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:splitter', attempts: 3 }, AT);
    expect(record).toMatchObject({
      version: '1.0',
      timestamp: AT.toISOString(),
      requestContext: { requestId: 'req-1', functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:splitter:$LATEST', condition: 'RetriesExhausted', approximateInvokeCount: 3 },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: { errorType: 'Error', errorMessage: 'SQS is down' },
    });
    expect(record.responsePayload.trace[0]).toBe('Error: SQS is down');
    const [outcome] = outcomesOf(JSON.parse(JSON.stringify(record))).outcomes;
    expect(outcome!.reason!.message).toBe('the splitter failed on every attempt (RetriesExhausted, 3 attempts): Error: SQS is down');
  });

  it('Should report a timeout as the runtime does', () => {
    const record = asyncFailureRecord(s3Event(), new LambdaTimeoutError(30), { awsRequestId: 'r', invokedFunctionArn: 'arn:x', attempts: 3 });
    expect(record.responsePayload).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 30.00 seconds' });
  });
});

describe('Function: settleDeadLetterMessage', () => {
  function deps(sendOutcome: RelayQueues['sendOutcome'] = async () => {}) {
    const lines: Array<{ level: string; message: string; fields: LogFields }> = [];
    const at = (level: string) => (message: string, ...fields: LogFields[]) => lines.push({ level, message, fields: Object.assign({}, ...fields) });
    const logger: RelayLogger = { debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
    const sent: OutcomeMessage[] = [];
    return {
      lines,
      sent,
      deps: {
        logger,
        config: { maxAttempts: 8 },
        now: () => AT,
        queues: {
          async sendOutcome(outcome: OutcomeMessage) {
            await sendOutcome(outcome);
            sent.push(outcome);
          },
        },
      },
    };
  }

  const block: BlockMessage = {
    v: BLOCK_MESSAGE_VERSION,
    clip: { bucket: 'clips', key: 'incoming/b.mp4', etag: 'e', size: 10 },
    ticket: { uploadUri: 'https://upload.xboxlive.com/clips/1?uploadId=x', uploadId: 'x' },
    blockSize: 10,
    blockNum: 0,
    start: 0,
    end: 10,
    droppedAt: DROPPED.toISOString(),
    plannedAt: DROPPED.toISOString(),
  };

  it('Should fail the clips of a splitter failure record (SPLIT_FAILED) and log each at ERROR', async () => {
    const { deps: d, sent, lines } = deps();
    await expect(settleDeadLetterMessage({ messageId: 'm1', body: JSON.stringify(awsRecord()), receiveCount: 1 }, d)).resolves.toBe(1);
    expect(sent).toStrictEqual(outcomesOf(awsRecord()).outcomes);
    expect(lines).toMatchObject([
      { level: 'ERROR', message: 'splitter gave up on clip', fields: { bucket: 'clips', key: 'incoming/my clip.mp4', functionArn: FUNCTION_ARN, condition: 'RetriesExhausted', attempts: 3, reason: { code: 'SPLIT_FAILED' } } },
    ]);
  });

  it('Should still fail a dead-lettered block (DEAD_LETTERED), with the deliveries the redrive policy allowed as its attempts', async () => {
    const { deps: d, sent, lines } = deps();
    // The DLQ record's count goes on from the source queue's (moto: 9 on the first DLQ receive after 8).
    await settleDeadLetterMessage({ messageId: 'm2', body: JSON.stringify(block), receiveCount: 9 }, d);
    expect(sent).toMatchObject([{ status: 'failed', clip: block.clip, attempts: 8, reason: { code: 'DEAD_LETTERED' }, uploadUri: 'https://upload.xboxlive.com/clips/1' }]);
    expect(lines).toMatchObject([{ level: 'ERROR', message: 'block dead-lettered', fields: { receiveCount: 9 } }]);
  });

  it('Should drop a record that names no clip, and a malformed one, logging why', async () => {
    const { deps: d, sent, lines } = deps();
    await expect(settleDeadLetterMessage({ messageId: 'm3', body: JSON.stringify(awsRecord({ requestPayload: s3TestEvent('clips') })), receiveCount: 1 }, d)).resolves.toBe(0);
    await expect(settleDeadLetterMessage({ messageId: 'm4', body: JSON.stringify({ ...awsRecord(), requestContext: 'x' }), receiveCount: 1 }, d)).resolves.toBe('dropped');
    expect(sent).toStrictEqual([]);
    expect(lines).toMatchObject([
      { level: 'ERROR', message: 'splitter failure names no clip', fields: { problem: 'the event is an s3:TestEvent', condition: 'RetriesExhausted' } },
      { level: 'ERROR', message: 'block message dropped', fields: { messageId: 'm4', reason: { code: 'MESSAGE_INVALID', message: expect.stringMatching(/^splitter failure record: /) } } },
    ]);
  });

  it('Should throw when the outcome cannot be sent, so SQS delivers the record again', async () => {
    const { deps: d } = deps(async () => {
      throw new Error('SQS unavailable');
    });
    await expect(settleDeadLetterMessage({ messageId: 'm5', body: JSON.stringify(awsRecord()), receiveCount: 1 }, d)).rejects.toThrow('SQS unavailable');
  });
});
