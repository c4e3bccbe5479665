import { randomUUID } from 'node:crypto';
import { invokeWithTimeout, type LambdaHandler } from './invoke-with-timeout.ts';
import { createLambdaContext } from './lambda-context.ts';

/** How to run one asynchronous ("Event" type) invocation, as S3 notifications invoke Lambda. */
export interface AsyncInvocationOptions<TEvent> {
  functionName: string;
  functionTimeoutSeconds: number;
  handler: LambdaHandler<TEvent>;
  /** Region in the context's ARN; default `us-east-1`. */
  region?: string | undefined;
  memorySize?: number | undefined;
  /** Retries after a failed attempt, 0–2 like `MaximumRetryAttempts`; default 2. */
  maximumRetryAttempts?: number | undefined;
  /** Wait before the first retry, doubled for the second; default 100 ms (AWS waits about 1 and 2 minutes). */
  retryDelayMs?: number | undefined;
  /**
   * Called once the event is given up on, with the last attempt's error and what Lambda would put
   * into an on-failure destination's record about it. Awaited: the invocation ends after it.
   */
  onInvocationError?: ((error: unknown, event: TEvent, failure: AsyncInvocationFailure) => unknown) | undefined;
  /** Aborting cancels the retries still waiting; the event then counts as failed. */
  signal?: AbortSignal | undefined;
}

/** What Lambda knows about an event it gave up on (the `requestContext` of its failure record). */
export interface AsyncInvocationFailure {
  /** The request id every attempt shared. */
  awsRequestId: string;
  /** The function's ARN as the attempts were invoked. */
  invokedFunctionArn: string;
  /** Attempts made, the first included. */
  attempts: number;
}

/** How an asynchronous invocation ended, and what it took. */
export interface AsyncInvocationResult {
  status: 'succeeded' | 'failed';
  attempts: number;
  /** Attempts that threw (or returned something that cannot be serialised). */
  errors: number;
  /** Attempts that ran past the function timeout. */
  timeouts: number;
  /** The last attempt's error when `status` is `failed`. */
  error?: unknown;
}

/**
 * Invokes `handler` the way Lambda handles an asynchronous invocation: the result is discarded, and a
 * failed or timed-out attempt is retried up to `maximumRetryAttempts` times with the same event and the
 * same `awsRequestId`, after which the failure is reported through `onInvocationError`.
 */
export async function invokeAsync<TEvent>(options: AsyncInvocationOptions<TEvent>, event: TEvent): Promise<AsyncInvocationResult> {
  const maximumRetryAttempts = options.maximumRetryAttempts ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 100;
  if (!Number.isInteger(maximumRetryAttempts) || maximumRetryAttempts < 0 || maximumRetryAttempts > 2) {
    throw new RangeError(`maximumRetryAttempts must be 0, 1 or 2, got ${maximumRetryAttempts}`);
  }
  const awsRequestId = randomUUID();
  const result: AsyncInvocationResult = { status: 'failed', attempts: 0, errors: 0, timeouts: 0 };
  let invokedFunctionArn = '';
  for (;;) {
    const context = createLambdaContext({
      functionName: options.functionName,
      timeoutSeconds: options.functionTimeoutSeconds,
      memorySize: options.memorySize,
      region: options.region,
      awsRequestId,
    });
    result.attempts += 1;
    invokedFunctionArn = context.invokedFunctionArn;
    // Each attempt gets the event as freshly deserialised JSON, so one attempt's mutations never leak into the next.
    const outcome = await invokeWithTimeout(options.handler, structuredClone(event), context, options.functionTimeoutSeconds);
    if (outcome.status === 'succeeded') {
      result.status = 'succeeded';
      return result;
    }
    if (outcome.status === 'timed-out') result.timeouts += 1;
    else result.errors += 1;
    result.error = outcome.error;
    const retriesDone = result.attempts - 1;
    if (retriesDone >= maximumRetryAttempts || !(await sleepUnlessAborted(retryDelayMs * 2 ** retriesDone, options.signal))) {
      await options.onInvocationError?.(outcome.error, event, { awsRequestId, invokedFunctionArn, attempts: result.attempts });
      return result;
    }
  }
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` aborts. */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
