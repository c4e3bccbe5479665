import { requireBucket } from '../lib/runtime/config.ts';
import { createStuckClipsHandler } from '../lib/stuck-clips/handler.ts';
import { awsRuntime } from './runtime.ts';

const { config, clips, logger, metrics } = awsRuntime();

export const handler = createStuckClipsHandler({
  clips,
  // No S3 event names the bucket here: CLIP_RELAY_BUCKET must, or the cold start fails.
  bucket: requireBucket(config),
  incomingPrefix: config.incomingPrefix,
  receiptsPrefix: config.receiptsPrefix,
  stuckAfterSeconds: config.stuckAfterSeconds,
  logger,
  metrics,
});
