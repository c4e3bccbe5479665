import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { invokeWithTimeout, type InvocationOutcome } from './invoke-with-timeout.ts';
import { createLambdaContext } from './lambda-context.ts';
import { judgeBatchResponse } from './sqs-batch-response.ts';
import { toLambdaSqsRecord, type LambdaSqsRecord } from './sqs-record.ts';
import { createWakeableSleeper } from './wake-sleeper.ts';

/** Configuration of a local SQS event source mapping; names follow `CreateEventSourceMapping`. */
export interface SqsEventSourceOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  /** `awsRegion` on every record; defaults to the region in `queueArn`. */
  region?: string | undefined;
  functionName: string;
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void | undefined>;
  /** 1–10 000 (1–10 on FIFO queues). Above 10 needs `maximumBatchingWindowSeconds` ≥ 1, as on AWS. */
  batchSize: number;
  /** 0–300, default 0 (invoke as soon as a receive returns anything). Not allowed on FIFO queues. */
  maximumBatchingWindowSeconds?: number | undefined;
  /** Concurrent invocations, 2–1000: one poller each. */
  maximumConcurrency: number;
  /**
   * Pollers this process runs, 1 to maximumConcurrency (default: all). A process standing for
   * one of the mapping's execution environments runs 1, as the bench's fan-out workers do.
   */
  pollers?: number | undefined;
  /** 1–900. The queue's VisibilityTimeout must be at least this, as AWS checks when the mapping is created. */
  functionTimeoutSeconds: number;
  /** `memoryLimitInMB` in the context; default 128. */
  memorySize?: number | undefined;
  /** The `ReportBatchItemFailures` function response type. */
  reportBatchItemFailures: boolean;
  /** Called when an invocation fails as a whole: handler error, timeout, or an invalid batch response. */
  onInvocationError?: ((error: unknown, event: SQSEvent) => void) | undefined;
  /** Called when talking to SQS fails (the poller retries with back-off); default logs to stderr. */
  onPollerError?: ((error: unknown) => void) | undefined;
  /**
   * Long-poll wait of each ReceiveMessage, whole seconds 0–20. Default 20, as Lambda's pollers
   * long-poll: an idle queue costs one receive per poller per 20 s, not one per second.
   * `stop()` aborts a receive still waiting. (fauxqs does not notice the closed connection: a
   * message sent to the queue within that receive's wait is still taken by it and reappears after
   * its visibility timeout, as from any consumer that drops a long poll.)
   */
  pollWaitSeconds?: number | undefined;
}

/** Running totals of a {@link SqsEventSource}. */
export interface SqsEventSourceStats {
  /** Invocations started. */
  invocations: number;
  /** Records delivered, counting redeliveries. */
  records: number;
  /** Records not deleted after their invocation: reported failures plus every record of a failed batch. */
  failedRecords: number;
  /** Invocations that ran past `functionTimeoutSeconds`. */
  timeouts: number;
  /** Invocations that threw or returned an invalid batch response. */
  errors: number;
}

/** A running local SQS event source mapping. */
export interface SqsEventSource {
  /** Resolves once the queue passed validation and polling started; rejects if the mapping is invalid. */
  readonly ready: Promise<void>;
  readonly stats: Readonly<SqsEventSourceStats>;
  /**
   * Resolves once `count` invocations in total have finished, deletes included; rejects after
   * `timeoutMs` (default 10 000).
   */
  waitForInvocations(count: number, timeoutMs?: number): Promise<void>;
  /**
   * Stops polling and waits for the invocations in progress to finish (each is bounded by the
   * function timeout; a timed-out handler is not waited for). Idempotent.
   */
  stop(): Promise<void>;
}

const MAX_RECEIVE = 10;
const SHORT_POLL_IDLE_MS = 50;

/**
 * Starts polling `queueUrl` and invoking `handler` the way Lambda's SQS event source mapping does:
 * batches built from ReceiveMessage, records in Lambda's shape, successful records deleted, failed
 * ones left to reappear after their visibility timeout. Redrive to a dead-letter queue is the
 * queue's own business (its RedrivePolicy), exactly as on AWS.
 *
 * Invalid settings throw synchronously; a queue whose visibility timeout is shorter than the
 * function timeout makes `ready` reject and nothing is polled.
 */
