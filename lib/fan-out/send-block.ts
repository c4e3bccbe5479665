import type { ClipStore } from '../aws/clip-store.ts';
import type { RelayQueues } from '../aws/queues.ts';
import type { TokenProvider } from '../aws/token-provider.ts';
import type { UploadHolds } from '../aws/upload-holds.ts';
import { heldForMs } from '../protocol/upload-hold.ts';
import type { RelayConfig } from '../runtime/config.ts';
import { ClipRelayError, describeError, RetryLaterError, UploadTargetRefusedError, type FailureReason } from '../protocol/errors.ts';
import { MAX_REDIRECTS } from '../protocol/limits.ts';
import { clipId, uploadIdHash } from '../protocol/correlation.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { noMetrics, type RelayMetrics } from '../runtime/metrics.ts';
import { blockOutcome } from '../protocol/block-outcome.ts';
import type { BlockMessage, OutcomeMessage, OutcomeStatus } from '../protocol/messages.ts';
import { parseReceipt, receiptKey, sameUpload, type Receipt } from '../protocol/receipt.ts';
import { retryDelayMs } from '../protocol/backoff.ts';
import { classifyAnswer, classifyFailure, type Verdict } from '../protocol/classify.ts';
import type { UploadDispatcher } from '../http/http.ts';
import { answerSummary, type AnswerSummary, type PutAnswer } from '../protocol/put-answer.ts';
import { putBlock } from '../http/put-block.ts';
import { blockUrl, checkUploadTarget } from '../protocol/upload-target.ts';

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
   * Per invocation: uploads backing off after a 429, by {@link uploadRef}, until when (epoch ms).
   * Xbox Live rate-limits per user and title, so the whole upload waits, not just the block told.
   */
  clipBackoff?: Map<string, number>;
  /** Per invocation: uploads ({@link uploadRef}) ended TOKEN_REJECTED by one of their blocks; their other blocks stop. */
  rejectedClips?: Set<string>;
  /** Holds on uploads after a 429, shared by every invocation (S3 beside the receipts). */
  holds?: UploadHolds;
  /** Per invocation: uploads ({@link uploadRef}) a block of which got the commit (201) in this invocation. */
  committedClips?: Set<string>;
  /** Reads not memoized for the invocation: a receipt written after it began (the commit's). */
  uncachedClips?: ClipStore;
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

/** A final answer: redirects and a first 401 are followed inside {@link putFollowing}. */
type FinalVerdict = Exclude<Verdict, { kind: 'redirect' } | { kind: 'refresh-token' }>;
type Settled = { verdict: FinalVerdict; answer: PutAnswer; tokenChanged: boolean };

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
  const id = uploadRef(message);
  const local = deps.clipBackoff?.get(id);
  if (local !== undefined && local > now) return local - now;
  if (deps.holds === undefined) return undefined;
  const hold = await deps.holds.read(message.clip.bucket, message.clip.key);
  const waitMs = heldForMs(hold, uploadIdHash(message.ticket.uploadId), now);
  if (waitMs !== undefined) deps.clipBackoff?.set(id, now + waitMs);
  return waitMs;
}

/** This upload's receipt in `store`, or undefined: there is none, it is another upload's, or it is unreadable (`onUnreadable` is told). */
async function receiptOfUpload(message: BlockMessage, store: ClipStore, receiptsPrefix: string, onUnreadable: (error: unknown) => void = () => {}): Promise<Receipt | undefined> {
  const stored = await store.read(message.clip.bucket, receiptKey(receiptsPrefix, message.clip.key));
  if (stored === undefined) return undefined;
  let receipt: Receipt;
  try {
    receipt = parseReceipt(stored.body);
  } catch (error) {
    onUnreadable(error);
    return undefined;
  }
  return sameUpload(receipt, { etag: message.clip.etag, uploadIdHash: uploadIdHash(message.ticket.uploadId), droppedAt: message.droppedAt }) ? receipt : undefined;
}

/**
 * True when this block no longer needs sending: the clip (this version, this session) is committed, or it
 * ended failed/unconfirmed after the block was planned. A block planned later than such a
 * receipt belongs to a redrive, which may still turn the clip into a commit. A corrupt receipt
 * settles nothing: the block is sent, and the finalizer replaces that receipt.
 */
async function clipAlreadySettled(message: BlockMessage, deps: FanOutDeps): Promise<boolean> {
  const receipt = await receiptOfUpload(message, deps.clips, deps.config.receiptsPrefix, (error) =>
    deps.logger.warn('receipt unreadable: sending the block', { ...blockLogFields(message), reason: describeError(error) }));
  return receipt !== undefined && (receipt.status === 'committed' || receipt.decidedAt >= message.plannedAt);
}

