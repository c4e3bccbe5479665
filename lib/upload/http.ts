import { Agent, type Dispatcher } from 'undici';

/**
 * The HTTP dispatcher for block PUTs: keep-alive connections and a timeout on every phase
 * (connect, response headers, idle body), so a stalled server cannot hang an invocation.
 */
export function createUploadAgent(options: { putTimeoutMs: number; connections: number }): Dispatcher {
  return new Agent({
    connectTimeout: Math.min(10_000, options.putTimeoutMs),
    headersTimeout: options.putTimeoutMs,
    bodyTimeout: options.putTimeoutMs,
    keepAliveTimeout: 30_000,
    connections: options.connections,
  });
}
