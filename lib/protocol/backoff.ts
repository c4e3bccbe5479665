import { MAX_REDELIVERY_DELAY_MS } from './limits.ts';

/**
 * How long SQS should hide a block before its next attempt: the service's Retry-After when it
 * sent one, else "full jitter", random in [0, min(cap, base * 2^(receiveCount - 1))]; never
 * longer than SQS can hide a message ({@link MAX_REDELIVERY_DELAY_MS}).
 */
export function retryDelayMs(input: {
  receiveCount: number;
  baseMs: number;
  capMs: number;
  retryAfterMs?: number | undefined;
  random?: (() => number) | undefined;
}): number {
  if (input.retryAfterMs !== undefined) return Math.min(input.retryAfterMs, MAX_REDELIVERY_DELAY_MS);
  const exponent = Math.max(0, input.receiveCount - 1);
  const ceiling = Math.min(input.capMs, MAX_REDELIVERY_DELAY_MS, input.baseMs * 2 ** Math.min(exponent, 40));
  return Math.floor((input.random ?? Math.random)() * ceiling);
}
