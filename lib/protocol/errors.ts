/**
 * Errors of clip-relay. Each has a stable `code`: match on the code, never on the message.
 * Foreign errors are wrapped with `{ cause }` so the original stays inspectable.
 */
export class ClipRelayError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
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

/** Thrown when a file size and an expectedBlocks admit no block layout (PROTOCOL.md). */
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

/** Thrown when the transfer service refused the token, again after a refresh: the clip ends at once. */
export class TokenRejectedError extends ClipRelayError {
  constructor(message: string) {
    super('TOKEN_REJECTED', message);
    this.name = 'TokenRejectedError';
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

/** A short, secret-free description of any error, for logs and receipts. */
/** Why a clip or block failed, as outcomes, receipts and logs carry it. */
export interface FailureReason {
  code: string;
  message: string;
}

export function describeError(error: unknown): FailureReason {
  if (error instanceof ClipRelayError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}
