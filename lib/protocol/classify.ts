import type { PutAnswer } from './put-answer.ts';

/** What the relay does with one PUT's answer. */
export type Verdict =
  | { kind: 'accepted' }
  | { kind: 'committed' }
  | { kind: 'redirect'; location: string }
  | { kind: 'refresh-token' }
  | { kind: 'recoverable'; retryAfterMs?: number }
  | { kind: 'permanent' }
  | { kind: 'ambiguous-after-commit' };

/** Longest Retry-After the relay honours: SQS cannot hide a message for longer. */
export const MAX_RETRY_AFTER_MS = 12 * 60 * 60 * 1000;

const RECOVERABLE = new Set([408, 429, 500, 502, 503, 504]);
const REDIRECT = new Set([301, 302, 307, 308]);

/** Parses Retry-After (delta-seconds or an HTTP date) into milliseconds from `now`, capped at 12 h. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    // An HTTP date has a weekday and month name; Date.parse alone would take "-3" as a year.
    const date = /^[A-Za-z]{3},/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
    if (Number.isNaN(date)) return undefined;
    ms = Math.max(0, date - now);
  }
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}

/**
 * The one classification policy (PROTOCOL.md, "The answers"): every answer and every transport
 * error maps to exactly one verdict. `retried` says this block was delivered before and that
 * delivery ended in a retry (no answer, a recoverable answer, or the invocation's deadline):
 * SQS keeps no more history than the receive count, so that is the evidence there is; then a
 * 409/410 may mean the upload already committed.
 */
export function classifyAnswer(answer: PutAnswer, context: { retried: boolean; now: number }): Verdict {
  if (answer.kind === 'transport') return { kind: 'recoverable' };
  const { status } = answer;
  if (status === 202) return { kind: 'accepted' };
  if (status === 200 || status === 201) return { kind: 'committed' };
  if (REDIRECT.has(status)) return answer.location ? { kind: 'redirect', location: answer.location } : { kind: 'permanent' };
  if (status === 401) return { kind: 'refresh-token' };
  if (RECOVERABLE.has(status)) {
    const retryAfterMs = parseRetryAfter(answer.retryAfter, context.now);
    return retryAfterMs === undefined ? { kind: 'recoverable' } : { kind: 'recoverable', retryAfterMs };
  }
  if ((status === 409 || status === 410) && context.retried) return { kind: 'ambiguous-after-commit' };
  // 501 and 505 say the server cannot ever do this; other 5xx are worth another try.
  if (status >= 500 && status !== 501 && status !== 505) return { kind: 'recoverable' };
  return { kind: 'permanent' };
}
