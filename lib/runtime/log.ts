/** Structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/** The logging the relay's lib needs; Powertools' Logger fits it, and so does a test's recorder. */
export interface RelayLogger {
  debug(message: string, ...fields: LogFields[]): void;
  info(message: string, ...fields: LogFields[]): void;
  warn(message: string, ...fields: LogFields[]): void;
  error(message: string, ...fields: LogFields[]): void;
}
