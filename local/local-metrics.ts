import type { MetricName, MetricUnitName, RelayMetrics } from '../lib/runtime/metrics.ts';

/** The relay's metrics kept in memory: sums and counts per name, for the CLI, tests and bench. */
export interface RecordedMetrics extends RelayMetrics {
  readonly totals: ReadonlyMap<MetricName, { sum: number; count: number; max: number; unit: MetricUnitName }>;
}

/** A RelayMetrics that records instead of emitting EMF. */
export function recordingMetrics(): RecordedMetrics {
  const totals = new Map<MetricName, { sum: number; count: number; max: number; unit: MetricUnitName }>();
  return {
    totals,
    addMetric(name, unit, value) {
      const total = totals.get(name) ?? { sum: 0, count: 0, max: Number.NEGATIVE_INFINITY, unit };
      total.sum += value;
      total.count += 1;
      total.max = Math.max(total.max, value);
      totals.set(name, total);
    },
  };
}
