import type { Dispatcher } from 'undici';
// undici's index loads fetch, WebSocket, caches, mocks and proxies too: 760 KB minified, about
// 30 ms to load. The relay needs the Agent and the request API only, which are 320 KB and 25 ms
// loaded from their own modules (undici has no "exports" map; the lockfile pins the version).
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';

/**
 * What the relay asks of a dispatcher. Narrower than undici's `Dispatcher`: an Agent loaded from
 * its own module lacks the `request`/`stream`/... methods undici's index mixes in, so only
 * {@link requestWith} may send with it.
 */
export type UploadDispatcher = Pick<Dispatcher, 'dispatch' | 'close' | 'destroy'>;

/**
 * The HTTP dispatcher for block PUTs: keep-alive connections and a timeout on every phase
 * (connect, response headers, idle body), so a stalled server cannot hang an invocation.
 */
export function createUploadAgent(options: { putTimeoutMs: number; connections: number }): UploadDispatcher {
  return new Agent({
    connectTimeout: Math.min(10_000, options.putTimeoutMs),
    headersTimeout: options.putTimeoutMs,
    bodyTimeout: options.putTimeoutMs,
    keepAliveTimeout: 30_000,
    connections: options.connections,
  });
}

/** `dispatcher.request(...)` for `url`, as undici's top-level `request(url, { dispatcher })` does it. */
export function requestWith(
  dispatcher: UploadDispatcher,
  url: URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>,
): Promise<Dispatcher.ResponseData> {
  return dispatchRequest.call(dispatcher, { ...options, origin: url.origin, path: `${url.pathname}${url.search}` });
}
