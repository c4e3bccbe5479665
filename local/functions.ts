import type { S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Context, S3Event } from 'aws-lambda';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../lib/aws/queues.ts';
import type { TokenProvider } from '../lib/aws/token-provider.ts';
import type { RelayConfig } from '../lib/runtime/config.ts';
import { createDeadLetterHandler } from '../lib/dead-letter/handler.ts';
import { createFanOutHandler } from '../lib/fan-out/handler.ts';
import { createFinalizerHandler } from '../lib/finalize/handler.ts';
import { createSplitterHandler } from '../lib/split/handler.ts';
import { createStuckClipsHandler } from '../lib/stuck-clips/handler.ts';
import { createUploadAgent } from '../lib/http/http.ts';
import { envTokens } from './env-tokens.ts';
import { asyncFailureRecord } from './event-source/async-failure-record.ts';
import type { AsyncInvocationFailure } from './event-source/async-invocation.ts';
import { startS3EventSource } from './event-source/s3-event-source.ts';
import { startSqsEventSource } from './event-source/sqs-event-source.ts';
import { LocalLogger, type LogSink } from './local-logger.ts';
import { recordingMetrics } from './local-metrics.ts';
import type { Settings } from './settings.ts';

/**
 * The relay's functions, as serverless.yml names them (camel-cased). `stuckClips` runs on a
 * schedule in AWS; locally it has no event source: invoke `handlers.stuckClips` to run it.
 */
export type FunctionName = 'splitter' | 'fanOut' | 'finalizer' | 'deadLetter' | 'stuckClips';
export const ALL_FUNCTIONS: readonly FunctionName[] = ['splitter', 'fanOut', 'finalizer', 'deadLetter', 'stuckClips'];

/** A queue of the local stack. */
export interface LocalQueue {
  name: string;
  url: string;
  arn: string;
}

/** Where the functions run and what they talk to. */
export interface LocalFunctionsOptions {
  s3: S3Client;
  sqs: SQSClient;
  region: string;
  bucket: string;
  config: RelayConfig;
  settings: Settings;
  queues: { blocks: LocalQueue; blocksDlq: LocalQueue; outcomes: LocalQueue; outcomesDlq: LocalQueue; splitterFailures: LocalQueue };
  tokens?: TokenProvider;
  logLevel?: string;
  logSink?: LogSink;
  s3PollIntervalMs?: number;
  /** Where the S3 event source records the clips whose event was handled, across restarts (see S3EventSourceOptions.deliveredFile). */
  deliveredClipsFile?: string;
  /** Which functions get an event source here; default all (a worker process may run only one). `stuckClips` has none. */
  run?: readonly FunctionName[];
  /**
   * The fan-out pollers this process runs (default: its maximumConcurrency). 1 makes the
   * process one Lambda execution environment: one invocation at a time, as in AWS.
   */
  fanOutPollers?: number;
}

/**
 * Builds the five handlers with the same factories the Lambdas use, and starts an event source
 * for each function in `run`. Each handler is timed, so a run knows its invocations and busy time.
 */
