/** The logging the relay's lib needs; Powertools' Logger fits it, and so does a test's recorder. */
export interface RelayLogger {
  debug(message: string, ...extra: object[]): void;
  info(message: string, ...extra: object[]): void;
  warn(message: string, ...extra: object[]): void;
  error(message: string, ...extra: object[]): void;
}
