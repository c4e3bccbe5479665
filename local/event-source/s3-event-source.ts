import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { ListObjectsV2Command, type _Object, type S3Client } from '@aws-sdk/client-s3';
import type { Context, S3Event } from 'aws-lambda';
import { invokeAsync, type AsyncInvocationFailure, type AsyncInvocationOptions, type AsyncInvocationResult } from './async-invocation.ts';
import { s3ObjectCreatedEvent, type S3TestEvent } from './s3-event.ts';
import { createWakeableSleeper } from './wake-sleeper.ts';

/** Configuration of a local stand-in for an S3 → Lambda `ObjectCreated:*` notification. */
export interface S3EventSourceOptions {
  s3: S3Client;
  bucket: string;
  /** Only keys starting with this, like a notification's prefix filter; default all keys. */
  prefix?: string | undefined;
  /** `awsRegion` on every record and in the context's ARN; default `us-east-1`. */
  region?: string | undefined;
  functionName: string;
  handler: (event: S3Event, context: Context) => Promise<unknown>;
  functionTimeoutSeconds: number;
  memorySize?: number | undefined;
  /** Pause between two listings of the bucket; default 100 ms. */
  pollIntervalMs?: number | undefined;
  /** Retries of a failed invocation, 0–2; default 2 as on AWS. */
  maximumRetryAttempts?: number | undefined;
  /** Wait before the first retry, doubled for the second; default 100 ms. */
  retryDelayMs?: number | undefined;
  /** Treat the objects already in the bucket at start as old news instead of delivering them. */
  skipExisting?: boolean | undefined;
  /**
   * A JSON file recording the objects whose event was handled (delivered, or given up on), kept
   * across restarts: at start, objects it does not list (dropped while nothing ran, or whose event
   * was cut off by a crash) get their event, the others do not. Written after each such event.
   */
  deliveredFile?: string | undefined;
  /** `s3.configurationId` in the events; default `local-event-source`. */
  configurationId?: string | undefined;
  /**
   * Called when an event is given up on after its retries, as Lambda would then deliver it to an
   * on-failure destination (`asyncFailureRecord` builds that record); awaited. Default logs to stderr.
   */
  onInvocationError?: ((error: unknown, event: S3Event, failure: AsyncInvocationFailure) => unknown) | undefined;
  /** Called when listing the bucket fails (the next poll tries again); default logs to stderr. */
  onPollerError?: ((error: unknown) => void) | undefined;
}

/** Running totals of an {@link S3EventSource}. */
export interface S3EventSourceStats {
  /** Events finished (delivered successfully or given up on). */
  events: number;
  /** Invocations made, retries included. */
  invocations: number;
  /** Invocations that threw. */
  errors: number;
  /** Invocations that ran past the function timeout. */
  timeouts: number;
  /** Events given up on after all retries. */
  failedEvents: number;
}

