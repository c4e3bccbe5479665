import type { startFauxqs } from 'fauxqs';
import { readConfig, type RelayConfig } from '../lib/runtime/config.ts';
import type { LocalQueue } from './functions.ts';
import type { Settings } from './settings.ts';

type Fauxqs = Awaited<ReturnType<typeof startFauxqs>>;

/** The relay's five queues. */
export interface LocalQueues {
  blocks: LocalQueue;
  blocksDlq: LocalQueue;
  outcomes: LocalQueue;
  outcomesDlq: LocalQueue;
  /** The splitter's on-failure destination (SplitterFailuresQueue), consumed by the dead-letter function. */
  splitterFailures: LocalQueue;
}

/** Creates the queues of serverless.yml in fauxqs, with the same attributes and redrive policies. */
export function createLocalQueues(fauxqs: Fauxqs, settings: Settings): LocalQueues {
  const queue = (name: string, attributes: Record<string, string>): LocalQueue => {
    // A queue restored from persisted state keeps its messages: creating it again would empty it.
    const restored = fauxqs.inspectQueue(name);
    if (restored !== undefined) return { name, url: restored.url, arn: restored.arn };
    const created = fauxqs.createQueue(name, { attributes });
    return { name, url: created.queueUrl, arn: created.queueArn };
  };
  const redrive = (dlq: LocalQueue, maxReceiveCount: number) => JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount });
  const blocksDlq = queue('clip-relay-blocks-dlq', {
    VisibilityTimeout: String(settings.deadLetter.queueVisibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.blocksQueue.messageRetentionSeconds),
  });
  const blocks = queue('clip-relay-blocks', {
    VisibilityTimeout: String(settings.blocksQueue.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.blocksQueue.messageRetentionSeconds),
    RedrivePolicy: redrive(blocksDlq, settings.blocksQueue.maxReceiveCount),
  });
  const outcomesDlq = queue('clip-relay-outcomes-dlq.fifo', { FifoQueue: 'true' });
  const outcomes = queue('clip-relay-outcomes.fifo', {
    FifoQueue: 'true',
    VisibilityTimeout: String(settings.outcomesQueue.visibilityTimeoutSeconds),
    RedrivePolicy: redrive(outcomesDlq, settings.outcomesQueue.maxReceiveCount),
  });
  // Consumed by the dead-letter function like the blocks DLQ, hence its visibility timeout.
  const splitterFailures = queue('clip-relay-splitter-failures', {
    VisibilityTimeout: String(settings.deadLetter.queueVisibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.blocksQueue.messageRetentionSeconds),
  });
  return { blocks, blocksDlq, outcomes, outcomesDlq, splitterFailures };
}

/** The functions' CLIP_RELAY_* environment as serverless.yml would set it, from the same settings file. */
export function localRelayEnv(queues: LocalQueues, settings: Settings, env: Record<string, string> = {}): Record<string, string> {
  return {
    CLIP_RELAY_BLOCKS_QUEUE_URL: queues.blocks.url,
    CLIP_RELAY_OUTCOMES_QUEUE_URL: queues.outcomes.url,
    CLIP_RELAY_INCOMING_PREFIX: settings.incomingPrefix,
    CLIP_RELAY_RECEIPTS_PREFIX: settings.receiptsPrefix,
    CLIP_RELAY_MAX_BLOCK_BYTES: String(settings.maxBlockBytes),
    CLIP_RELAY_SERVICE_VERSION: settings.serviceVersion,
    CLIP_RELAY_ALLOWED_HOSTS: settings.allowedHosts,
    CLIP_RELAY_PUT_CONCURRENCY: String(settings.fanOut.putConcurrency),
    CLIP_RELAY_PUT_TIMEOUT_MS: String(settings.fanOut.putTimeoutMs),
    CLIP_RELAY_MAX_ATTEMPTS: String(settings.blocksQueue.maxReceiveCount),
    CLIP_RELAY_BACKOFF_BASE_MS: String(settings.backoff.baseMs),
    CLIP_RELAY_BACKOFF_CAP_MS: String(settings.backoff.capMs),
    CLIP_RELAY_STUCK_AFTER_SECONDS: String(settings.stuckClips.stuckAfterSeconds),
    ...env,
  };
}

/** The functions' configuration, read from {@link localRelayEnv} as a cold start would. */
export function localRelayConfig(queues: LocalQueues, settings: Settings, env: Record<string, string> = {}): RelayConfig {
  return readConfig(localRelayEnv(queues, settings, env));
}
