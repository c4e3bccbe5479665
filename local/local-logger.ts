import { Logger } from '@aws-lambda-powertools/logger';
import type { LogItem } from '@aws-lambda-powertools/logger';

/** Where local log lines go: stderr by default, so a CLI's stdout stays its result. */
export type LogSink = (line: string) => void;

/**
 * Powertools' Logger with its JSON lines sent to a sink instead of Lambda's stdout: the same
 * structured logs the deployed functions write, readable by tests and kept off the CLI's stdout.
 */
export class LocalLogger extends Logger {
  readonly #sink: LogSink;

  constructor(options: { serviceName: string; logLevel: string; functionName: string }, sink: LogSink) {
    super({ serviceName: options.serviceName, logLevel: options.logLevel as 'INFO', persistentKeys: { function: options.functionName } });
    this.#sink = sink;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    this.#sink(JSON.stringify(log.getAttributes(), this.getJsonReplacer()));
  }
}
