import { MessageError, type FailureReason } from './errors.ts';
import * as z from 'zod/mini';
import { parseWith } from './schema.ts';
import type { AnswerSummary } from './put-answer.ts';

/** The S3 object a clip is, pinned to the version the splitter planned. */
export interface ClipRef {
  bucket: string;
  key: string;
  etag: string;
  size: number;
  versionId?: string;
}

/** One block to PUT. Carries everything but the token, which the fan-out fetches by tokenRef. */
export interface BlockMessage {
  v: 1;
  clip: ClipRef;
  uploadUri: string;
  uploadId: string;
  expectedBlocks?: number;
  gameClipId?: string;
  tokenRef?: string;
  blockSize: number;
  blockNum?: number;
  start: number;
  end: number;
  /** When the clip's ObjectCreated event happened (ISO 8601). */
  droppedAt: string;
  /** When the splitter planned this block; a redrive plans again, later than any receipt it follows. */
  plannedAt: string;
}

/** How a clip ended, sent to the finalizer, which turns it into the clip's receipt. */
export interface OutcomeMessage {
  v: 1;
  status: 'committed' | 'failed' | 'unconfirmed';
  clip: ClipRef;
  /** Without query: outcomes never carry the uploadId. */
  uploadUri?: string;
  /** Which upload session: a hash of the uploadId. */
  uploadIdHash?: string;
  expectedBlocks?: number;
  blockSize?: number;
  gameClipId?: string;
  blockNum?: number;
  attempts?: number;
  reason?: FailureReason;
  answer?: AnswerSummary;
  droppedAt?: string;
  at: string;
}

const uint = z.number().check(z.int(), z.minimum(0), z.maximum(2 ** 32 - 1));
const ClipRefSchema = z.strictObject({
  bucket: z.string().check(z.minLength(1)),
  key: z.string().check(z.minLength(1)),
  etag: z.string().check(z.minLength(1)),
  // Any object size: a clip of 4 GiB or more is refused, and its failed outcome must still go through.
  size: z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
  versionId: z.optional(z.string()),
});

const BlockMessageSchema = z.strictObject({
  v: z.literal(1),
  clip: ClipRefSchema,
  uploadUri: z.string().check(z.minLength(1)),
  uploadId: z.string().check(z.minLength(1)),
  expectedBlocks: z.optional(uint),
  gameClipId: z.optional(z.string()),
  tokenRef: z.optional(z.string()),
  blockSize: uint,
  blockNum: z.optional(uint),
  start: uint,
  end: uint,
  droppedAt: z.string(),
  plannedAt: z.string(),
});

const OutcomeMessageSchema = z.strictObject({
  v: z.literal(1),
  status: z.enum(['committed', 'failed', 'unconfirmed']),
  clip: ClipRefSchema,
  uploadUri: z.optional(z.string()),
  uploadIdHash: z.optional(z.string()),
  expectedBlocks: z.optional(uint),
  blockSize: z.optional(uint),
  gameClipId: z.optional(z.string()),
  blockNum: z.optional(uint),
  attempts: z.optional(uint),
  reason: z.optional(z.strictObject({ code: z.string(), message: z.string() })),
  answer: z.optional(
    z.strictObject({ status: z.optional(z.number()), errorCode: z.optional(z.string()), errorMessage: z.optional(z.string()) }),
  ),
  droppedAt: z.optional(z.string()),
  at: z.string(),
});

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new MessageError('message body is not JSON', { cause: error });
  }
}

/**
 * Parses a blocks-queue message body.
 * @throws MessageError when it is not JSON or not a version-1 block message with a sane range
 */
export function parseBlockMessage(body: string): BlockMessage {
  const message = parseWith(BlockMessageSchema, parseJson(body), (m) => new MessageError(`block message: ${m}`)) as BlockMessage;
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
  try {
    const result = ClipRefSchema.safeParse((JSON.parse(body) as { clip?: unknown } | null)?.clip);
    return result.success ? (result.data as ClipRef) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parses an outcomes-queue message body.
 * @throws MessageError when it is not JSON or not a version-1 outcome message
 */
export function parseOutcomeMessage(body: string): OutcomeMessage {
  return parseWith(OutcomeMessageSchema, parseJson(body), (m) => new MessageError(`outcome message: ${m}`)) as OutcomeMessage;
}
