import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/** Account id fauxqs uses in every ARN; the local runner pretends to live in the same account. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Inputs for {@link createLambdaContext}. */
export interface LambdaContextOptions {
  functionName: string;
  /** The function's configured timeout; `getRemainingTimeInMillis()` counts down from it. */
  timeoutSeconds: number;
  /** Defaults to 128, Lambda's default. */
  memorySize?: number | undefined;
  /** Defaults to `us-east-1`. */
  region?: string | undefined;
  /** Defaults to {@link LOCAL_ACCOUNT_ID}. */
  accountId?: string;
  /**
   * Defaults to a fresh UUID. Pass the previous one when re-invoking the same event: AWS keeps the
   * request id across the retries of an asynchronous invocation.
   */
  awsRequestId?: string;
}

/**
 * Builds the `context` object Lambda passes to a Node.js handler, for one invocation starting now.
 *
 * `getRemainingTimeInMillis()` is real: it counts down from `timeoutSeconds` using a monotonic clock
 * and stops at 0. The deprecated callback-style members (`done`, `fail`, `succeed`) throw, because the
 * local runner, like the nodejs24.x runtime, only supports async handlers.
 */
export function createLambdaContext(options: LambdaContextOptions): Context {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? LOCAL_ACCOUNT_ID;
  const deadline = performance.now() + options.timeoutSeconds * 1000;
  const unsupported = (name: string) => (): never => {
    throw new Error(`context.${name}() is not supported: return or throw from an async handler instead`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${options.functionName}`,
    memoryLimitInMB: String(options.memorySize ?? 128),
    awsRequestId: options.awsRequestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: logStreamName(new Date()),
    getRemainingTimeInMillis: () => Math.max(0, Math.round(deadline - performance.now())),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}

/** Same format as Lambda: `2024/05/01/[$LATEST]` followed by 32 hex characters. */
function logStreamName(now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}
