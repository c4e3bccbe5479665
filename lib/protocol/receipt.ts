import * as z from 'zod/mini';
import { FailureReasonSchema, ReceiptError } from './errors.ts';
import { ClipRefSchema, OutcomeDetailsShape, OutcomeStatusSchema, type OutcomeMessage } from './messages.ts';
import { parseWith } from './schema.ts';

/** The relay's durable, final record for one clip (PROTOCOL.md, "receipt"): the clip's fields at the top, then the outcome's. */
const ReceiptSchema = z.strictObject({
  receiptVersion: z.literal(1),
  status: OutcomeStatusSchema,
  ...ClipRefSchema.shape,
  ...OutcomeDetailsShape,
  /** When the outcome happened (the fan-out's or splitter's clock). */
  decidedAt: z.string(),
  /** Earlier terminal states this receipt replaced (a failed clip later committed by a redrive). */
  supersedes: z.optional(z.array(z.strictObject({ status: OutcomeStatusSchema, decidedAt: z.string(), reason: z.optional(FailureReasonSchema) }))),
});
export type Receipt = z.infer<typeof ReceiptSchema>;

/** Where a clip's receipt lives: outside the incoming prefix, so writing it never triggers the splitter. */
export function receiptKey(receiptsPrefix: string, clipKey: string): string {
  return `${receiptsPrefix}${clipKey}.json`;
}

/**
 * The one way to read a stored receipt.
 * @throws ReceiptError when the body is not JSON or not a version-1 receipt, naming what is wrong
 */
export function parseReceipt(body: string): Receipt {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new ReceiptError(`receipt is not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return parseWith(ReceiptSchema, value, (message) => new ReceiptError(`receipt: ${message}`));
}

/** The receipt an outcome makes when nothing was recorded before. */
export function receiptFromOutcome(outcome: OutcomeMessage): Receipt {
  const { v: _v, status, clip, at, ...details } = outcome;
  return { receiptVersion: 1, status, ...clip, ...details, decidedAt: at };
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
  const { supersedes = [], status, decidedAt, reason } = existing;
  return {
    ...receiptFromOutcome(outcome),
    supersedes: [...supersedes, reason === undefined ? { status, decidedAt } : { status, decidedAt, reason }],
  };
}
