import type { ClipStore } from '../aws/clip-store.ts';
import type { RelayQueues } from '../aws/queues.ts';
import type { TokenProvider } from '../aws/token-provider.ts';
import type { UploadHolds } from '../aws/upload-holds.ts';
import { heldForMs } from '../protocol/upload-hold.ts';
import type { RelayConfig } from '../runtime/config.ts';
import { ClipRelayError, describeError, RetryLaterError, TokenRejectedError, UploadTargetRefusedError, type FailureReason } from '../protocol/errors.ts';
import { afterUnauthorized } from '../protocol/token-rejection.ts';
import { clipId, uploadIdHash } from '../protocol/correlation.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { noMetrics, type RelayMetrics } from '../runtime/metrics.ts';
import { blockOutcome } from '../protocol/block-outcome.ts';
import type { BlockMessage, OutcomeMessage } from '../protocol/messages.ts';
import type { Receipt } from '../protocol/receipt.ts';
import { receiptKey, sameUpload } from '../protocol/receipt.ts';
import { retryDelayMs } from '../protocol/backoff.ts';
import { classifyAnswer, type Verdict } from '../protocol/classify.ts';
import type { UploadDispatcher } from '../http/http.ts';
import { answerSummary, type PutAnswer } from '../protocol/put-answer.ts';
import { putBlock } from '../http/put-block.ts';
import { blockUrl, checkUploadTarget } from '../protocol/upload-target.ts';

/** Most Location hops one block follows. */
export const MAX_REDIRECTS = 3;

/** What the fan-out needs; the local stack passes local ones. */
export interface FanOutDeps {
  clips: ClipStore;
  queues: RelayQueues;
  tokens: TokenProvider;
  dispatcher: UploadDispatcher;
  config: Pick<
    RelayConfig,
    'allowedHosts' | 'serviceVersion' | 'maxAttempts' | 'backoffBaseMs' | 'backoffCapMs' | 'receiptsPrefix' | 'defaultTokenRef'
  >;
  logger: RelayLogger;
  metrics?: RelayMetrics;
  /**
   * Per invocation: clips backing off after a 429, by clipId, until when (epoch ms). Xbox Live
   * rate-limits per user and title, so the whole clip waits, not just the block that was told.
   */
  clipBackoff?: Map<string, number>;
  /** Per invocation: clips ended TOKEN_REJECTED by one of their blocks; their other blocks stop. */
  rejectedClips?: Set<string>;
  /** Holds on uploads after a 429, shared by every invocation (S3 beside the receipts). */
  holds?: UploadHolds;
  now?: () => number;
  random?: () => number;
}

/** This delivery of a block message, as SQS made it. */
export interface Delivery {
  receiveCount: number;
  receiptHandle: string;
  signal?: AbortSignal;
}

/** How one block ended in this delivery (a recoverable failure throws RetryLaterError instead). */
export type BlockResult = 'accepted' | 'committed' | 'failed' | 'unconfirmed' | 'skipped';

/** A final answer: redirects and 401s are dealt with inside {@link putFollowing}. */
type FinalVerdict = Exclude<Verdict, { kind: 'redirect' } | { kind: 'refresh-token' }>;
type Settled = { verdict: FinalVerdict; answer: PutAnswer };

/** The upload is held after a 429 for `waitMs` more: the block goes back to SQS until then, unsent. */
class UploadHeld extends RetryLaterError {
  readonly waitMs: number;
  constructor(waitMs: number) {
    super(`the upload is held for ${waitMs} ms after a 429 from the transfer service`);
    this.waitMs = waitMs;
  }
}

/** How long this block must still wait under a hold on its upload (this invocation's or any other's). */
async function heldForMsNow(message: BlockMessage, deps: FanOutDeps): Promise<number | undefined> {
  const now = (deps.now ?? Date.now)();
  const local = deps.clipBackoff?.get(clipId(message.clip.bucket, message.clip.key));
  if (local !== undefined && local > now) return local - now;
  if (deps.holds === undefined) return undefined;
  const hold = await deps.holds.read(message.clip.bucket, message.clip.key);
  const waitMs = heldForMs(hold, uploadIdHash(message.uploadId), now);
  if (waitMs !== undefined) deps.clipBackoff?.set(clipId(message.clip.bucket, message.clip.key), now + waitMs);
  return waitMs;
}

/**
 * True when this block no longer needs sending: the clip (this version, this session) is committed, or it
 * ended failed/unconfirmed after the block was planned. A block planned later than such a
 * receipt belongs to a redrive, which may still turn the clip into a commit.
 */
