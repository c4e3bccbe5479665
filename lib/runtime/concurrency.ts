/**
 * Per key, one task in flight: callers that ask while it runs share its promise; once it settles
 * the next call starts afresh (nothing is kept, so no answer outlives its moment).
 */
export function createInFlightSharing<T>(): (key: string, start: () => Promise<T>) => Promise<T> {
  const pending = new Map<string, Promise<T>>();
  return function shared(key, start) {
    let running = pending.get(key);
    if (running === undefined) {
      running = start();
      pending.set(key, running);
      const settle = () => pending.delete(key);
      running.then(settle, settle);
    }
    return running;
  };
}

/** Runs the tasks given to it with at most `limit` at once, in the order they were given. */
export function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async function limited<T>(task: () => Promise<T>): Promise<T> {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
