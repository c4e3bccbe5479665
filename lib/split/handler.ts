import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { readS3Notification } from '../protocol/s3-event.ts';
import { splitClip, type SplitResult, type SplitterDeps } from './split-clip.ts';

/**
 * The splitter Lambda: one S3 notification in, each ObjectCreated record planned and enqueued.
 * A record that fails for a passing reason throws, and Lambda's async retry runs it again
 * (block messages are idempotent: the same block PUT twice is harmless).
 */
export function createSplitterHandler(deps: SplitterDeps & { logger: Logger }) {
  return middy<unknown, SplitResult[], Error, Context>()
    .use(injectLambdaContext(deps.logger))
    .handler(async function splitter(event) {
      const notification = readS3Notification(event);
      if (notification.kind === 'test') {
        deps.logger.info('s3:TestEvent ignored: S3 checks the notification configuration with it', { bucket: notification.bucket });
        return [];
      }
      if (notification.kind === 'not-s3') {
        deps.logger.error('event ignored', { problem: notification.problem });
        return [];
      }
      const results: SplitResult[] = [];
      for (const record of notification.records) {
        if ('problem' in record) {
          deps.logger.error('unusable S3 record', { problem: record.problem });
          results.push({ kind: 'ignored', why: record.problem });
          continue;
        }
        results.push(await splitClip(record, deps));
      }
      return results;
    });
}