async function clipAlreadySettled(message: BlockMessage, deps: FanOutDeps): Promise<boolean> {
  const stored = await deps.clips.read(message.clip.bucket, receiptKey(deps.config.receiptsPrefix, message.clip.key));
  if (stored === undefined) return false;
  const receipt = JSON.parse(stored.body) as Receipt;
  if (!sameUpload(receipt, { etag: message.clip.etag, uploadIdHash: uploadIdHash(message.uploadId) })) return false;
  return receipt.status === 'committed' || receipt.decidedAt >= message.plannedAt;
}

/**
 * PUTs one block and follows what the answer calls for: redirects (re-opening the source,
 * since a stream cannot be sent twice), one token refresh after a 401, the commit outcome
 * after a 201. Returns how the block ended; throws RetryLaterError, after setting the back-off
 * as the message's visibility, when SQS should deliver it again.
 */
export async function sendBlock(message: BlockMessage, delivery: Delivery, deps: FanOutDeps): Promise<BlockResult> {
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? noMetrics;
  const logFields = blockLogFields(message, delivery);
  const outcome = (status: OutcomeMessage['status'], details: Pick<OutcomeMessage, 'reason' | 'answer'>): OutcomeMessage =>
    blockOutcome(message, status, { attempts: delivery.receiveCount, at: new Date(now()), ...details });
  const end = async (status: 'failed' | 'unconfirmed', reason: FailureReason, answer?: PutAnswer): Promise<BlockResult> => {
    await deps.queues.sendOutcome(outcome(status, { reason, ...(answer !== undefined && { answer: answerSummary(answer) }) }));
    deps.logger.warn(`block ${status}`, { ...logFields, reason });
    return status;
  };

  const id = clipId(message.clip.bucket, message.clip.key);
  if (delivery.signal?.aborted) throw new RetryLaterError('the invocation reached its deadline before this block started');
  if (deps.rejectedClips?.has(id)) return 'skipped';
  const heldUntil = deps.clipBackoff?.get(id);
  if (heldUntil !== undefined && heldUntil > now()) {
    return retryOrFail({ code: 'RETRIES_EXHAUSTED', message: 'the clip is backing off after a 429 from the transfer service' }, undefined, heldUntil - now());
  }

  let settled: Settled;
  try {
    if (await clipAlreadySettled(message, deps)) return 'skipped';
    settled = await putFollowing(message, delivery, deps);
  } catch (error) {
    if (error instanceof UploadHeld) return retryOrFail({ code: 'RETRIES_EXHAUSTED', message: error.message }, undefined, error.waitMs);
    if (error instanceof ClipRelayError && error.code === 'CLIP_CHANGED') {
      // Overwritten: the new version has an event and a receipt of its own; this one is moot.
      deps.logger.info('block superseded by a newer version of the clip', logFields);
      return 'skipped';
    }
    if (!(error instanceof ClipRelayError) || error.code === 'TOKEN_UNAVAILABLE') return retryOrFail(describeError(error));
    if (error instanceof TokenRejectedError) deps.rejectedClips?.add(id);
    return end('failed', describeError(error));
  }
  const { verdict, answer } = settled;
  if (verdict.kind === 'accepted' || verdict.kind === 'committed') {
    metrics.addMetric('BlocksSent', 'Count', 1);
    metrics.addMetric('BytesSent', 'Bytes', message.end - message.start);
  }
  switch (verdict.kind) {
    case 'accepted':
      return 'accepted';
    case 'committed':
      await deps.queues.sendOutcome(outcome('committed', { answer: answerSummary(answer) }));
      deps.logger.info('clip committed', logFields);
      return 'committed';
    case 'ambiguous-after-commit':
      return end('unconfirmed', {
        code: 'COMMIT_UNCONFIRMED',
        message: `a retried block got ${answerSummary(answer).status} after an earlier attempt ended without a definitive answer: the upload probably committed`,
      }, answer);
    case 'permanent':
      return end('failed', { code: 'SERVICE_REJECTED', message: `the transfer service answered ${describeAnswer(answer)}` }, answer);
    case 'recoverable': {
      const rateLimited = answer.kind === 'response' && answer.status === 429;
      return retryOrFail({ code: 'RETRIES_EXHAUSTED', message: `the transfer service answered ${describeAnswer(answer)}` }, answer, verdict.retryAfterMs, rateLimited);
    }
  }

  async function retryOrFail(reason: FailureReason, answer?: PutAnswer, retryAfterMs?: number, wholeClip = false): Promise<BlockResult> {
    // Past the deadline the handler has already reported this record for redelivery.
    if (delivery.signal?.aborted) throw new RetryLaterError(`the invocation reached its deadline: ${reason.message}`);
    if (delivery.receiveCount >= deps.config.maxAttempts) {
      return end('failed', { code: 'RETRIES_EXHAUSTED', message: `gave up after ${delivery.receiveCount} attempts; last: ${reason.message}` }, answer);
    }
    const delayMs = retryDelayMs({
      receiveCount: delivery.receiveCount,
      baseMs: deps.config.backoffBaseMs,
      capMs: deps.config.backoffCapMs,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
      ...(deps.random !== undefined && { random: deps.random }),
    });
    if (wholeClip) {
      // Xbox Live rate-limits the caller: hold every block of this upload, in every invocation.
      deps.clipBackoff?.set(id, now() + delayMs);
      const hold = await deps.holds?.hold(message.clip.bucket, message.clip.key, uploadIdHash(message.uploadId), now(), delayMs);
      if (hold !== undefined) deps.logger.info('upload held after a 429', { ...logFields, heldSince: new Date(hold.since).toISOString(), heldUntil: new Date(hold.until).toISOString() });
    }
    await deps.queues.delayRedelivery(delivery.receiptHandle, delayMs / 1000);
    metrics.addMetric('Retries', 'Count', 1);
    deps.logger.info('block retry scheduled', { ...logFields, delayMs, reason: reason.message });
    throw new RetryLaterError(`block ${message.blockNum ?? 'single'} of ${message.clip.key}: ${reason.message}; retry in ${delayMs} ms`);
  }
}

