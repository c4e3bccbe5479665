import { createHash } from 'node:crypto';
import * as z from 'zod/mini';
import { FailureReasonSchema, ReceiptError, ReceiptTooNewError } from './errors.ts';
import { ClipRefSchema, OutcomeDetailsShape, OutcomeStatusSchema, type OutcomeMessage } from './messages.ts';
import { fieldOf, jsonOrUndefined, parseWith } from './schema.ts';

/** The relay's durable, final record for one clip (docs/protocol.md, "Terms"): the clip's fields at the top, then the outcome's. */
/** The receipt version this build writes and reads. */
export const RECEIPT_VERSION = 1;

const ReceiptSchema = z.strictObject({
  receiptVersion: z.literal(RECEIPT_VERSION),
  status: OutcomeStatusSchema,
  ...ClipRefSchema.shape,
  ...OutcomeDetailsShape,
  /** When the outcome happened (the fan-out's or splitter's clock). */
  decidedAt: z.string(),
  /** Earlier terminal states this receipt replaced (a failed clip later committed by a redrive). */
  supersedes: z.optional(
    z.array(z.strictObject({ status: OutcomeStatusSchema, decidedAt: z.string(), uploadIdHash: z.optional(z.string()), reason: z.optional(FailureReasonSchema) })),
  ),
});
export type Receipt = z.infer<typeof ReceiptSchema>;

/** What tells one upload of a key from another: the clip's version, its session, its drop. */
interface UploadIdentity {
  etag: string;
  uploadIdHash?: string | undefined;
  droppedAt?: string | undefined;
}

/**
 * True when `receipt` is about this upload: the same version of the clip (ETag) for the same
 * session. A retake (the same bytes dropped again for a new session) is a new upload. Where a
 * side does not know its session (a receipt written before sessions were recorded, a bad
 * ticket's or a failed split's outcome), a later drop of the key is a new upload and the same
 * drop (duplicate events share the event time) is the same one.
 */
export function sameUpload(receipt: UploadIdentity, upload: UploadIdentity): boolean {
  if (receipt.etag !== upload.etag) return false;
  if (receipt.uploadIdHash !== undefined && upload.uploadIdHash !== undefined) return receipt.uploadIdHash === upload.uploadIdHash;
  return receipt.droppedAt === undefined || upload.droppedAt === undefined || receipt.droppedAt === upload.droppedAt;
}

/** S3's longest key, in UTF-8 bytes. */
export const MAX_S3_KEY_BYTES = 1024;
/** Kept free after a receipt key for what lives beside it (`.hold`, `.redrive-<ISO time>.json`). */
const BESIDE_RECEIPT_BYTES = 64;

/**
 * Where a clip's receipt lives: outside the incoming prefix, so writing it never triggers the
 * splitter. Normally the clip's key + `.json`; a clip key too long for that (S3 keys end at 1024
 * bytes, and the hold and redrive records beside the receipt add to it) gets its receipt under
 * `by-hash/` named by the key's SHA-256. The receipt's `key` field says which clip it is.
 */
export function receiptKey(receiptsPrefix: string, clipKey: string): string {
  const plain = `${receiptsPrefix}${clipKey}.json`;
  if (new TextEncoder().encode(plain).length + BESIDE_RECEIPT_BYTES <= MAX_S3_KEY_BYTES) return plain;
  return `${receiptsPrefix}by-hash/${createHash('sha256').update(clipKey, 'utf8').digest('hex')}.json`;
}

/**
 * The one way to read a stored receipt.
 * @throws ReceiptTooNewError when its `receiptVersion` is newer than {@link RECEIPT_VERSION}: a newer build wrote it
 * @throws ReceiptError when the body is not JSON or not a receipt, naming what is wrong
 */
export function parseReceipt(body: string): Receipt {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ReceiptError(`receipt is not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const version = fieldOf(value, 'receiptVersion');
  if (typeof version === 'number' && version > RECEIPT_VERSION) {
    throw new ReceiptTooNewError(`receipt version ${version} is newer than this build (it reads version ${RECEIPT_VERSION})`);
  }
  return parseWith(ReceiptSchema, value, (message) => new ReceiptError(`receipt: ${message}`));
}

/**
 * True when a stored body that is no readable receipt still says `"status": "committed"` for
 * this version of the clip (its `etag`). The finalizer never replaces such a body: a commit,
 * once recorded, is the one fact not to lose. A later version of the key is not held back by it.
 */
export function claimsCommitted(body: string, etag: string): boolean {
  const value = jsonOrUndefined(body);
  return fieldOf(value, 'status') === 'committed' && fieldOf(value, 'etag') === etag;
}

/** The receipt an outcome makes when nothing was recorded before. */
export function receiptFromOutcome(outcome: OutcomeMessage): Receipt {
  const { v: _v, status, clip, at, ...details } = outcome;
  return { receiptVersion: RECEIPT_VERSION, status, ...clip, ...details, decidedAt: at };
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
  if (!sameUpload(existing, { etag: outcome.clip.etag, uploadIdHash: outcome.uploadIdHash, droppedAt: outcome.droppedAt })) {
    // Another upload of the key: the newer one wins, by when it was dropped (its S3 event),
    // not by when its outcome happened; a late outcome of an old upload never does. Two drops
    // in the same instant (a retake seconds after, as S3 times objects) go by the outcome's time.
    const dropped = existing.droppedAt !== undefined && outcome.droppedAt !== undefined && outcome.droppedAt !== existing.droppedAt;
    const newer = dropped ? outcome.droppedAt! > existing.droppedAt! : outcome.at > existing.decidedAt;
    if (!newer) return undefined;
    return existing.etag === outcome.clip.etag ? superseding(existing, outcome) : receiptFromOutcome(outcome);
  }
  if (existing.status === 'committed' || outcome.status !== 'committed') return undefined;
  return superseding(existing, outcome);
}

/** The outcome's receipt, recording the receipt it replaces. */
function superseding(existing: Receipt, outcome: OutcomeMessage): Receipt {
  const { supersedes = [], status, decidedAt, uploadIdHash, reason } = existing;
  return {
    ...receiptFromOutcome(outcome),
    supersedes: [...supersedes, { status, decidedAt, ...(uploadIdHash !== undefined && { uploadIdHash }), ...(reason !== undefined && { reason }) }],
  };
}
