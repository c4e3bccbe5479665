import { ClipRelayError, describeError, failureReason, type FailureReason } from './errors.ts';
import { MAX_REDELIVERY_DELAY_MS } from './limits.ts';
import type { PutAnswer } from './put-answer.ts';

/** What the relay does with one PUT's answer. */
export type Verdict =
  | { kind: 'accepted' }
  | { kind: 'committed' }
  | { kind: 'redirect'; location: string }
  | { kind: 'refresh-token' }
  /** A 401 after the token was fetched again: the clip ends TOKEN_REJECTED at once. */
  | { kind: 'token-rejected' }
  /** `holdClip`: the service rate-limited the caller (429), so the clip's other blocks wait too. */
  | { kind: 'recoverable'; retryAfterMs?: number; holdClip?: true }
  | { kind: 'permanent' }
  | { kind: 'ambiguous-after-commit' }
  /** A 409/410 once the upload is known committed: this block's PUT is moot, not a failure. */
  | { kind: 'already-committed' };

const RECOVERABLE = new Set([408, 429, 500, 502, 503, 504]);
const REDIRECT = new Set([301, 302, 307, 308]);

/** Parses Retry-After (delta-seconds or an HTTP date) into milliseconds from `now`, capped at the longest redelivery delay. */
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
  return Math.min(ms, MAX_REDELIVERY_DELAY_MS);
}

/**
 * The one classification policy (docs/protocol.md, "The answers"): every answer and every transport
 * error maps to exactly one verdict. `retried` says this block was delivered before and that
 * delivery ended in a retry (no answer, a recoverable answer, or the invocation's deadline):
 * SQS keeps no more history than the receive count, so that is the evidence there is; then a
 * 409/410 may mean the upload already committed. `committed` says the upload is known committed
 * (another block got the 201, or the receipt says so): then a 409/410, even on a block's first
 * delivery (an SQS duplicate, a block still in flight at the commit), is no failure. `tokenRefreshed` says this PUT already carried
 * a token fetched again after a 401: a 401 to it (a new token or the same one again) ends the
 * clip TOKEN_REJECTED at once, since retrying through SQS with the same token source only burns
 * deliveries for minutes to hours. So a block gets at most 2 PUTs with a refused token.
 */
export function classifyAnswer(answer: PutAnswer, context: { retried: boolean; tokenRefreshed?: boolean; committed?: boolean; now: number }): Verdict {
  if (answer.kind === 'transport') return { kind: 'recoverable' };
  const { status } = answer;
  if (status === 202) return { kind: 'accepted' };
  if (status === 200 || status === 201) return { kind: 'committed' };
  if (REDIRECT.has(status)) return answer.location ? { kind: 'redirect', location: answer.location } : { kind: 'permanent' };
  if (status === 401) return context.tokenRefreshed ? { kind: 'token-rejected' } : { kind: 'refresh-token' };
  if (RECOVERABLE.has(status)) {
    const retryAfterMs = parseRetryAfter(answer.retryAfter, context.now);
    return {
      kind: 'recoverable',
      ...(retryAfterMs !== undefined && { retryAfterMs }),
      // Xbox Live rate-limits per user and title: the whole clip waits, not just the block told.
      ...(status === 429 && { holdClip: true as const }),
    };
  }
  if ((status === 409 || status === 410) && context.committed) return { kind: 'already-committed' };
  if ((status === 409 || status === 410) && context.retried) return { kind: 'ambiguous-after-commit' };
  // 501 and 505 say the server cannot ever do this; other 5xx are worth another try.
  if (status >= 500 && status !== 501 && status !== 505) return { kind: 'recoverable' };
  return { kind: 'permanent' };
}

/** What the relay does with an error thrown while it planned a clip or sent a block. */
export type FailureVerdict =
  /** The clip was overwritten: the new version has an event and a receipt of its own; this work is moot. */
  | { kind: 'superseded' }
  /** A passing failure (S3, SQS, the parameter store, no token yet): deliver the work again. */
  | { kind: 'retry'; message: string }
  /** The relay refuses the clip: it ends with a failed receipt giving `reason`. */
  | { kind: 'fail'; reason: FailureReason };

/**
 * The one failure policy, beside {@link classifyAnswer}: every error maps to exactly one verdict.
 * Only the relay's own refusals end a clip; anything foreign is assumed to pass.
 */
export function classifyFailure(error: unknown): FailureVerdict {
  if (!(error instanceof ClipRelayError)) return { kind: 'retry', message: describeError(error).message };
  switch (error.code) {
    case 'CLIP_CHANGED':
      return { kind: 'superseded' };
    case 'RETRY_LATER':
    case 'TOKEN_UNAVAILABLE':
      return { kind: 'retry', message: error.message };
    default:
      return { kind: 'fail', reason: failureReason(error) };
  }
}
