import type { OutcomeMessage } from './messages.ts';
import type { FailureReason } from './errors.ts';
import type { AnswerSummary } from './put-answer.ts';

/** The relay's durable, final record for one clip (PROTOCOL.md, "receipt"). */
export interface Receipt {
  receiptVersion: 1;
  status: OutcomeMessage['status'];
  bucket: string;
  key: string;
  versionId?: string;
  etag: string;
  size: number;
  expectedBlocks?: number;
  blockSize?: number;
  uploadUri?: string;
  gameClipId?: string;
  blockNum?: number;
  attempts?: number;
  reason?: FailureReason;
  answer?: AnswerSummary;
  droppedAt?: string;
  /** When the outcome happened (the fan-out's or splitter's clock). */
  decidedAt: string;
  /** Earlier terminal states this receipt replaced (a failed clip later committed by a redrive). */
  supersedes?: Array<{ status: OutcomeMessage['status']; decidedAt: string; reason?: FailureReason }>;
}

/** Where a clip's receipt lives: outside the incoming prefix, so writing it never triggers the splitter. */
export function receiptKey(receiptsPrefix: string, clipKey: string): string {
  return `${receiptsPrefix}${clipKey}.json`;
}

/** The receipt an outcome makes when nothing was recorded before. */
export function receiptFromOutcome(outcome: OutcomeMessage): Receipt {
  const { clip } = outcome;
  return {
    receiptVersion: 1,
    status: outcome.status,
    bucket: clip.bucket,
    key: clip.key,
    ...(clip.versionId !== undefined && { versionId: clip.versionId }),
    etag: clip.etag,
    size: clip.size,
    ...(outcome.expectedBlocks !== undefined && { expectedBlocks: outcome.expectedBlocks }),
    ...(outcome.blockSize !== undefined && { blockSize: outcome.blockSize }),
    ...(outcome.uploadUri !== undefined && { uploadUri: outcome.uploadUri }),
    ...(outcome.gameClipId !== undefined && { gameClipId: outcome.gameClipId }),
    ...(outcome.blockNum !== undefined && { blockNum: outcome.blockNum }),
    ...(outcome.attempts !== undefined && { attempts: outcome.attempts }),
    ...(outcome.reason !== undefined && { reason: outcome.reason }),
    ...(outcome.answer !== undefined && { answer: outcome.answer }),
    ...(outcome.droppedAt !== undefined && { droppedAt: outcome.droppedAt }),
    decidedAt: outcome.at,
  };
}

/**
 * The receipt rules: what a clip's receipt becomes when `outcome` arrives, or undefined to keep
 * `existing` as it is. One terminal receipt per clip: `committed` is never replaced; a later
 * `committed` (after a redrive) upgrades `failed` or `unconfirmed`; otherwise the first terminal
 * outcome stands. An outcome for another version of the key (a new ETag) replaces the receipt
 * only when that version was dropped later.
 */
export function nextReceipt(existing: Receipt | undefined, outcome: OutcomeMessage): Receipt | undefined {
  if (existing === undefined) return receiptFromOutcome(outcome);
  if (existing.etag !== outcome.clip.etag) {
    // Another version of the key: the newer version wins, by when it was dropped (its S3
    // event), not by when its outcome happened; a late outcome of an old version never does.
    const newer = existing.droppedAt !== undefined && outcome.droppedAt !== undefined ? outcome.droppedAt > existing.droppedAt : outcome.at > existing.decidedAt;
    return newer ? receiptFromOutcome(outcome) : undefined;
  }
  if (existing.status === 'committed' || outcome.status !== 'committed') return undefined;
  const { supersedes = [], ...previous } = existing;
  return {
    ...receiptFromOutcome(outcome),
    supersedes: [
      ...supersedes,
      { status: previous.status, decidedAt: previous.decidedAt, ...(previous.reason !== undefined && { reason: previous.reason }) },
    ],
  };
}
