import { MAX_RETRY_AFTER_MS } from './classify.ts';

/**
 * How long SQS should hide a block before its next attempt: the service's Retry-After when it
 * sent one, else "full jitter", random in [0, min(cap, base * 2^(receiveCount - 1))].
 */
export function retryDelayMs(input: {
  receiveCount: number;
  baseMs: number;
  capMs: number;
  retryAfterMs?: number;
  random?: () => number;
}): number {
  if (input.retryAfterMs !== undefined) return Math.min(input.retryAfterMs, MAX_RETRY_AFTER_MS);
  const exponent = Math.max(0, input.receiveCount - 1);
  const ceiling = Math.min(input.capMs, input.baseMs * 2 ** Math.min(exponent, 40));
  return Math.floor((input.random ?? Math.random)() * ceiling);
}