/** Whether the upload is known committed: a block got the 201 in this invocation, or the receipt (read afresh) says so. */
async function uploadCommitted(message: BlockMessage, deps: FanOutDeps): Promise<boolean> {
  if (deps.committedClips?.has(uploadRef(message))) return true;
  return (await receiptOfUpload(message, deps.uncachedClips ?? deps.clips, deps.config.receiptsPrefix))?.status === 'committed';
}

/**
 * PUTs one block and does what the verdicts say: redirects and one token refresh are followed
 * inside {@link putFollowing}; an answer's verdict ({@link classifyAnswer}) or an error's
 * ({@link classifyFailure}) ends the block, or schedules its redelivery and throws
 * RetryLaterError. The decisions are those two functions'; this is the plumbing around them.
 */
export async function sendBlock(message: BlockMessage, delivery: Delivery, deps: FanOutDeps): Promise<BlockResult> {
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? noMetrics;
  const logFields = { ...blockLogFields(message), attempt: delivery.receiveCount };
  const outcome = (status: OutcomeStatus, details: { reason?: FailureReason; answer?: AnswerSummary }): OutcomeMessage =>
    blockOutcome(message, status, { attempts: delivery.receiveCount, at: new Date(now()), ...details });
  const end = async (status: 'failed' | 'unconfirmed', reason: FailureReason, answer?: PutAnswer): Promise<BlockResult> => {
    await deps.queues.sendOutcome(outcome(status, answer === undefined ? { reason } : { reason, answer: answerSummary(answer) }));
    deps.logger.warn(`block ${status}`, { ...logFields, reason });
    return status;
  };

  const id = uploadRef(message);
  if (delivery.signal?.aborted) throw new RetryLaterError('the invocation reached its deadline before this block started');
  if (deps.rejectedClips?.has(id)) return 'skipped';
  const heldUntil = deps.clipBackoff?.get(id);
  if (heldUntil !== undefined && heldUntil > now()) {
    return retryOrFail('the clip is backing off after a 429 from the transfer service', { retryAfterMs: heldUntil - now() });
  }

  let settled: Settled;
  try {
    if (await clipAlreadySettled(message, deps)) return 'skipped';
    settled = await putFollowing(message, delivery, deps);
  } catch (error) {
    if (error instanceof UploadHeld) return retryOrFail(error.message, { retryAfterMs: error.waitMs });
    const failure = classifyFailure(error);
    switch (failure.kind) {
      case 'superseded':
        deps.logger.info('block superseded by a newer version of the clip', logFields);
        return 'skipped';
      case 'retry':
        return retryOrFail(failure.message);
      case 'fail':
        return end('failed', failure.reason);
    }
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
      deps.committedClips?.add(id);
      await deps.queues.sendOutcome(outcome('committed', { answer: answerSummary(answer) }));
      deps.logger.info('clip committed', logFields);
      return 'committed';
    case 'ambiguous-after-commit':
      return end('unconfirmed', {
        code: 'COMMIT_UNCONFIRMED',
        message: `a retried block got ${answerSummary(answer).status} after an earlier attempt ended without a definitive answer: the upload probably committed`,
      }, answer);
    case 'already-committed':
      deps.logger.info(`block answered ${describeAnswer(answer)} after the upload committed: nothing to do`, logFields);
      return 'skipped';
    case 'token-rejected': {
      const ended = await end('failed', {
        code: 'TOKEN_REJECTED',
        message: `the transfer service answered ${describeAnswer(answer)} to the token of token-ref ${message.ticket.tokenRef ?? deps.config.defaultTokenRef}, and again after a refresh${settled.tokenChanged ? '' : ' that returned the same token'}`,
      }, answer);
      // Only once the failed outcome is on its way: the upload's other blocks are then dropped.
      deps.rejectedClips?.add(id);
      return ended;
    }
    case 'permanent':
      return end('failed', { code: 'SERVICE_REJECTED', message: `the transfer service answered ${describeAnswer(answer)}` }, answer);
    case 'recoverable':
      return retryOrFail(`the transfer service answered ${describeAnswer(answer)}`, { answer, retryAfterMs: verdict.retryAfterMs, holdClip: verdict.holdClip });
  }

  async function retryOrFail(why: string, options: { answer?: PutAnswer | undefined; retryAfterMs?: number | undefined; holdClip?: boolean | undefined } = {}): Promise<BlockResult> {
    const { answer, retryAfterMs, holdClip } = options;
    // Past the deadline the handler has already reported this record for redelivery.
    if (delivery.signal?.aborted) throw new RetryLaterError(`the invocation reached its deadline: ${why}`);
    if (delivery.receiveCount >= deps.config.maxAttempts) {
      return end('failed', { code: 'RETRIES_EXHAUSTED', message: `gave up after ${delivery.receiveCount} attempts; last: ${why}` }, answer);
    }
    const delayMs = retryDelayMs({
      receiveCount: delivery.receiveCount,
      baseMs: deps.config.backoffBaseMs,
      capMs: deps.config.backoffCapMs,
      retryAfterMs,
      random: deps.random,
    });
    if (holdClip) {
      // Xbox Live rate-limits the caller: hold every block of this upload, in every invocation.
      deps.clipBackoff?.set(id, now() + delayMs);
      try {
        const hold = await deps.holds?.hold(message.clip.bucket, message.clip.key, uploadIdHash(message.ticket.uploadId), now(), delayMs);
        // recordedAt: from then on every invocation's check before a PUT sees the hold.
        if (hold !== undefined) deps.logger.info('upload held after a 429', { ...logFields, heldSince: hold.since, heldUntil: hold.until, recordedAt: Date.now() });
      } catch (error) {
        // The shared hold is advice to the other invocations; this block's own back-off below
        // still stands, so a failed write must not cost it a visibility timeout.
        deps.logger.error('upload hold not recorded', { ...logFields, reason: describeError(error) });
      }
    }
    await deps.queues.delayRedelivery(delivery.receiptHandle, delayMs / 1000);
    metrics.addMetric('Retries', 'Count', 1);
    deps.logger.info('block retry scheduled', { ...logFields, delayMs, reason: why });
    throw new RetryLaterError(`block ${message.blockNum ?? 'single'} of ${message.clip.key}: ${why}; retry in ${delayMs} ms`);
  }
}

