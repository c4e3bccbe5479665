import type { IncomingMessage } from 'node:http';

const MAX_TIMER_MS = 2 ** 31 - 1;

/** How reading a body ended: all of it, the first bytes when told to stop early, or the client left. */
export type BodyRead =
  | { kind: 'complete'; bytes: Buffer }
  | { kind: 'partial'; received: number }
  | { kind: 'gone'; received: number };

/**
 * Reads a body of `length` bytes (its Content-Length) into one Buffer allocated up front, or
 * stops once `stopAfter` bytes are in (the request is then paused, not drained).
 */
export function readBody(req: IncomingMessage, length: number, stopAfter = Number.POSITIVE_INFINITY): Promise<BodyRead> {
  return new Promise((resolve) => {
    const buffer = Buffer.allocUnsafe(length);
    let received = 0;
    let settled = false;
    const settle = (result: BodyRead): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onGone);
      req.off('error', onGone);
      resolve(result);
    };
    function onData(chunk: Buffer): void {
      // Node's parser never delivers more than Content-Length; the guard keeps copy() in bounds.
      chunk.copy(buffer, received, 0, Math.max(0, Math.min(chunk.length, length - received)));
      received += chunk.length;
      if (received >= stopAfter) {
        req.pause();
        settle({ kind: 'partial', received });
      }
    }
    function onEnd(): void {
      settle(received === length ? { kind: 'complete', bytes: buffer } : { kind: 'partial', received });
    }
    function onGone(): void {
      settle({ kind: 'gone', received });
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onGone);
    req.on('error', onGone);
  });
}

/**
 * Resolves true after `ms`, or false as soon as the connection behind `req` closes. A delay
 * beyond what a timer can hold (e.g. Infinity) never elapses.
 */
export function holdWhileConnected(req: IncomingMessage, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = req.socket;
    if (socket.destroyed) {
      resolve(false);
      return;
    }
    const timer =
      ms <= MAX_TIMER_MS
        ? setTimeout(() => {
            socket.off('close', onClose);
            resolve(true);
          }, ms)
        : undefined;
    function onClose(): void {
      clearTimeout(timer);
      resolve(false);
    }
    socket.once('close', onClose);
  });
}
