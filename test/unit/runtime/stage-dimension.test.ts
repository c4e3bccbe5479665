import { describe, expect, it } from 'vitest';
import { relayMetrics } from '../../../functions/runtime.ts';
import { readConfig } from '../../../lib/runtime/config.ts';

const ENV = { CLIP_RELAY_BLOCKS_QUEUE_URL: 'https://sqs.local/1/b', CLIP_RELAY_OUTCOMES_QUEUE_URL: 'https://sqs.local/1/o.fifo' };

describe('Function: relayMetrics', () => {
  it('Should emit every metric with the stage from CLIP_RELAY_STAGE as a dimension beside the service', () => {
    const metrics = relayMetrics(readConfig({ ...ENV, CLIP_RELAY_STAGE: 'prod' }));
    metrics.addMetric('ClipsFailed', 'Count', 1);

    const emf = metrics.serializeMetrics() as unknown as { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }; stage: string };

    expect(emf._aws.CloudWatchMetrics[0]?.Dimensions[0]).toEqual(expect.arrayContaining(['service', 'stage']));
    expect(emf.stage).toBe('prod');
  });

  it('Should refuse a stage that is not a plain name at cold start', () => {
    expect(() => readConfig({ ...ENV, CLIP_RELAY_STAGE: 'prod stage' })).toThrow(/STAGE/);
  });
});
