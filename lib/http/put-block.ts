import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { redact } from '../protocol/redact.ts';
import { requestWith, type UploadDispatcher } from './http.ts';
import type { PutAnswer } from '../protocol/put-answer.ts';

/** The most of an error body the relay reads; a ServiceErrorResponse is far smaller. */
const MAX_ERROR_BODY = 16 * 1024;

/** What one block PUT needs. `body` is consumed (or destroyed) by the call. */
export interface PutBlockRequest {
  dispatcher: UploadDispatcher;
  url: URL;
  authorization: string;
  serviceVersion: string;
  body: Readable;
  contentLength: number;
  signal?: AbortSignal | undefined;
}

// A service or library message could echo the header: the token never travels on in an answer.
async function readErrorBody(body: Dispatcher.ResponseData['body'], authorization: string): Promise<{ errorCode?: string; errorMessage?: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < MAX_ERROR_BODY) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  if (size === 0) return {};
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8', 0, MAX_ERROR_BODY)) as Record<string, unknown>;
    return {
      // Redact first, then cut: a cut could split a token so that no longer matches.
      ...(parsed.errorCode !== undefined && { errorCode: redact(String(parsed.errorCode), authorization).slice(0, 200) }),
      ...(typeof parsed.errorMessage === 'string' && { errorMessage: redact(parsed.errorMessage, authorization).slice(0, 1000) }),
    };
  } catch {
    return {};
  }
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * PUTs one block (docs/protocol.md, "The PUT"): the raw bytes with Content-Length, never chunked,
 * and the five required headers. Never throws for HTTP or network trouble: it returns the
 * answer, and a transport failure is an answer too.
 */
export async function putBlock(input: PutBlockRequest): Promise<PutAnswer> {
  try {
    const response = await requestWith(input.dispatcher, input.url, {
      method: 'PUT',
      signal: input.signal ?? null,
      body: input.body,
      headers: {
        authorization: input.authorization,
        'x-requestedserviceversion': input.serviceVersion,
        'content-type': 'application/octet-stream',
        accept: 'application/json',
        'cache-control': 'no-cache',
        'content-length': String(input.contentLength),
      },
    });
    const location = header(response.headers, 'location');
    const retryAfter = header(response.headers, 'retry-after');
    const errorBody = response.statusCode >= 300 ? await readErrorBody(response.body, input.authorization) : (await response.body.dump(), {});
    return {
      kind: 'response',
      status: response.statusCode,
      ...(location !== undefined && { location }),
      ...(retryAfter !== undefined && { retryAfter }),
      ...errorBody,
    };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    return { kind: 'transport', code: typeof code === 'string' ? code : 'TRANSPORT_ERROR', message: redact(message, input.authorization) };
  } finally {
    if (!input.body.destroyed) input.body.destroy();
  }
}