/**
 * The upload a block belongs to, for the invocation's per-upload state (429 back-off, refused
 * token, commit seen): this version of the clip for this session, so a retake's blocks in the
 * same batch as an older session's are never judged by the older one.
 */
export function uploadRef(message: BlockMessage): string {
  return `${clipId(message.clip.bucket, message.clip.key)}|${message.clip.etag}|${uploadIdHash(message.ticket.uploadId)}`;
}

/** The fields every log line about a block carries: enough to correlate, nothing secret. */
function blockLogFields(message: BlockMessage) {
  return {
    clipId: clipId(message.clip.bucket, message.clip.key),
    key: message.clip.key,
    uploadIdHash: uploadIdHash(message.ticket.uploadId),
    blockNum: message.blockNum,
  };
}

function describeAnswer(answer: PutAnswer): string {
  if (answer.kind === 'transport') return `no answer (${answer.code})`;
  return [answer.status, answer.errorCode, answer.errorMessage].filter((part) => part !== undefined).join(' ');
}

/**
 * PUTs the block, following redirects and refreshing the token once, until an answer that is
 * not a redirect or a first 401 (a second one ends the clip: {@link classifyAnswer}).
 * @throws ClipRelayError (refused target, changed clip, too many redirects, no token)
 */
async function putFollowing(message: BlockMessage, delivery: Delivery, deps: FanOutDeps): Promise<Settled> {
  const tokenRef = message.ticket.tokenRef ?? deps.config.defaultTokenRef;
  let target = checkUploadTarget(message.ticket.uploadUri, deps.config.allowedHosts);
  let authorization = await deps.tokens.authorization(tokenRef);
  let refreshed = false;
  let tokenChanged = false;
  for (let hops = 0; ; ) {
    // Checked just before the body is opened, so a hold another invocation set meanwhile counts
    // (not after: an open range holds an S3 socket, and 160 blocks waiting on a hold read behind
    // them starved the pool).
    const heldMs = await heldForMsNow(message, deps);
    if (heldMs !== undefined) throw new UploadHeld(heldMs);
    const body = await deps.clips.openRange(message.clip, message.start, message.end, delivery.signal);
    const url = blockUrl(target, message.ticket.uploadId, message.blockNum);
    const started = performance.now();
    const answer = await putBlock({
      dispatcher: deps.dispatcher,
      url,
      authorization,
      serviceVersion: deps.config.serviceVersion,
      body,
      contentLength: message.end - message.start,
      signal: delivery.signal,
    });
    const durationMs = Math.round(performance.now() - started);
    const conflict = answer.kind === 'response' && (answer.status === 409 || answer.status === 410);
    const committed = conflict && (await uploadCommitted(message, deps));
    const verdict = classifyAnswer(answer, { retried: delivery.receiveCount > 1, tokenRefreshed: refreshed, committed, now: (deps.now ?? Date.now)() });
    deps.metrics?.addMetric('PutLatency', 'Milliseconds', durationMs);
    deps.logger.debug('block answered', {
      ...blockLogFields(message),
      attempt: delivery.receiveCount,
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
      refreshed = true;
      const refused = authorization;
      authorization = await deps.tokens.authorization(tokenRef, { forceFetch: true, replacing: refused });
      tokenChanged = authorization !== refused;
      continue;
    }
    return { verdict, answer, tokenChanged };
  }
}
