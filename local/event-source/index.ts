/**
 * Local event sources: deliver to Lambda handlers, in-process, the events AWS would deliver, from
 * fauxqs queues (SQS event source mapping) and buckets (S3 notifications, by polling).
 */
export { asyncFailureRecord, type AsyncFailureRecord } from './async-failure-record.ts';
export { invokeAsync, type AsyncInvocationFailure, type AsyncInvocationOptions, type AsyncInvocationResult } from './async-invocation.ts';
export { invokeWithTimeout, LambdaTimeoutError, type InvocationOutcome, type LambdaHandler } from './invoke-with-timeout.ts';
export { createLambdaContext, LOCAL_ACCOUNT_ID, type LambdaContextOptions } from './lambda-context.ts';
export { encodeS3EventKey } from './s3-event-key.ts';
export { nextS3Sequencer, s3ObjectCreatedEvent, s3TestEvent, type S3ObjectCreatedDetails, type S3TestEvent } from './s3-event.ts';
export {
  deliverS3Event,
  startS3EventSource,
  type S3EventSource,
  type S3EventSourceOptions,
  type S3EventSourceStats,
} from './s3-event-source.ts';
export { judgeBatchResponse, type BatchResponseVerdict } from './sqs-batch-response.ts';
export {
  startSqsEventSource,
  type SqsEventSource,
  type SqsEventSourceOptions,
  type SqsEventSourceStats,
} from './sqs-event-source.ts';
export { toLambdaSqsRecord, type LambdaSqsRecord, type SqsRecordSource } from './sqs-record.ts';
