import { describe, expect, it } from 'vitest';
import { invokeWithTimeout, LambdaTimeoutError } from '../../../local/event-source/invoke-with-timeout.ts';
import { createLambdaContext } from '../../../local/event-source/lambda-context.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createLambdaContext', () => {
  it('fills in the fields Lambda provides', () => {
    const context = createLambdaContext({
      functionName: 'finalizer',
      timeoutSeconds: 30,
      memorySize: 512,
      region: 'eu-west-1',
      awsRequestId: 'req-1',
    });

    expect(context).toMatchObject({
      callbackWaitsForEmptyEventLoop: true,
      functionName: 'finalizer',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:finalizer',
      memoryLimitInMB: '512',
      awsRequestId: 'req-1',
      logGroupName: '/aws/lambda/finalizer',
      logStreamName: expect.stringMatching(/^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/),
    });
    expect(createLambdaContext({ functionName: 'f', timeoutSeconds: 1 }).awsRequestId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(() => context.done()).toThrow('not supported');
  });

  it('counts getRemainingTimeInMillis down from the timeout and stops at 0', async () => {
    const context = createLambdaContext({ functionName: 'f', timeoutSeconds: 1 });
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(990);

    await sleep(300);
    const later = context.getRemainingTimeInMillis();
    expect(later).toBeLessThanOrEqual(700);
    expect(later).toBeGreaterThan(550);

    await sleep(750);
    expect(context.getRemainingTimeInMillis()).toBe(0);
  });
});

describe('invokeWithTimeout', () => {
  const context = () => createLambdaContext({ functionName: 'f', timeoutSeconds: 1 });

  it('returns the result as the Lambda service sees it, after a JSON round trip', async () => {
    expect(await invokeWithTimeout(async () => undefined, {}, context(), 1)).toStrictEqual({ status: 'succeeded', result: null });
    expect(await invokeWithTimeout(async () => ({ at: new Date(0), skip: undefined }), {}, context(), 1)).toStrictEqual({
      status: 'succeeded',
      result: { at: '1970-01-01T00:00:00.000Z' },
    });
  });

  it('fails on a rejected promise, a synchronous throw, or an unserialisable result', async () => {
    const error = new Error('x');
    expect(await invokeWithTimeout(async () => Promise.reject(error), {}, context(), 1)).toStrictEqual({ status: 'failed', error });
    const throwsSync = (() => {
      throw error;
    }) as unknown as () => Promise<void>;
    expect(await invokeWithTimeout(throwsSync, {}, context(), 1)).toStrictEqual({ status: 'failed', error });
    expect(await invokeWithTimeout(async () => ({ n: 1n }), {}, context(), 1)).toMatchObject({ status: 'failed', error: expect.any(TypeError) });
  });

  it('stops waiting at the timeout and swallows a late rejection', async () => {
    const started = Date.now();
    const outcome = await invokeWithTimeout(
      async () => {
        await sleep(1200);
        throw new Error('too late to matter');
      },
      {},
      context(),
      1,
    );

    expect(outcome).toStrictEqual({ status: 'timed-out', error: new LambdaTimeoutError(1) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(Date.now() - started).toBeLessThan(1150);
    await sleep(300);
  });
});