export function startSqsEventSource(options: SqsEventSourceOptions): SqsEventSource {
  const isFifo = options.queueArn.endsWith('.fifo');
  const windowSeconds = options.maximumBatchingWindowSeconds ?? 0;
  const pollWaitSeconds = options.pollWaitSeconds ?? 20;
  validateOptions(options, isFifo, windowSeconds, pollWaitSeconds);

  const recordSource = {
    eventSourceARN: options.queueArn,
    awsRegion: options.region ?? regionOfArn(options.queueArn),
  };
  const reportPollerError =
    options.onPollerError ?? ((error: unknown) => console.error(`[sqs-event-source ${options.functionName}]`, error));
  const reportInvocationError =
    options.onInvocationError ??
    ((error: unknown) => console.error(`[sqs-event-source ${options.functionName}] invocation failed:`, error));
  const sleeper = createWakeableSleeper();
  const stats: SqsEventSourceStats = { invocations: 0, records: 0, failedRecords: 0, timeouts: 0, errors: 0 };
  let settledInvocations = 0;
  const settledWaiters = new Set<() => void>();
  let stopping = false;
  let stopped: Promise<void> | undefined;
  // Ends the long polls still waiting when stop() is called.
  const stopPolling = new AbortController();
  const pendingDeletes = new Set<Promise<void>>();

  const ready = checkQueue(options);
  const polling = ready.then(
    () => Promise.all(Array.from({ length: options.pollers ?? options.maximumConcurrency }, () => runPoller())),
    (error: unknown) => reportPollerError(error),
  );

  async function runPoller(): Promise<void> {
    let consecutiveFailures = 0;
    while (!stopping) {
      try {
        const messages = await collectBatch();
        consecutiveFailures = 0;
        if (messages.length > 0) {
          await invoke(messages);
        } else if (pollWaitSeconds === 0) {
          await sleeper.sleep(SHORT_POLL_IDLE_MS);
        }
      } catch (error) {
        if (stopping) break;
        reportPollerError(error);
        consecutiveFailures += 1;
        await sleeper.sleep(Math.min(2000, 50 * 2 ** consecutiveFailures));
      }
    }
  }

  async function collectBatch(): Promise<Message[]> {
    const messages = await receive(Math.min(MAX_RECEIVE, options.batchSize), pollWaitSeconds);
    if (messages.length === 0 || windowSeconds === 0) return messages;
    const deadline = performance.now() + windowSeconds * 1000;
    while (messages.length < options.batchSize && !stopping) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) break;
      const waitSeconds = Math.min(pollWaitSeconds, Math.floor(remainingMs / 1000));
      let more: Message[];
      try {
        more = await receive(Math.min(MAX_RECEIVE, options.batchSize - messages.length), waitSeconds);
      } catch (error) {
        // Invoke with what is already held rather than let it sit invisible until its timeout.
        if (!stopping) reportPollerError(error);
        break;
      }
      messages.push(...more);
      if (more.length === 0 && waitSeconds === 0) await sleeper.sleep(Math.min(remainingMs, SHORT_POLL_IDLE_MS));
    }
    return messages;
  }

  async function receive(maxNumberOfMessages: number, waitTimeSeconds: number): Promise<Message[]> {
    const response = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: maxNumberOfMessages,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
      { abortSignal: stopPolling.signal },
    );
    return response.Messages ?? [];
  }

  async function invoke(messages: Message[]): Promise<void> {
    const records = messages.map((message) => toLambdaSqsRecord(message, recordSource));
    // Lambda hands the function a deserialised copy; nothing the handler does to it reaches the poller.
    const event = structuredClone({ Records: records }) as unknown as SQSEvent;
    const context = createLambdaContext({
      functionName: options.functionName,
      timeoutSeconds: options.functionTimeoutSeconds,
      memorySize: options.memorySize,
      region: recordSource.awsRegion,
    });
    stats.invocations += 1;
    stats.records += records.length;
    const outcome = await invokeWithTimeout(options.handler, event, context, options.functionTimeoutSeconds);
    const succeeded = succeededRecords(outcome, records, event);
    stats.failedRecords += records.length - succeeded.length;
    const deleted = deleteRecords(succeeded).then(() => {
      settledInvocations += 1;
      for (const notify of [...settledWaiters]) notify();
    });
    // On a standard queue the poller polls again while the delete is on its way: Lambda deletes
    // a batch once the function succeeded, and nothing it documents waits for that delete. On a
    // FIFO queue the delete is what releases the message group, so the next receive waits for it.
    if (isFifo) return deleted;
    pendingDeletes.add(deleted);
    void deleted.finally(() => pendingDeletes.delete(deleted));
  }

  function succeededRecords(outcome: InvocationOutcome, records: LambdaSqsRecord[], event: SQSEvent): LambdaSqsRecord[] {
    if (outcome.status === 'timed-out') {
      stats.timeouts += 1;
      reportInvocationError(outcome.error, event);
      return [];
    }
    if (outcome.status === 'failed') {
      stats.errors += 1;
      reportInvocationError(outcome.error, event);
      return [];
    }
    if (!options.reportBatchItemFailures) return records;
    const verdict = judgeBatchResponse(outcome.result, new Set(records.map((record) => record.messageId)));
    if (!verdict.valid) {
      stats.errors += 1;
      reportInvocationError(new Error(`Invalid SQSBatchResponse, failing the whole batch: ${verdict.reason}`), event);
      return [];
    }
    return records.filter((record) => !verdict.failedMessageIds.has(record.messageId));
  }

  async function deleteRecords(records: LambdaSqsRecord[]): Promise<void> {
    const chunks: LambdaSqsRecord[][] = [];
    for (let i = 0; i < records.length; i += MAX_RECEIVE) chunks.push(records.slice(i, i + MAX_RECEIVE));
    await Promise.all(
      chunks.map(async (chunk) => {
        try {
          const response = await options.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: options.queueUrl,
              Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
            }),
          );
          for (const failure of response.Failed ?? []) {
            const record = chunk[Number(failure.Id)];
            reportPollerError(new Error(`Could not delete message ${record?.messageId}: ${failure.Code} ${failure.Message}`));
          }
        } catch (error) {
          reportPollerError(error);
        }
      }),
    );
  }

  return {
    ready,
    stats,
    waitForInvocations(count, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (settledInvocations < count) return;
          clearTimeout(timer);
          settledWaiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          settledWaiters.delete(check);
          reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${count} invocations (${settledInvocations} finished)`));
        }, timeoutMs);
        settledWaiters.add(check);
        check();
      });
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        sleeper.wakeAll();
        stopPolling.abort();
        // The pollers end on their own (a waiting receive is aborted, an invocation lasts at most
        // its timeout); the bound only guards against an SQS endpoint that stopped answering.
        const boundMs = (windowSeconds + options.functionTimeoutSeconds) * 1000 + 5000;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([polling.then(() => Promise.all(pendingDeletes)), new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)))]);
        clearTimeout(timer);
      })();
      return stopped;
    },
  };
}

function validateOptions(options: SqsEventSourceOptions, isFifo: boolean, windowSeconds: number, pollWaitSeconds: number): void {
  const maxBatchSize = isFifo ? 10 : 10_000;
  requireInteger('batchSize', options.batchSize, 1, maxBatchSize);
  requireInteger('maximumBatchingWindowSeconds', windowSeconds, 0, 300);
  requireInteger('maximumConcurrency', options.maximumConcurrency, 2, 1000);
  if (options.pollers !== undefined) requireInteger('pollers', options.pollers, 1, options.maximumConcurrency);
  requireInteger('functionTimeoutSeconds', options.functionTimeoutSeconds, 1, 900);
  requireInteger('pollWaitSeconds', pollWaitSeconds, 0, 20);
  if (isFifo && windowSeconds > 0) {
    throw new RangeError('maximumBatchingWindowSeconds is not supported for FIFO queues');
  }
  if (options.batchSize > 10 && windowSeconds < 1) {
    throw new RangeError('maximumBatchingWindowSeconds must be at least 1 when batchSize is greater than 10');
  }
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

async function checkQueue(options: SqsEventSourceOptions): Promise<void> {
  const response = await options.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: options.queueUrl, AttributeNames: ['QueueArn', 'VisibilityTimeout'] }),
  );
  const attributes = response.Attributes ?? {};
  if (attributes.QueueArn !== options.queueArn) {
    throw new Error(`queueUrl ${options.queueUrl} belongs to ${attributes.QueueArn}, not to queueArn ${options.queueArn}`);
  }
  const visibilityTimeout = Number(attributes.VisibilityTimeout);
  if (visibilityTimeout < options.functionTimeoutSeconds) {
    throw new Error(
      `Queue visibility timeout: ${visibilityTimeout} seconds is less than Function timeout: ${options.functionTimeoutSeconds} seconds`,
    );
  }
}

function regionOfArn(arn: string): string {
  const region = arn.split(':')[3];
  if (!region) throw new Error(`Cannot read a region from ARN ${arn}`);
  return region;
}
