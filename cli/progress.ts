import { SingleBar } from 'cli-progress';

/** Block progress on a TTY (blocks done/total, MiB/s); nothing at all elsewhere. */
export interface BlockProgress {
  update(done: number, total: number): void;
  stop(): void;
}

const MiB = 1024 * 1024;

/** A progress bar on `stream` when it is a TTY, else a silent stand-in. */
export function blockProgress(stream: NodeJS.WriteStream, blockSize: number, fileSize: number, startedAt: number): BlockProgress {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar({
    stream,
    format: 'relaying [{bar}] {value}/{total} blocks | {mib} MiB | {rate} MiB/s | {duration_formatted}',
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  return {
    update(done, total) {
      const seconds = Math.max(0.001, (Date.now() - startedAt) / 1000);
      // Every block is blockSize but the last, which may be shorter.
      const bytes = Math.min(done * blockSize, fileSize);
      const payload = { mib: (bytes / MiB).toFixed(1), rate: (bytes / MiB / seconds).toFixed(1) };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
      } else bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
