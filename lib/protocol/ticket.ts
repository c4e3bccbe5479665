import * as z from 'zod/mini';
import { TicketError } from './errors.ts';
import { MAX_EXPECTED_BLOCKS, MAX_UPLOAD_ID_CHARS, MAX_UPLOAD_URI_CHARS } from './limits.ts';
import { parseWith } from './schema.ts';

const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
// Custom messages are phrases that follow the field's name ("metadata upload-id has control characters").
const uploadUri = z.string().check(z.minLength(1), z.maxLength(MAX_UPLOAD_URI_CHARS), z.regex(NO_CONTROL, 'has control characters'));
const uploadId = z.string().check(z.minLength(1), z.maxLength(MAX_UPLOAD_ID_CHARS), z.regex(NO_CONTROL, 'has control characters'));
const name = z.string().check(z.regex(/^[\w.-]{1,128}$/, 'must be 1-128 letters, digits, ".", "_" or "-"'));

/** Where a clip goes: the upload session's coordinates, as the splitter read them from the clip. */
export const TicketSchema = z.strictObject({
  uploadUri,
  uploadId,
  expectedBlocks: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(MAX_EXPECTED_BLOCKS))),
  gameClipId: z.optional(name),
  tokenRef: z.optional(name),
});
export type Ticket = z.infer<typeof TicketSchema>;

/** Each ticket field's S3 user metadata key (lower-case, without x-amz-meta-, as S3 returns them). */
const METADATA_KEYS = {
  uploadUri: 'upload-uri',
  uploadId: 'upload-id',
  expectedBlocks: 'expected-blocks',
  gameClipId: 'game-clip-id',
  tokenRef: 'token-ref',
} as const satisfies Record<keyof Ticket, string>;

// The metadata as text, checked first so that each problem names the key a capture pipeline set.
const TicketMetadataSchema = z.object({
  'upload-uri': uploadUri,
  'upload-id': uploadId,
  'expected-blocks': z.optional(
    z.string().check(z.regex(/^[1-9]\d{0,9}$/, `must be a whole number from 1 to ${MAX_EXPECTED_BLOCKS}`)),
  ),
  'game-clip-id': z.optional(name),
  'token-ref': z.optional(name),
});

/**
 * Reads a clip's ticket from its S3 user metadata.
 * @throws TicketError naming each missing or malformed field
 */
export function parseTicket(metadata: Record<string, string> | undefined): Ticket {
  const parsed = TicketMetadataSchema.safeParse(metadata ?? {});
  if (!parsed.success) throw new TicketError(parsed.error.issues.map(metadataProblem).join('; '));
  const fields = parsed.data;
  const expectedBlocks = fields['expected-blocks'] === undefined ? undefined : Number(fields['expected-blocks']);
  if (expectedBlocks !== undefined && expectedBlocks > MAX_EXPECTED_BLOCKS) {
    throw new TicketError(`metadata expected-blocks is ${expectedBlocks}, over ${MAX_EXPECTED_BLOCKS}`);
  }
  const ticket: Record<string, unknown> = {};
  for (const [field, key] of Object.entries(METADATA_KEYS)) {
    const value = fields[key];
    if (value !== undefined) ticket[field] = field === 'expectedBlocks' ? expectedBlocks : value;
  }
  return parseWith(TicketSchema, ticket, (message) => new TicketError(`ticket: ${message}`));
}

/** One problem with the metadata as a person would say it: "metadata upload-id is missing". */
function metadataProblem(issue: z.core.$ZodIssue): string {
  const key = `metadata ${String(issue.path[0] ?? '')}`;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `${key} is missing` : `${key} is not text`;
    case 'too_small':
      return `${key} is empty`;
    case 'too_big':
      return `${key} is longer than ${String(issue.maximum)} characters`;
    default:
      return `${key} ${issue.message}`;
  }
}

/** The S3 user metadata that carries `ticket`: what a capture pipeline attaches to a clip. */
export function ticketMetadata(ticket: Ticket): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [field, key] of Object.entries(METADATA_KEYS)) {
    const value = ticket[field as keyof Ticket];
    if (value !== undefined) metadata[key] = String(value);
  }
  return metadata;
}
