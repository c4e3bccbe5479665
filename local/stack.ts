import type { Readable } from 'node:stream';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { releaseInFlight } from './release-in-flight.ts';
import { Upload } from '@aws-sdk/lib-storage';
import { startFauxqs } from 'fauxqs';
import { createAwsClients } from '../lib/aws/clients.ts';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import type { TokenProvider } from '../lib/aws/token-provider.ts';
import { parseReceipt, receiptKey, type Receipt } from '../lib/protocol/receipt.ts';
import { ticketMetadata, type Ticket } from '../lib/protocol/ticket.ts';
import { startLocalFunctions, type LocalQueue } from './functions.ts';
import { createLocalQueues, localRelayConfig } from './resources.ts';

export type { LocalQueue } from './functions.ts';
import type { LogSink } from './local-logger.ts';
import { countRequests, type RequestCounts } from './request-counter.ts';
import { loadSettings, type Settings } from './settings.ts';

const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** How to run the relay locally. Every field is optional. */
export interface LocalStackOptions {
  /** Adjusts a copy of config/settings.json (queue timings, batch sizes) before anything starts. */
  adjustSettings?: (settings: Settings) => void;
  /** Extra CLIP_RELAY_* variables, as the functions' environment would hold them. */
  env?: Record<string, string>;
  tokens?: TokenProvider;
  /** Powertools log level of the functions; default WARN. */
  logLevel?: string;
  logSink?: LogSink;
  bucket?: string;
  /** fauxqs port (0: any free one) and persistence directories. */
  port?: number;
  dataDir?: string;
  s3StorageDir?: string;
  /** How often the stand-in for S3 notifications lists the bucket; default 100 ms. */
  s3PollIntervalMs?: number;
  /**
   * A restart over persisted state (`dataDir`): the file where the S3 event source records the
   * clips whose event was handled, so clips dropped while nothing ran still get theirs.
   */
  deliveredClipsFile?: string;
  /**
   * This stack is the only consumer of its persisted queues: messages a previous run had
   * received (and a crash left invisible for up to the visibility timeout) are made visible at start.
   */
  releaseInFlight?: boolean;
}

/** What is in a queue right now. */
export interface QueueCounts {
  ready: number;
  inflight: number;
  delayed: number;
}

/**
 * Starts the relay on one machine: fauxqs for S3 and SQS, the real handlers built by the
 * same factories the Lambdas use, and event sources that deliver what AWS would (S3
 * ObjectCreated to the splitter, SQS batches with partial failures and redrive to the others,
 * the blocks DLQ and the splitter's on-failure records (an S3 event it failed on every attempt)
 * to the dead-letter consumer). The scheduled stuck-clips handler has no event
 * source here: `handlers.stuckClips` runs it on demand.
 */
export async function startLocalStack(options: LocalStackOptions = {}) {
  const settings = loadSettings();
  options.adjustSettings?.(settings);
  const bucket = options.bucket ?? 'clip-relay-local';
  if (options.releaseInFlight === true && options.dataDir !== undefined) releaseInFlight(options.dataDir);
  const fauxqs = await startFauxqs({
    port: options.port ?? 0,
    logger: false,
    defaultRegion: REGION,
    ...(options.dataDir !== undefined && { dataDir: options.dataDir }),
    ...(options.s3StorageDir !== undefined && { s3StorageDir: options.s3StorageDir }),
  });
  const { s3, sqs } = createAwsClients({ region: REGION, endpoint: fauxqs.address, credentials: CREDENTIALS });
  const requests: RequestCounts = new Map();
  countRequests(s3, 'S3', requests);
  countRequests(sqs, 'SQS', requests);
  await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: { name?: string }) => {
    if (error.name !== 'BucketAlreadyOwnedByYou' && error.name !== 'BucketAlreadyExists') throw error;
  });

  const queues = createLocalQueues(fauxqs, settings);
  const config = localRelayConfig(queues, settings, options.env);
  const functions = await startLocalFunctions({
    s3,
    sqs,
    region: REGION,
    bucket,
    config,
    settings,
    queues,
    ...(options.tokens !== undefined && { tokens: options.tokens }),
    ...(options.logLevel !== undefined && { logLevel: options.logLevel }),
    ...(options.logSink !== undefined && { logSink: options.logSink }),
    ...(options.s3PollIntervalMs !== undefined && { s3PollIntervalMs: options.s3PollIntervalMs }),
    ...(options.deliveredClipsFile !== undefined && { deliveredClipsFile: options.deliveredClipsFile }),
  });
  const { splitter, fanOut, finalizer, deadLetter, splitterFailures } = functions.sources;
  if (!splitter || !fanOut || !finalizer || !deadLetter || !splitterFailures) throw new Error('the embedded stack runs all four functions');
  const clips = s3ClipStore(s3);

  async function readReceipt(key: string): Promise<Receipt | undefined> {
    const stored = await clips.read(bucket, receiptKey(config.receiptsPrefix, key));
    return stored === undefined ? undefined : parseReceipt(stored.body);
  }

  return {
    endpoint: fauxqs.address,
    region: REGION,
    credentials: CREDENTIALS,
    bucket,
    config,
    settings,
    s3: s3 as S3Client,
    sqs: sqs as SQSClient,
    fauxqs,
    queues,
    /** The handlers as the event sources invoke them, for tests that deliver an event by hand. */
    handlers: functions.handlers,
    /** `splitterFailures`: the dead-letter function's event source on the splitter's on-failure queue. */
    sources: { splitter, fanOut, finalizer, deadLetter, splitterFailures },
    /** What the functions' metrics would have reported to CloudWatch. */
    metrics: functions.metrics,
    /** Invocations and busy time per function. */
    usage: functions.usage,
    /** AWS API calls made by everything in this process, by `Service:Command`. */
    requests,

    /** Puts a clip with its ticket, as a capture pipeline would (multipart above 8 MiB). */
    async putClip(input: { key: string; body: Buffer | Readable; ticket: Ticket }): Promise<void> {
      await new Upload({
        client: s3,
        partSize: 8 * 1024 * 1024,
        queueSize: 4,
        params: { Bucket: bucket, Key: input.key, Body: input.body, Metadata: ticketMetadata(input.ticket) },
      }).done();
    },

    readReceipt,

    /** Polls for the clip's receipt until it exists. @throws after `timeoutMs` */
    async waitForReceipt(key: string, { timeoutMs = 60_000, pollMs = 50 } = {}): Promise<Receipt> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const receipt = await readReceipt(key);
        if (receipt !== undefined) return receipt;
        if (Date.now() > deadline) throw new Error(`no receipt for ${key} after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },

    /** Messages in a queue right now, by state. */
    queueCounts(queue: LocalQueue): QueueCounts {
      const state = fauxqs.inspectQueue(queue.name);
      if (state === undefined) throw new Error(`no queue ${queue.name}`);
      return { ready: state.messages.ready.length, inflight: state.messages.inflight.length, delayed: state.messages.delayed.length };
    },

    /** Stops the event sources, then fauxqs. */
    async stop(): Promise<void> {
      await functions.stop();
      s3.destroy();
      sqs.destroy();
      await fauxqs.stop();
    },
  };
}

/** A running local stack. */
export type LocalStack = Awaited<ReturnType<typeof startLocalStack>>;
