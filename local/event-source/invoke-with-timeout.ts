import type { Context } from 'aws-lambda';

/** Any async Lambda handler. */
export type LambdaHandler<TEvent, TResult = unknown> = (event: TEvent, context: Context) => Promise<TResult>;

/** The error Lambda reports when a function runs past its configured timeout. */
export class LambdaTimeoutError extends Error {
  override name = 'Sandbox.Timedout';
  readonly timeoutSeconds: number;

  constructor(timeoutSeconds: number) {
    super(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`);
    this.timeoutSeconds = timeoutSeconds;
  }
}

/** How one invocation ended, as the Lambda service sees it. */
export type InvocationOutcome =
  | { status: 'succeeded'; result: unknown }
  | { status: 'failed'; error: unknown }
  | { status: 'timed-out'; error: LambdaTimeoutError };

/**
 * Runs `handler` once and waits for it at most `timeoutSeconds`.
 *
 * A timed-out handler is not cancelled (nothing can cancel a promise); the runner just stops waiting
 * for it, like Lambda freezing the sandbox, and a later rejection is swallowed. The successful result
 * goes through a JSON round trip because that is all the Lambda service ever sees of it: `undefined`
 * becomes `null`, class instances become plain objects, and an unserialisable result fails the
 * invocation.
 */
export async function invokeWithTimeout<TEvent>(
  handler: LambdaHandler<TEvent>,
  event: TEvent,
  context: Context,
  timeoutSeconds: number,
): Promise<InvocationOutcome> {
  // The executor catches a handler that throws synchronously instead of returning a rejected promise.
  const running = new Promise<unknown>((resolve) => resolve(handler(event, context)));
  running.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timed-out'>((resolve) => {
    timer = setTimeout(() => resolve('timed-out'), timeoutSeconds * 1000);
  });
  try {
    const winner = await Promise.race([running.then((result) => ({ result })), timedOut]);
    if (winner === 'timed-out') {
      return { status: 'timed-out', error: new LambdaTimeoutError(timeoutSeconds) };
    }
    return { status: 'succeeded', result: toWireValue(winner.result) };
  } catch (error) {
    return { status: 'failed', error };
  } finally {
    clearTimeout(timer);
  }
}

function toWireValue(result: unknown): unknown {
  const json = JSON.stringify(result);
  return json === undefined ? null : JSON.parse(json);
}
