import type { IncomingHttpHeaders } from 'node:http';
import { errorReply, type Reply } from './reply.ts';

/** What the emulator expects of a PUT's headers. */
export interface HeaderExpectations {
  /** When set, the exact Authorization value a PUT must carry. */
  authorization?: string | undefined;
  serviceVersion: string;
}

const JSON_MEDIA_RANGES = new Set(['application/json', 'application/*', '*/*']);

function present(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(', ') : value;
  return text === undefined || text.trim() === '' ? undefined : text;
}

function acceptsJson(accept: string): boolean {
  return accept
    .split(',')
    .map((range) => range.split(';')[0]?.trim().toLowerCase() ?? '')
    .some((range) => JSON_MEDIA_RANGES.has(range));
}

/**
 * Checks the headers the protocol requires on every PUT, in the order a real front end would:
 * credentials first (401), then the service version and the other required headers (400), then
 * whether the answer format is acceptable (406). Returns the rejection, or undefined when fine.
 */
export function checkRequiredHeaders(
  headers: IncomingHttpHeaders,
  expected: HeaderExpectations,
): Reply | undefined {
  const authorization = present(headers.authorization);
  if (authorization === undefined) {
    return errorReply(401, 'MissingAuthorization', 'The Authorization header is required.');
  }
  if (expected.authorization !== undefined && authorization !== expected.authorization) {
    return errorReply(401, 'InvalidAuthorization', 'The Authorization token is not valid for this upload.');
  }
  const version = present(headers['x-requestedserviceversion']);
  if (version === undefined) {
    return errorReply(400, 'MissingServiceVersion', 'The X-RequestedServiceVersion header is required.');
  }
  if (version.trim() !== expected.serviceVersion) {
    return errorReply(
      400,
      'UnsupportedServiceVersion',
      `X-RequestedServiceVersion must be ${expected.serviceVersion}.`,
    );
  }
  for (const name of ['content-type', 'accept', 'cache-control'] as const) {
    if (present(headers[name]) === undefined) {
      return errorReply(400, 'MissingRequiredHeader', `The ${name} header is required.`);
    }
  }
  if (!acceptsJson(present(headers.accept) ?? '')) {
    return errorReply(406, 'NotAcceptable', 'Accept must allow application/json.');
  }
  return undefined;
}

/** Outcome of the length checks: the declared body length, or the rejection. */
export type LengthCheck = { length: number } | { reply: Reply };

/**
 * Requires a Content-Length body (411 when chunked or absent) no larger than `maxBytes` (413,
 * decided from the header alone) and not empty (400). The 411 for a chunked body and the 413
 * close the connection, because they leave a body unread.
 */
export function checkContentLength(headers: IncomingHttpHeaders, maxBytes: number): LengthCheck {
  if (headers['transfer-encoding'] !== undefined) {
    return {
      reply: errorReply(411, 'LengthRequired', 'Chunked bodies are not accepted; send Content-Length.', {
        close: true,
      }),
    };
  }
  const declared = headers['content-length'];
  if (declared === undefined) {
    return { reply: errorReply(411, 'LengthRequired', 'The Content-Length header is required.') };
  }
  const length = Number(declared);
  if (length > maxBytes) {
    return {
      reply: errorReply(413, 'RequestEntityTooLarge', `The body exceeds ${maxBytes} bytes.`, { close: true }),
    };
  }
  if (length === 0) {
    return { reply: errorReply(400, 'EmptyBody', 'The body must hold at least one byte.') };
  }
  return { length };
}
