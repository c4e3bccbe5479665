/**
 * Timed sleeps that can all be cut short at once, so a poller waiting between polls or retries
 * notices `stop()` (or a flush request) immediately instead of after its delay.
 */
export interface WakeableSleeper {
  /** Resolves after `ms`, or as soon as {@link WakeableSleeper.wakeAll} is called. */
  sleep(ms: number): Promise<void>;
  wakeAll(): void;
}

/** Creates a {@link WakeableSleeper}. */
export function createWakeableSleeper(): WakeableSleeper {
  const sleepers = new Set<() => void>();
  return {
    sleep(ms) {
      return new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          sleepers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        sleepers.add(wake);
      });
    },
    wakeAll() {
      for (const wake of [...sleepers]) wake();
    },
  };
}