/** The fields every log line about a block carries: enough to correlate, nothing secret. */
function blockLogFields(message: BlockMessage, delivery: Delivery) {
  return {
    clipId: clipId(message.clip.bucket, message.clip.key),
    key: message.clip.key,
    uploadIdHash: uploadIdHash(message.uploadId),
    blockNum: message.blockNum,
    attempt: delivery.receiveCount,
  };
}

function describeAnswer(answer: PutAnswer): string {
  if (answer.kind === 'transport') return `no answer (${answer.code})`;
  return [answer.status, answer.errorCode, answer.errorMessage].filter((part) => part !== undefined).join(' ');
}

/**
 * PUTs the block, following redirects and refreshing the token once, until an answer that is
 * not a redirect or a first 401.
 * @throws ClipRelayError (refused target, changed clip, too many redirects, no token, token rejected)
 */
async function putFollowing(message: BlockMessage, delivery: Delivery, deps: FanOutDeps): Promise<Settled> {
  const tokenRef = message.tokenRef ?? deps.config.defaultTokenRef;
  let target = checkUploadTarget(message.uploadUri, deps.config.allowedHosts);
  let authorization = await deps.tokens.authorization(tokenRef);
  let refreshed = false;
  let tokenChanged = false;
  for (let hops = 0; ; ) {
    const body = await deps.clips.openRange(message.clip, message.start, message.end, delivery.signal);
    // Checked last before the PUT, so a hold set meanwhile by another invocation still counts.
    const heldMs = await heldForMsNow(message, deps).catch((error: unknown) => {
      body.destroy();
      throw error;
    });
    if (heldMs !== undefined) {
      body.destroy();
      throw new UploadHeld(heldMs);
    }
    const url = blockUrl(target, message.uploadId, message.blockNum);
    const started = performance.now();
    const answer = await putBlock({
      dispatcher: deps.dispatcher,
      url,
      authorization,
      serviceVersion: deps.config.serviceVersion,
      body,
      contentLength: message.end - message.start,
      ...(delivery.signal !== undefined && { signal: delivery.signal }),
    });
    const durationMs = Math.round(performance.now() - started);
    const verdict = classifyAnswer(answer, { retried: delivery.receiveCount > 1, now: (deps.now ?? Date.now)() });
    deps.metrics?.addMetric('PutLatency', 'Milliseconds', durationMs);
    deps.logger.debug('block answered', {
      ...blockLogFields(message, delivery),
      status: answer.kind === 'response' ? answer.status : answer.code,
      verdict: verdict.kind,
      durationMs,
    });
    if (verdict.kind === 'redirect') {
      deps.metrics?.addMetric('Redirects', 'Count', 1);
      if (++hops > MAX_REDIRECTS) throw new ClipRelayError('TOO_MANY_REDIRECTS', `more than ${MAX_REDIRECTS} redirects for one block`);
      let next: string;
      try {
        next = new URL(verdict.location, url).href;
      } catch {
        throw new UploadTargetRefusedError('malformed', 'the redirect Location is not a URL');
      }
      target = checkUploadTarget(next, deps.config.allowedHosts);
      continue;
    }
    if (verdict.kind === 'refresh-token') {
      const next = afterUnauthorized({ refreshed, tokenChanged });
      if (next.kind === 'token-rejected') throw new TokenRejectedError(`${next.why} (token-ref ${tokenRef})`);
      refreshed = true;
      const refused = authorization;
      authorization = await deps.tokens.authorization(tokenRef, { forceFetch: true, replacing: refused });
      tokenChanged = authorization !== refused;
      continue;
    }
    return { verdict, answer };
  }
}
