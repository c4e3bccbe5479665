/** The units the relay's metrics use (CloudWatch's names). */
export type MetricUnitName = 'Count' | 'Bytes' | 'Milliseconds';

/**
 * Where the relay's metrics go. Powertools' Metrics fits it (EMF in AWS); the local stack
 * passes a recorder. Names are the ones the alarms and the dashboard read.
 */
export interface RelayMetrics {
  addMetric(name: MetricName, unit: MetricUnitName, value: number): void;
}

/** Every metric the relay emits (namespace ClipRelay, dimension service). */
export type MetricName =
  | 'BlocksSent'
  | 'BytesSent'
  | 'PutLatency'
  | 'Retries'
  | 'Redirects'
  | 'ClipsCommitted'
  | 'ClipsFailed'
  | 'ClipsUnconfirmed'
  | 'DropToReceipt'
  | 'StuckClips'
  /** A stored receipt that was no receipt (not JSON, or not the schema), replaced by the finalizer. */
  | 'CorruptReceipts';

/** Metrics that go nowhere, for callers that do not care. */
export const noMetrics: RelayMetrics = { addMetric() {} };
