import { TicketError } from './errors.ts';
import { MAX_CLIP_BYTES } from './block-plan.ts';
import * as z from 'zod/mini';
import { parseWith } from './schema.ts';

/** Where a clip goes: the upload session's coordinates, carried as S3 user metadata. */
export interface Ticket {
  uploadUri: string;
  uploadId: string;
  expectedBlocks?: number;
  gameClipId?: string;
  tokenRef?: string;
}

const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

// Metadata keys as S3 returns them (lower-case, without x-amz-meta-).
const TicketSchema = z.object({
  'upload-uri': z.string().check(z.minLength(1), z.maxLength(2048), z.regex(NO_CONTROL, 'control characters are not allowed')),
  'upload-id': z.string().check(z.minLength(1), z.maxLength(1024), z.regex(NO_CONTROL, 'control characters are not allowed')),
  'expected-blocks': z.optional(
    z.string().check(z.regex(/^[1-9]\d{0,9}$/, 'expected-blocks must be a whole number from 1 to 4294967295')),
  ),
  'game-clip-id': z.optional(z.string().check(z.regex(/^[\w.-]{1,128}$/, 'game-clip-id must be 1-128 letters, digits, ".", "_" or "-"'))),
  'token-ref': z.optional(z.string().check(z.regex(/^[\w.-]{1,128}$/, 'token-ref must be 1-128 letters, digits, ".", "_" or "-"'))),
});

/**
 * Reads a clip's ticket from its S3 user metadata.
 * @throws TicketError naming each missing or malformed field
 */
export function parseTicket(metadata: Record<string, string> | undefined): Ticket {
  const fields = parseWith(TicketSchema, metadata ?? {}, (message) => new TicketError(`ticket: ${message}`));
  const expectedBlocks = fields['expected-blocks'] === undefined ? undefined : Number(fields['expected-blocks']);
  if (expectedBlocks !== undefined && expectedBlocks > MAX_CLIP_BYTES) {
    throw new TicketError(`ticket: expected-blocks ${expectedBlocks} is over 4294967295`);
  }
  return {
    uploadUri: fields['upload-uri'],
    uploadId: fields['upload-id'],
    ...(expectedBlocks !== undefined && { expectedBlocks }),
    ...(fields['game-clip-id'] !== undefined && { gameClipId: fields['game-clip-id'] }),
    ...(fields['token-ref'] !== undefined && { tokenRef: fields['token-ref'] }),
  };
}

/** The S3 user metadata that carries `ticket`: what a capture pipeline attaches to a clip. */
export function ticketMetadata(ticket: Ticket): Record<string, string> {
  return {
    'upload-uri': ticket.uploadUri,
    'upload-id': ticket.uploadId,
    ...(ticket.expectedBlocks !== undefined && { 'expected-blocks': String(ticket.expectedBlocks) }),
    ...(ticket.gameClipId !== undefined && { 'game-clip-id': ticket.gameClipId }),
    ...(ticket.tokenRef !== undefined && { 'token-ref': ticket.tokenRef }),
  };
}
