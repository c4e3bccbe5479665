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
  /** The upload session it is for (a hash of the uploadId, never the uploadId itself). */
  uploadIdHash?: string;
  gameClipId?: string;
  blockNum?: number;
  attempts?: number;
  reason?: FailureReason;
  answer?: AnswerSummary;
  droppedAt?: string;
  /** When the outcome happened (the fan-out's or splitter's clock). */
  decidedAt: string;
  /** Earlier terminal states this receipt replaced (a failed clip later committed by a redrive). */
  supersedes?: Array<{ status: OutcomeMessage['status']; decidedAt: string; uploadIdHash?: string; reason?: FailureReason }>;
}

/**
 * True when `receipt` is about this upload: the same version of the clip (ETag) for the same
 * session. A retake (the same bytes dropped again for a new session) is a new upload. A receipt
 * or outcome written before sessions were recorded counts as the same session.
 */
export function sameUpload(receipt: Pick<Receipt, 'etag' | 'uploadIdHash'>, upload: { etag: string; uploadIdHash?: string }): boolean {
  if (receipt.etag !== upload.etag) return false;
  return receipt.uploadIdHash === undefined || upload.uploadIdHash === undefined || receipt.uploadIdHash === upload.uploadIdHash;
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
    ...(outcome.uploadIdHash !== undefined && { uploadIdHash: outcome.uploadIdHash }),
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
 * outcome stands. An outcome for another upload of the key (a new ETag, or the same bytes for a
 * new session: a retake) replaces the receipt only when that upload was dropped later; a retake's
 * receipt lists the one it replaced under `supersedes`.
 */
export function nextReceipt(existing: Receipt | undefined, outcome: OutcomeMessage): Receipt | undefined {
  if (existing === undefined) return receiptFromOutcome(outcome);
  const upload = { etag: outcome.clip.etag, ...(outcome.uploadIdHash !== undefined && { uploadIdHash: outcome.uploadIdHash }) };
  if (!sameUpload(existing, upload)) {
    // Another upload of the key: the newer one wins, by when it was dropped (its S3 event),
    // not by when its outcome happened; a late outcome of an old upload never does.
    const newer = existing.droppedAt !== undefined && outcome.droppedAt !== undefined ? outcome.droppedAt > existing.droppedAt : outcome.at > existing.decidedAt;
    if (!newer) return undefined;
    return existing.etag === outcome.clip.etag ? superseding(existing, outcome) : receiptFromOutcome(outcome);
  }
  if (existing.status === 'committed' || outcome.status !== 'committed') return undefined;
  return superseding(existing, outcome);
}

/** The outcome's receipt, recording the receipt it replaces. */
function superseding(existing: Receipt, outcome: OutcomeMessage): Receipt {
  const { supersedes = [], ...previous } = existing;
  return {
    ...receiptFromOutcome(outcome),
    supersedes: [
      ...supersedes,
      {
        status: previous.status,
        decidedAt: previous.decidedAt,
        ...(previous.uploadIdHash !== undefined && { uploadIdHash: previous.uploadIdHash }),
        ...(previous.reason !== undefined && { reason: previous.reason }),
      },
    ],
  };
}
