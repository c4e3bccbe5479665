import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { findStuckClips, type FindStuckClipsDeps, type StuckClipsResult } from './find-stuck-clips.ts';

/**
 * The stuck-clips Lambda: run on a schedule (an EventBridge "Scheduled Event"; the event itself
 * carries nothing it needs, so a manual invocation with `{}` works the same), it counts the
 * clips that have no receipt past the threshold and emits `StuckClips` for the alarm.
 */
export function createStuckClipsHandler(deps: FindStuckClipsDeps & { logger: Logger }) {
  return middy<unknown, StuckClipsResult, Error, Context>()
    .use(injectLambdaContext(deps.logger))
    // EMF in AWS, flushed once per invocation; the local stack passes a plain recorder instead.
    .use(deps.metrics instanceof Metrics ? [logMetrics(deps.metrics)] : [])
    .handler(async function stuckClips() {
      return findStuckClips(deps);
    });
}