export async function startLocalFunctions(options: LocalFunctionsOptions) {
  const { s3, sqs, config, settings, queues } = options;
  const run = new Set(options.run ?? ALL_FUNCTIONS);
  const sink: LogSink = options.logSink ?? ((line) => process.stderr.write(`${line}\n`));
  const logger = (functionName: string) => new LocalLogger({ serviceName: 'clip-relay', logLevel: options.logLevel ?? 'WARN', functionName }, sink);
  const metrics = recordingMetrics();
  const clips = s3ClipStore(s3);
  const relayQueues = sqsRelayQueues(sqs, config);
  const fanOutPollers = options.fanOutPollers ?? settings.fanOut.maximumConcurrency;
  const dispatcher = createUploadAgent({ putTimeoutMs: config.putTimeoutMs, connections: config.putConcurrency * fanOutPollers });

  const usage = Object.fromEntries(ALL_FUNCTIONS.map((name) => [name, { invocations: 0, busyMs: 0 }])) as Record<FunctionName, { invocations: number; busyMs: number }>;
  const timed = <E, R>(name: FunctionName, handler: (event: E, context: Context) => Promise<R>) =>
    async function timedHandler(event: E, context: Context): Promise<R> {
      const started = performance.now();
      try {
        return await handler(event, context);
      } finally {
        usage[name].invocations += 1;
        usage[name].busyMs += performance.now() - started;
      }
    };

  const handlers = {
    splitter: timed('splitter', createSplitterHandler({ clips, queues: relayQueues, config, logger: logger('splitter') })),
    fanOut: timed(
      'fanOut',
      createFanOutHandler({
        clips,
        queues: relayQueues,
        tokens: options.tokens ?? envTokens(),
        dispatcher,
        config,
        logger: logger('fan-out'),
        metrics,
        putConcurrency: config.putConcurrency,
      }),
    ),
    finalizer: timed('finalizer', createFinalizerHandler({ clips, config, logger: logger('finalizer'), metrics })),
    deadLetter: timed('deadLetter', createDeadLetterHandler({ queues: relayQueues, config, logger: logger('dead-letter') })),
    // The bucket of this stack, as serverless.yml passes it in CLIP_RELAY_BUCKET.
    stuckClips: timed(
      'stuckClips',
      createStuckClipsHandler({
        clips,
        bucket: options.bucket,
        incomingPrefix: config.incomingPrefix,
        receiptsPrefix: config.receiptsPrefix,
        stuckAfterSeconds: config.stuckAfterSeconds,
        logger: logger('stuck-clips'),
        metrics,
      }),
    ),
  };

  const reportError = (functionName: string) => (error: unknown) =>
    sink(JSON.stringify({ level: 'ERROR', function: functionName, message: 'invocation failed', error: String(error) }));
  // A failed ReceiveMessage/ListObjects (the event source retries it): one line in the log, not a stack trace on stderr.
  const reportPollerError = (functionName: string) => (error: unknown) =>
    sink(JSON.stringify({ level: 'WARN', function: functionName, message: 'event source poll failed', error: String(error) }));
  // serverless.yml: the splitter's `destinations.onFailure`. Lambda sends the record of an event it
  // gave up on to SplitterFailuresQueue with the splitter's role; the dead-letter function consumes it.
  async function splitterGaveUp(error: unknown, event: S3Event, failure: AsyncInvocationFailure): Promise<void> {
    reportError('splitter')(error);
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: queues.splitterFailures.url, MessageBody: JSON.stringify(asyncFailureRecord(event, error, failure)) }));
    } catch (sendError) {
      sink(JSON.stringify({ level: 'ERROR', function: 'splitter', message: 'on-failure destination unreachable: the event is lost', error: String(sendError) }));
    }
  }
  const sqsSource = (name: Exclude<FunctionName, 'splitter' | 'stuckClips'>, queue: LocalQueue, fn: { timeoutSeconds: number; memorySize: number; batchSize: number }, extra: { maximumConcurrency: number; pollers?: number; maximumBatchingWindowSeconds?: number }) =>
    startSqsEventSource({
      sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      region: options.region,
      functionName: name,
      handler: handlers[name],
      batchSize: fn.batchSize,
      functionTimeoutSeconds: fn.timeoutSeconds,
      memorySize: fn.memorySize,
      reportBatchItemFailures: true,
      onInvocationError: reportError(name),
      onPollerError: reportPollerError(name),
      ...extra,
    });

  const sources = {
    splitter: run.has('splitter')
      ? startS3EventSource({
          s3,
          bucket: options.bucket,
          prefix: config.incomingPrefix,
          region: options.region,
          functionName: 'splitter',
          functionTimeoutSeconds: settings.splitter.timeoutSeconds,
          handler: handlers.splitter,
          pollIntervalMs: options.s3PollIntervalMs ?? 100,
          ...(options.deliveredClipsFile !== undefined && { deliveredFile: options.deliveredClipsFile }),
          onInvocationError: splitterGaveUp,
          onPollerError: reportPollerError('splitter'),
        })
      : undefined,
    fanOut: run.has('fanOut')
      ? sqsSource('fanOut', queues.blocks, settings.fanOut, {
          maximumConcurrency: settings.fanOut.maximumConcurrency,
          pollers: fanOutPollers,
          maximumBatchingWindowSeconds: settings.fanOut.maximumBatchingWindowSeconds,
        })
      : undefined,
    // Lambda's minimum maximumConcurrency is 2; the finalizer and dead-letter need no more.
    finalizer: run.has('finalizer') ? sqsSource('finalizer', queues.outcomes, settings.finalizer, { maximumConcurrency: 2 }) : undefined,
    deadLetter: run.has('deadLetter') ? sqsSource('deadLetter', queues.blocksDlq, settings.deadLetter, { maximumConcurrency: 2 }) : undefined,
    // The dead-letter function's second event source: the splitter's on-failure destination.
    splitterFailures: run.has('deadLetter') ? sqsSource('deadLetter', queues.splitterFailures, settings.deadLetter, { maximumConcurrency: 2 }) : undefined,
  };
  await Promise.all([sources.fanOut?.ready, sources.finalizer?.ready, sources.deadLetter?.ready, sources.splitterFailures?.ready]);

  return {
    handlers,
    sources,
    metrics,
    usage,
    /** Stops the event sources (waiting for invocations in progress) and closes the HTTP pool. */
    async stop(): Promise<void> {
      await Promise.all(Object.values(sources).map((source) => source?.stop()));
      await dispatcher.close();
    },
  };
}

/** Running local functions. */
export type LocalFunctions = Awaited<ReturnType<typeof startLocalFunctions>>;
