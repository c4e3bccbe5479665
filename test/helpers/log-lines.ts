/** One Powertools JSON log line, as the local stack's functions write it. */
export interface LogLine {
  level: string;
  message: string;
  /** The function that wrote it (`splitter`, `fan-out`, `finalizer`, `dead-letter`). */
  function?: string;
  timestamp?: string;
  [field: string]: unknown;
}

/**
 * Parses captured log lines. Every line must be a JSON object with a level and a message:
 * a line that is not is a finding in itself, so this throws naming it.
 */
export function parseLogLines(lines: readonly string[]): LogLine[] {
  return lines.map((line, index) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`log line ${index} is not JSON: ${line.slice(0, 300)}`);
    }
    const record = parsed as Partial<LogLine> | null;
    if (typeof record !== 'object' || record === null || typeof record.level !== 'string' || typeof record.message !== 'string') {
      throw new Error(`log line ${index} has no level or message: ${line.slice(0, 300)}`);
    }
    return record as LogLine;
  });
}

/** A position in a log array: lines written after it can be read with {@link LogCursor.lines}. */
export interface LogCursor {
  /** The parsed lines written since the cursor was made. */
  lines(): LogLine[];
  /** Polls until a line written since the cursor matches; @throws after `timeoutMs`, listing what was written. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

/** Marks the current end of `logs`. */
export function logCursor(logs: readonly string[]): LogCursor {
  const start = logs.length;
  const lines = () => parseLogLines(logs.slice(start));
  return {
    lines,
    async waitFor(match, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines().find(match);
        if (found !== undefined) return found;
        if (Date.now() > deadline) {
          const seen = lines().map((l) => `${l.level} ${l.function ?? '?'}: ${l.message}`);
          throw new Error(`no matching log line after ${timeoutMs} ms; written meanwhile:\n${seen.join('\n')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
  };
}

/** True for WARN, ERROR and CRITICAL lines: the ones an operator is alerted by. */
export const isProblemLevel = (line: LogLine): boolean => ['WARN', 'ERROR', 'CRITICAL'].includes(line.level);
