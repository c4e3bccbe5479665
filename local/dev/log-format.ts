import type { LogSink } from '../local-logger.ts';

const COLOURS: Record<string, string> = { DEBUG: '\x1b[2m', INFO: '\x1b[36m', WARN: '\x1b[33m', ERROR: '\x1b[31m', CRITICAL: '\x1b[31m' };
const SKIP = new Set(['level', 'message', 'timestamp', 'service', 'function', 'sampling_rate', 'xray_trace_id', 'cold_start', 'function_arn', 'function_memory_size', 'function_name', 'function_request_id']);

/**
 * Turns the functions' JSON log lines into one readable line each for a terminal:
 * `10:02:03 INFO  fan-out   block answered key=… blockNum=3 status=202`.
 */
export function readableLogSink(write: (text: string) => void, colour: boolean): LogSink {
  return (line) => {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      write(`${line}\n`);
      return;
    }
    const level = String(entry.level ?? 'INFO');
    const time = typeof entry.timestamp === 'string' ? entry.timestamp.slice(11, 19) : new Date().toISOString().slice(11, 19);
    const fields = Object.entries(entry)
      .filter(([key, value]) => !SKIP.has(key) && value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const head = `${time} ${level.padEnd(5)} ${String(entry.function ?? '').padEnd(11)} ${String(entry.message ?? '')}`;
    write(colour ? `${COLOURS[level] ?? ''}${head}\x1b[0m ${fields}\n` : `${head} ${fields}\n`);
  };
}
