import { request } from 'undici';
import type { UploadSession } from '../../local/emulator/transfer-service.ts';

/** What the transfer emulator answered to one request. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** The headers a well-behaved client sends with every block, carrying `authorization`. */
export function emulatorHeaders(authorization: string): Record<string, string> {
  return {
    authorization,
    'x-requestedserviceversion': '1',
    'content-type': 'application/octet-stream',
    accept: 'application/json',
    'cache-control': 'no-cache',
  };
}

/** The URL of a session's upload, for block `blockNum` when given. */
export function putUrl(session: UploadSession, blockNum?: number | string): string {
  const block = blockNum === undefined ? '' : `&blockNum=${blockNum}`;
  return `${session.uploadUri}?uploadId=${encodeURIComponent(session.uploadId)}${block}`;
}

export interface PutOptions {
  /** Default: the client's `HEADERS`. */
  headers?: Record<string, string>;
  /** Default: PUT. A GET sends no body. */
  method?: 'PUT' | 'GET' | 'POST';
  /** Aborts the request after this long. Default: the client's `timeoutMs` (none when it has none). */
  timeoutMs?: number;
}

/**
 * A client for the transfer emulator: `HEADERS` (from `authorization`) and `put`, which sends a block
 * with them and reads the whole answer.
 */
export function emulatorClient(defaults: { authorization: string; timeoutMs?: number }) {
  const HEADERS = emulatorHeaders(defaults.authorization);

  async function put(url: string, body: Buffer, options: PutOptions = {}): Promise<Answer> {
    const { headers = HEADERS, method = 'PUT', timeoutMs = defaults.timeoutMs } = options;
    const response = await request(url, {
      method,
      headers,
      body: method === 'GET' ? null : body,
      ...(timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(timeoutMs) }),
    });
    return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
  }

  return { HEADERS, put };
}
