import * as z from 'zod/mini';

/**
 * Every code the relay puts on an error, an outcome or a receipt (docs/failure-codes.md says
 * when each is used, by which stage, and which receipt status it ends in).
 */
export const FAILURE_CODES = [
  'CONFIG_INVALID',
  'TICKET_INVALID',
  'BLOCK_LAYOUT_IMPOSSIBLE',
  'CLIP_SIZE_UNSUPPORTED',
  'UPLOAD_TARGET_REFUSED',
  'MESSAGE_INVALID',
  'RECEIPT_INVALID',
  'CLIP_MISSING',
  'CLIP_CHANGED',
  'TOKEN_UNAVAILABLE',
  'TOKEN_REJECTED',
  'TOO_MANY_REDIRECTS',
  'SERVICE_REJECTED',
  'RETRIES_EXHAUSTED',
  'COMMIT_UNCONFIRMED',
  'DEAD_LETTERED',
  'SPLIT_FAILED',
  'RETRY_LATER',
] as const;

/** A stable code naming why something failed: match on it, never on a message. */
export type FailureCode = (typeof FAILURE_CODES)[number];

/**
 * Errors of clip-relay. Each has a stable `code`: match on the code, never on the message.
 * Foreign errors are wrapped with `{ cause }` so the original stays inspectable.
 */
export class ClipRelayError extends Error {
  readonly code: FailureCode;
  constructor(code: FailureCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ClipRelayError';
    this.code = code;
  }
}

/** Thrown when configuration is missing, mistyped or unknown; raised at cold start. */
export class ConfigError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
  }
}

/** Thrown when a clip's ticket (its S3 user metadata) cannot describe an upload. */
export class TicketError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('TICKET_INVALID', message, options);
    this.name = 'TicketError';
  }
}

/** Thrown when a file size and an expectedBlocks admit no block layout (docs/protocol.md). */
export class BlockLayoutError extends ClipRelayError {
  constructor(message: string) {
    super('BLOCK_LAYOUT_IMPOSSIBLE', message);
    this.name = 'BlockLayoutError';
  }
}

/** Thrown when the clip is outside the protocol's size range (1 byte to 4 GiB - 1). */
export class ClipSizeError extends ClipRelayError {
  constructor(message: string) {
    super('CLIP_SIZE_UNSUPPORTED', message);
    this.name = 'ClipSizeError';
  }
}

/** Thrown when an upload or redirect target fails the host allowlist or URI rules. */
export class UploadTargetRefusedError extends ClipRelayError {
  readonly rule: string;
  constructor(rule: string, message: string) {
    super('UPLOAD_TARGET_REFUSED', message);
    this.name = 'UploadTargetRefusedError';
    this.rule = rule;
  }
}

/** Thrown when a queue message is not a message this relay can act on. */
export class MessageError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('MESSAGE_INVALID', message, options);
    this.name = 'MessageError';
  }
}

/** Thrown when a stored receipt is not JSON or not a receipt: the finalizer replaces it, a reader skips it. */
export class ReceiptError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('RECEIPT_INVALID', message, options);
    this.name = 'ReceiptError';
  }
}

/** Thrown when the clip vanished or changed in S3 while it was being relayed. */
export class ClipChangedError extends ClipRelayError {
  constructor(code: 'CLIP_MISSING' | 'CLIP_CHANGED', message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'ClipChangedError';
  }
}

/** Thrown when no token can be had for a ticket's token-ref. */
export class TokenError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('TOKEN_UNAVAILABLE', message, options);
    this.name = 'TokenError';
  }
}

/**
 * Thrown by a record handler when SQS should deliver the record again (a recoverable failure).
 * The only error a record handler lets escape on purpose.
 */
export class RetryLaterError extends ClipRelayError {
  constructor(message: string, options?: ErrorOptions) {
    super('RETRY_LATER', message, options);
    this.name = 'RetryLaterError';
  }
}

/**
 * Thrown when a message's version (`v`) is newer than any this build reads: a newer relay wrote
 * it during a deploy, or before a rollback. Not invalid, only early: SQS should deliver it again,
 * by when the reader may have been updated (docs/deploy.md, rollout order).
 */
export class MessageTooNewError extends RetryLaterError {
  readonly version: number;
  constructor(message: string, version: number) {
    super(message);
    this.name = 'MessageTooNewError';
    this.version = version;
  }
}

/**
 * Thrown when a stored receipt's `receiptVersion` is newer than this build writes: a newer relay
 * wrote it. It is not corrupt, so it is never replaced; the outcome waits for a build that reads it.
 */
export class ReceiptTooNewError extends RetryLaterError {
  constructor(message: string) {
    super(message);
    this.name = 'ReceiptTooNewError';
  }
}

/**
 * A failure code as a queue message or a receipt carries it: one of {@link FAILURE_CODES}, or a
 * code a newer build added (kept as written). A rollout runs two builds side by side, so a
 * reader that refused codes it does not know would drop outcomes or replace receipts.
 */
const CarriedFailureCodeSchema = z.custom<FailureCode | (string & {})>(
  (value) => typeof value === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(value),
  'expected a failure code (UPPER_SNAKE_CASE)',
);

/** Why a clip or block failed, as outcomes, receipts and logs carry it. */
export const FailureReasonSchema = z.strictObject({ code: CarriedFailureCodeSchema, message: z.string() });
export type FailureReason = z.infer<typeof FailureReasonSchema>;

/** The reason a relay error gives an outcome or a receipt. */
export function failureReason(error: ClipRelayError): FailureReason {
  return { code: error.code, message: error.message };
}

/**
 * A short, secret-free description of any error, for log lines: a foreign error keeps its own
 * code (an SDK's or the system's), which is why this is not a {@link FailureReason}.
 */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof ClipRelayError) return failureReason(error);
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}
