import * as z from 'zod/mini';
import { FailureReasonSchema, MessageError, MessageTooNewError } from './errors.ts';
import { MAX_UINT32 } from './limits.ts';
import { AnswerSummarySchema } from './put-answer.ts';
import { fieldOf, jsonOrUndefined, parseWith } from './schema.ts';
import { TicketSchema } from './ticket.ts';

const uint = z.number().check(z.int(), z.minimum(0), z.maximum(MAX_UINT32));

/** The S3 object a clip is, pinned to the version the splitter planned. */
export const ClipRefSchema = z.strictObject({
  bucket: z.string().check(z.minLength(1)),
  key: z.string().check(z.minLength(1)),
  etag: z.string().check(z.minLength(1)),
  // Any object size: a clip of 4 GiB or more is refused, and its failed outcome must still go through.
  size: z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  versionId: z.optional(z.string()),
});
export type ClipRef = z.infer<typeof ClipRefSchema>;

/** The version of the block message this relay writes; version 1 (ticket fields at the top) is still read. */
export const BLOCK_MESSAGE_VERSION = 2;

/**
 * One block to PUT: the clip, its ticket as the splitter read it, and the block's byte range.
 * Carries everything but the token, which the fan-out fetches by the ticket's tokenRef.
 */
const BlockMessageSchema = z.strictObject({
  v: z.literal(BLOCK_MESSAGE_VERSION),
  clip: ClipRefSchema,
  ticket: TicketSchema,
  blockSize: uint,
  blockNum: z.optional(uint),
  start: uint,
  end: uint,
  /** When the clip's ObjectCreated event happened (ISO 8601). */
  droppedAt: z.string(),
  /** When the splitter planned this block; a redrive plans again, later than any receipt it follows. */
  plannedAt: z.string(),
});
export type BlockMessage = z.infer<typeof BlockMessageSchema>;

// Version 1 had the ticket's fields at the top level; messages of it may still be queued after a deploy.
const BlockMessageV1Schema = z.strictObject({
  ...z.omit(BlockMessageSchema, { v: true, ticket: true }).shape,
  ...TicketSchema.shape,
  v: z.literal(1),
});

/** How a clip ended. */
export const OutcomeStatusSchema = z.enum(['committed', 'failed', 'unconfirmed']);
export type OutcomeStatus = z.infer<typeof OutcomeStatusSchema>;

/**
 * What an outcome and a receipt both record about how a clip ended, beside the clip and the
 * status. The uploadUri is without query: outcomes and receipts never carry the uploadId.
 */
export const OutcomeDetailsShape = {
  uploadUri: z.optional(z.string()),
  /** The upload session it is for: a hash of the uploadId, never the uploadId itself. */
  uploadIdHash: z.optional(z.string()),
  expectedBlocks: z.optional(uint),
  blockSize: z.optional(uint),
  gameClipId: z.optional(z.string()),
  blockNum: z.optional(uint),
  attempts: z.optional(uint),
  reason: z.optional(FailureReasonSchema),
  answer: z.optional(AnswerSummarySchema),
  droppedAt: z.optional(z.string()),
};

/** The version of the outcome message this relay writes and reads. */
export const OUTCOME_MESSAGE_VERSION = 1;

/** How a clip ended, sent to the finalizer, which turns it into the clip's receipt. */
const OutcomeMessageSchema = z.strictObject({
  v: z.literal(OUTCOME_MESSAGE_VERSION),
  status: OutcomeStatusSchema,
  clip: ClipRefSchema,
  ...OutcomeDetailsShape,
  /** When the outcome happened (the fan-out's or splitter's clock). */
  at: z.string(),
});
export type OutcomeMessage = z.infer<typeof OutcomeMessageSchema>;

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new MessageError('message body is not JSON', { cause: error });
  }
}

/** A version-1 block message lifted to the current version: its ticket's fields nested. */
function liftV1(value: unknown): BlockMessage {
  const v1 = parseWith(BlockMessageV1Schema, value, (m) => new MessageError(`block message (version 1): ${m}`));
  const isTicketField = ([field]: [string, unknown]) => field in TicketSchema.shape;
  const lifted = {
    ...Object.fromEntries(Object.entries(v1).filter((entry) => !isTicketField(entry))),
    v: BLOCK_MESSAGE_VERSION,
    ticket: Object.fromEntries(Object.entries(v1).filter(isTicketField)),
  };
  return parseWith(BlockMessageSchema, lifted, (m) => new MessageError(`block message (version 1): ${m}`));
}

/**
 * Parses a blocks-queue message body (version 2, or version 1 lifted to it).
 * @throws MessageTooNewError when its `v` is a number above {@link BLOCK_MESSAGE_VERSION}: a newer build wrote it
 * @throws MessageError when it is not JSON, not a block message of a known version, or its range is not inside the clip
 */
export function parseBlockMessage(body: string): BlockMessage {
  const value = parseJson(body);
  const version = fieldOf(value, 'v');
  if (typeof version === 'number' && version > BLOCK_MESSAGE_VERSION) {
    throw new MessageTooNewError(`block message version ${version} is newer than this build (it reads versions 1 to ${BLOCK_MESSAGE_VERSION}): retry later`, version);
  }
  const message =
    version === 1 ? liftV1(value) : parseWith(BlockMessageSchema, value, (m) => new MessageError(`block message (version ${BLOCK_MESSAGE_VERSION}): ${m}`));
  if (message.start >= message.end || message.end > message.clip.size) {
    throw new MessageError(`block message: range [${message.start}, ${message.end}) is outside the ${message.clip.size}-byte clip`);
  }
  return message;
}

/**
 * The clip a message names, when its `clip` field is intact even though the rest is not: a
 * block message that cannot be acted on still ends its clip with a failed receipt.
 */
export function salvageClipRef(body: string): ClipRef | undefined {
  const result = ClipRefSchema.safeParse(fieldOf(jsonOrUndefined(body), 'clip'));
  return result.success ? result.data : undefined;
}

/**
 * Parses an outcomes-queue message body.
 * @throws MessageTooNewError when its `v` is a number above {@link OUTCOME_MESSAGE_VERSION}: a newer build wrote it
 * @throws MessageError when it is not JSON or not an outcome message
 */
export function parseOutcomeMessage(body: string): OutcomeMessage {
  const value = parseJson(body);
  const version = fieldOf(value, 'v');
  if (typeof version === 'number' && version > OUTCOME_MESSAGE_VERSION) {
    throw new MessageTooNewError(`outcome message version ${version} is newer than this build (it reads version ${OUTCOME_MESSAGE_VERSION}): retry later`, version);
  }
  return parseWith(OutcomeMessageSchema, value, (m) => new MessageError(`outcome message: ${m}`));
}
