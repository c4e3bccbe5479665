import * as z from 'zod/mini';
import { MessageError, type FailureReason } from '../protocol/errors.ts';
import { MAX_UINT32 } from '../protocol/limits.ts';
import type { ClipRef, OutcomeMessage } from '../protocol/messages.ts';
import { readS3Notification } from '../protocol/s3-event.ts';
import { jsonOrUndefined, parseWith } from '../protocol/schema.ts';
import { displayUri } from '../protocol/upload-target.ts';

// Lenient on purpose: every field Lambda documents is typed, none but the two that make the
// record one is required, so a record that names a clip always fails that clip. Unknown fields
// (responseContext, a newer version's additions) are ignored.
const SplitterFailureSchema = z.object({
  version: z.optional(z.string()),
  timestamp: z.optional(z.string()),
  requestContext: z.object({
    requestId: z.optional(z.string()),
    functionArn: z.optional(z.string()),
    condition: z.optional(z.string()),
    approximateInvokeCount: z.optional(z.number().check(z.int(), z.minimum(0), z.maximum(MAX_UINT32))),
  }),
  requestPayload: z.unknown(),
  responsePayload: z.optional(z.unknown()),
});

/**
 * The record Lambda sends to an asynchronous invocation's on-failure destination (the splitter's
 * SplitterFailuresQueue) once it gives up on an event: after the last retry failed
 * (`RetriesExhausted`) or when the event grew older than the maximum event age
 * (`EventAgeExceeded`, e.g. throttled for hours). `requestPayload` is the event itself, here the
 * S3 notification; `responsePayload` the last attempt's error, when an attempt ran.
 */
export type SplitterFailure = z.infer<typeof SplitterFailureSchema>;

// What a failed Node.js invocation returns: `{ errorType, errorMessage, trace }`; a crash or a
// timeout may carry the message only.
const ErrorPayloadSchema = z.object({ errorType: z.optional(z.string()), errorMessage: z.optional(z.string()) });

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The Lambda async failure record in a queue message body, or undefined when the body is not one
 * (then it is a block message, or nothing this relay knows). Only the two fields that make a
 * record one are looked at here; {@link parseSplitterFailure} checks the rest.
 */
export function asSplitterFailureBody(body: string): unknown {
  const value = jsonOrUndefined(body);
  return isObject(value) && 'requestContext' in value && 'requestPayload' in value ? value : undefined;
}

/**
 * Reads a Lambda async failure record (the JSON value {@link asSplitterFailureBody} found).
 * @throws MessageError when a field has the wrong type
 */
export function parseSplitterFailure(value: unknown): SplitterFailure {
  return parseWith(SplitterFailureSchema, value, (m) => new MessageError(`splitter failure record: ${m}`));
}

/** Longest excerpt of the splitter's error kept in a receipt. */
const MAX_ERROR_CHARS = 500;

/**
 * The splitter's last error as a receipt may show it: URLs cut to scheme, host and path (a query
 * may hold an uploadId), control characters dropped, at most {@link MAX_ERROR_CHARS} characters.
 * The splitter holds no token, so its errors carry none.
 */
function errorExcerpt(responsePayload: unknown): string {
  const parsed = ErrorPayloadSchema.safeParse(responsePayload);
  if (!parsed.success || (parsed.data.errorType === undefined && parsed.data.errorMessage === undefined)) return 'no error was reported';
  const { errorType, errorMessage } = parsed.data;
  const text = [errorType, errorMessage].filter((part) => part !== undefined && part !== '').join(': ');
  const clean = text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (uri) => displayUri(uri)).replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS)}…` : clean;
}

/** Why the clip failed, for its receipt: the condition Lambda gave up under and the splitter's last error. */
function splitFailedReason(failure: SplitterFailure): FailureReason {
  const { condition, approximateInvokeCount } = failure.requestContext;
  const attempts = approximateInvokeCount === undefined ? '' : `, ${approximateInvokeCount} ${approximateInvokeCount === 1 ? 'attempt' : 'attempts'}`;
  const why =
    condition === 'EventAgeExceeded'
      ? 'its S3 event expired before the splitter could handle it'
      : condition === 'RetriesExhausted'
        ? 'the splitter failed on every attempt'
        : 'Lambda gave up on the splitter';
  return { code: 'SPLIT_FAILED', message: `${why} (${condition ?? 'no condition given'}${attempts}): ${errorExcerpt(failure.responsePayload)}` };
}

/** What a failure record comes to: a failed outcome per clip it names, and why the rest name none. */
export interface SplitterFailureOutcomes {
  outcomes: OutcomeMessage[];
  /** Records (or the whole payload) that name no clip, described for the log. */
  unusable: string[];
}

/**
 * The failed outcomes (SPLIT_FAILED) of every clip whose ObjectCreated record is in the failure's
 * S3 event, pinned to the version the event named (bucket, key, ETag, size, versionId), so the
 * finalizer writes that version's failed receipt. A later `committed` outcome (a redrive) still
 * upgrades it, by the receipt rules.
 */
export function splitFailedOutcomes(failure: SplitterFailure, at: Date): SplitterFailureOutcomes {
  const notification = readS3Notification(failure.requestPayload);
  if (notification.kind === 'test') return { outcomes: [], unusable: ['the event is an s3:TestEvent'] };
  if (notification.kind === 'not-s3') return { outcomes: [], unusable: [notification.problem] };
  const reason = splitFailedReason(failure);
  const outcomes: OutcomeMessage[] = [];
  const unusable: string[] = [];
  for (const record of notification.records) {
    if ('problem' in record) {
      unusable.push(record.problem);
      continue;
    }
    const clip: ClipRef = {
      bucket: record.bucket,
      key: record.key,
      // S3 puts eTag and size into every ObjectCreated record; the fallbacks are the splitter's.
      etag: record.etag ?? 'unknown',
      size: record.size ?? 0,
      ...(record.versionId !== undefined && { versionId: record.versionId }),
    };
    outcomes.push({
      v: 1,
      status: 'failed',
      clip,
      ...(failure.requestContext.approximateInvokeCount !== undefined && { attempts: failure.requestContext.approximateInvokeCount }),
      reason,
      droppedAt: record.eventTime,
      at: at.toISOString(),
    });
  }
  return { outcomes, unusable };
}