/** A running S3 notification poller. */
export interface S3EventSource {
  readonly stats: Readonly<S3EventSourceStats>;
  /**
   * Resolves once every object present when it was called has been noticed and its invocation has
   * finished, retries included. Starts the next listing right away instead of after the poll interval.
   */
  flush(): Promise<void>;
  /** Stops polling, cancels pending retries and waits for running invocations. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts delivering one `ObjectCreated` event per new object under `prefix`, since fauxqs sends no
 * bucket notifications. Each listing (ListObjectsV2, every page) is compared with the previous one: an
 * object is new when its key was absent or its ETag or LastModified changed, so re-uploading the same
 * bytes produces an event as it does on S3, while an unchanged object never does. A multipart ETag
 * (`…-N`) yields `ObjectCreated:CompleteMultipartUpload`, anything else `ObjectCreated:Put`.
 *
 * Unlike S3, two writes to one key between two polls produce a single event (for the newest object).
 * Invocations are asynchronous ones: concurrent, unordered, retried on failure (see {@link invokeAsync}).
 */
export function startS3EventSource(options: S3EventSourceOptions): S3EventSource {
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  validateOptions(options, pollIntervalMs);
  const region = options.region ?? 'us-east-1';
  const reportPollerError =
    options.onPollerError ?? ((error: unknown) => console.error(`[s3-event-source ${options.functionName}]`, error));
  const invocationOptions: AsyncInvocationOptions<S3Event> = {
    functionName: options.functionName,
    functionTimeoutSeconds: options.functionTimeoutSeconds,
    handler: options.handler,
    region,
    memorySize: options.memorySize,
    maximumRetryAttempts: options.maximumRetryAttempts,
    retryDelayMs: options.retryDelayMs,
    onInvocationError:
      options.onInvocationError ??
      ((error: unknown) => console.error(`[s3-event-source ${options.functionName}] invocation failed:`, error)),
  };
  const stats: S3EventSourceStats = { events: 0, invocations: 0, errors: 0, timeouts: 0, failedEvents: 0 };
  const delivered = options.deliveredFile === undefined ? undefined : readDelivered(options.deliveredFile);
  const seen = new Map<string, string>(delivered);
  let saving: Promise<void> = Promise.resolve();
  const saveDelivered = () => {
    if (delivered === undefined || options.deliveredFile === undefined) return;
    const file = options.deliveredFile;
    const text = JSON.stringify(Object.fromEntries(delivered));
    saving = saving.then(async () => {
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    }).catch(reportPollerError);
  };
  const inFlight = new Set<Promise<void>>();
  const sleeper = createWakeableSleeper();
  const abortRetries = new AbortController();
  const cycleWaiters = new Set<() => void>();
  let startedCycles = 0;
  let completedCycles = 0;
  let stopping = false;
  let loopEnded = false;
  let stopped: Promise<void> | undefined;

  const loop = (async () => {
    let skipNext = options.skipExisting ?? false;
    while (!stopping) {
      const cycle = ++startedCycles;
      try {
        await pollOnce(skipNext);
        skipNext = false;
      } catch (error) {
        reportPollerError(error);
      }
      completedCycles = cycle;
      notifyCycleWaiters();
      if (!stopping) await sleeper.sleep(pollIntervalMs);
    }
    loopEnded = true;
    notifyCycleWaiters();
  })();

  async function pollOnce(recordOnly: boolean): Promise<void> {
    const present = new Set<string>();
    for (const object of await listAll()) {
      if (object.Key === undefined || object.ETag === undefined) continue;
      present.add(object.Key);
      const fingerprint = `${object.ETag} ${object.LastModified?.toISOString()}`;
      if (seen.get(object.Key) === fingerprint) continue;
      seen.set(object.Key, fingerprint);
      if (!recordOnly) deliver(object, object.Key, object.ETag, fingerprint);
      else delivered?.set(object.Key, fingerprint);
    }
    // Forget deleted keys so that re-creating one, even with identical bytes, is an event again.
    for (const key of seen.keys()) if (!present.has(key)) seen.delete(key);
    let forgot = false;
    for (const key of delivered?.keys() ?? []) if (!present.has(key)) forgot = delivered!.delete(key);
    if (forgot || recordOnly) saveDelivered();
  }

  async function listAll(): Promise<_Object[]> {
    const objects: _Object[] = [];
    let continuationToken: string | undefined;
    do {
      const page = await options.s3.send(
        new ListObjectsV2Command({ Bucket: options.bucket, Prefix: options.prefix, ContinuationToken: continuationToken }),
      );
      objects.push(...(page.Contents ?? []));
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
    return objects;
  }

  function deliver(object: _Object, key: string, eTag: string, fingerprint: string): void {
    const event = s3ObjectCreatedEvent({
      bucket: options.bucket,
      key,
      size: object.Size ?? 0,
      eTag,
      eventName: /-\d+"?$/.test(eTag) ? 'ObjectCreated:CompleteMultipartUpload' : 'ObjectCreated:Put',
      eventTime: object.LastModified,
      region,
      configurationId: options.configurationId,
    });
    const delivery = invokeAsync({ ...invocationOptions, signal: abortRetries.signal }, event)
      .then(
        (result) => {
          addToStats(result);
          delivered?.set(key, fingerprint);
          saveDelivered();
        },
        (error: unknown) => reportPollerError(error),
      )
      .finally(() => inFlight.delete(delivery));
    inFlight.add(delivery);
  }

  function addToStats(result: AsyncInvocationResult): void {
    stats.events += 1;
    stats.invocations += result.attempts;
    stats.errors += result.errors;
    stats.timeouts += result.timeouts;
    if (result.status === 'failed') stats.failedEvents += 1;
  }

  function notifyCycleWaiters(): void {
    for (const notify of [...cycleWaiters]) notify();
  }

  return {
    stats,
    async flush() {
      // A listing already under way may have started before the caller's objects existed: wait for the next one.
      const target = startedCycles + 1;
      await new Promise<void>((resolve) => {
        const check = () => {
          if (completedCycles < target && !loopEnded) return;
          cycleWaiters.delete(check);
          resolve();
        };
        cycleWaiters.add(check);
        check();
        sleeper.wakeAll();
      });
      await Promise.allSettled([...inFlight]);
    },
    stop() {
      stopped ??= (async () => {
        stopping = true;
        abortRetries.abort();
        sleeper.wakeAll();
        await loop;
        // A timed-out handler is not waited for (invokeWithTimeout stops waiting), so this is bounded.
        await Promise.allSettled([...inFlight]);
        await saving;
      })();
      return stopped;
    },
  };
}

/** The delivered-objects file's map, empty when there is none yet. */
function readDelivered(file: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  return new Map(Object.entries(JSON.parse(text) as Record<string, string>));
}

function validateOptions(options: S3EventSourceOptions, pollIntervalMs: number): void {
  const timeout = options.functionTimeoutSeconds;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 900) {
    throw new RangeError(`functionTimeoutSeconds must be an integer from 1 to 900, got ${timeout}`);
  }
  const retries = options.maximumRetryAttempts ?? 2;
  if (!Number.isInteger(retries) || retries < 0 || retries > 2) {
    throw new RangeError(`maximumRetryAttempts must be 0, 1 or 2, got ${retries}`);
  }
  if (!(pollIntervalMs >= 0)) throw new RangeError(`pollIntervalMs must not be negative, got ${pollIntervalMs}`);
}

/**
 * Delivers one hand-made event (an `s3:TestEvent`, an `ObjectRemoved:*`, a crafted key…) to a handler
 * with the same asynchronous-invocation semantics the poller uses: retries, then `onInvocationError`.
 */
export function deliverS3Event<TEvent extends S3Event | S3TestEvent>(
  options: AsyncInvocationOptions<TEvent>,
  event: TEvent,
): Promise<AsyncInvocationResult> {
  return invokeAsync(options, event);
}
