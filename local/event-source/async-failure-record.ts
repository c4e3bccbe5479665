import type { AsyncInvocationFailure } from './async-invocation.ts';

/**
 * The record Lambda sends to an asynchronous invocation's on-failure destination (SQS, SNS,
 * EventBridge, Lambda) once it gives up on an event, in the shape AWS documents ("Retaining
 * records of asynchronous invocations"). Locally the condition is always `RetriesExhausted`:
 * the local runner has no event age limit.
 */
export interface AsyncFailureRecord<TEvent> {
  version: '1.0';
  timestamp: string;
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetriesExhausted' | 'EventAgeExceeded';
    approximateInvokeCount: number;
  };
  requestPayload: TEvent;
  responseContext: { statusCode: number; executedVersion: string; functionError: 'Unhandled' };
  responsePayload: { errorType: string; errorMessage: string; trace: string[] };
}

/**
 * Builds the on-failure record of an event `invokeAsync` gave up on, from the last attempt's
 * error: `errorType` is the error's name (`Sandbox.Timedout` for a timeout), `trace` its stack
 * lines, as the Node.js runtime reports an unhandled error.
 */
export function asyncFailureRecord<TEvent>(event: TEvent, error: unknown, failure: AsyncInvocationFailure, at: Date = new Date()): AsyncFailureRecord<TEvent> {
  const described =
    error instanceof Error
      ? { errorType: error.name, errorMessage: error.message, trace: (error.stack ?? '').split('\n').filter((line) => line.length > 0) }
      : { errorType: typeof error, errorMessage: String(error), trace: [] };
  return {
    version: '1.0',
    timestamp: at.toISOString(),
    requestContext: {
      requestId: failure.awsRequestId,
      // Unqualified invocations run $LATEST, and the record names it.
      functionArn: `${failure.invokedFunctionArn}:$LATEST`,
      condition: 'RetriesExhausted',
      approximateInvokeCount: failure.attempts,
    },
    requestPayload: event,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: described,
  };
}
