import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../../lib/protocol/backoff.ts';
import { MAX_REDELIVERY_DELAY_MS } from '../../../lib/protocol/limits.ts';

describe('Function: retryDelayMs', () => {
  it.each([
    [1, 0.5, 1000],
    [2, 0.5, 2000],
    [4, 0.999, 15_984],
    [10, 0.5, 30_000],
    [60, 1, 60_000],
  ])('Should draw full jitter for receive %i (random %d) → %i ms', (receiveCount, random, ms) => {
    expect(retryDelayMs({ receiveCount, baseMs: 2000, capMs: 60_000, random: () => random })).toBe(ms);
  });

  it('Should take the service Retry-After over the jitter, capped at the longest redelivery delay (11 h 45 min)', () => {
    expect(retryDelayMs({ receiveCount: 1, baseMs: 2000, capMs: 60_000, retryAfterMs: 90_000, random: () => 0 })).toBe(90_000);
    expect(retryDelayMs({ receiveCount: 1, baseMs: 2000, capMs: 60_000, retryAfterMs: 10 ** 9 })).toBe(MAX_REDELIVERY_DELAY_MS);
  });
});
