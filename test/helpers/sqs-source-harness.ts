import {
  SendMessageBatchCommand,
  SQSClient,
  type SendMessageBatchRequestEntry,
  type SendMessageBatchResultEntry,
} from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { startSqsEventSource, type SqsEventSource, type SqsEventSourceOptions } from '../../local/event-source/sqs-event-source.ts';

/** The credentials and region every test client of the fauxqs server uses. */
export const FAUXQS_CLIENT_CONFIG = {
  region: 'us-east-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
} as const;

export interface FauxqsHarnessOptions<Client> {
  /** Builds the test file's AWS client for the server's endpoint. */
  createClient(endpoint: string): Client;
  /** When to assert that no event source reported a poller error: after each test, or once after all of them. */
  checkPollerErrors: 'afterEach' | 'afterAll';
}

/**
 * Starts a fauxqs server and one client for it before the file's tests, and afterwards stops every
 * tracked event source, the client and the server.
 * Call it at the top level of a test file; read `server` and `client` only inside tests and hooks.
 */
export function useFauxqsHarness<Client extends { destroy(): void }>(options: FauxqsHarnessOptions<Client>) {
  let server: FauxqsServer | undefined;
  let client: Client | undefined;
  const sources: Array<{ stop(): Promise<void> }> = [];
  const pollerErrors: unknown[] = [];

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false });
    client = options.createClient(server.address);
  });

  if (options.checkPollerErrors === 'afterEach') {
    afterEach(() => {
      expect(pollerErrors).toEqual([]);
    });
  }

  afterAll(async () => {
    await Promise.all(sources.map((source) => source.stop()));
    if (options.checkPollerErrors === 'afterAll') expect(pollerErrors).toEqual([]);
    client?.destroy();
    await server?.stop();
  });

  return {
    get server(): FauxqsServer {
      if (server === undefined) throw new Error('the fauxqs server is not started yet');
      return server;
    },
    get client(): Client {
      if (client === undefined) throw new Error('the fauxqs client is not created yet');
      return client;
    },
    /** Every error the tracked sources' pollers reported; it must stay empty. */
    pollerErrors,
    /** An `onPollerError` that records into `pollerErrors`. */
    onPollerError: (error: unknown) => {
      pollerErrors.push(error);
    },
    /** Registers a source to be stopped after all tests. */
    track<Source extends { stop(): Promise<void> }>(source: Source): Source {
      sources.push(source);
      return source;
    },
  };
}

export async function waitUntil(condition: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export interface SqsSourceHarnessOptions {
  /** The `functionName` of every source the harness starts. */
  functionName: string;
  checkPollerErrors: FauxqsHarnessOptions<SQSClient>['checkPollerErrors'];
  /** The default timeout of `waitUntil`. */
  waitTimeoutMs: number;
}

type QueueRef = { queueUrl: string; queueArn: string };
type Handler = SqsEventSourceOptions['handler'];

/**
 * A fauxqs server with an SQS client, a queue factory, an SQS event source factory with the tests'
 * defaults (each overridable) and a batch sender.
 */
export function useSqsSourceHarness(options: SqsSourceHarnessOptions) {
  const harness = useFauxqsHarness({
    createClient: (endpoint) => new SQSClient({ endpoint, ...FAUXQS_CLIENT_CONFIG, useQueueUrlAsEndpoint: false }),
    checkPollerErrors: options.checkPollerErrors,
  });
  let queueCount = 0;

  /** Creates a queue (named `queue-N` unless named) whose visibility timeout is 1 s unless `attributes` say otherwise. */
  function createQueue(attributes: Record<string, string> = {}, name = `queue-${++queueCount}`) {
    return { name, ...harness.server.createQueue(name, { attributes: { VisibilityTimeout: '1', ...attributes } }) };
  }

  /** The options `start` gives a source, without starting one. */
  function sourceOptions(queue: QueueRef, overrides: Partial<SqsEventSourceOptions> & Pick<SqsEventSourceOptions, 'handler'>): SqsEventSourceOptions {
    return {
      sqs: harness.client,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      functionName: options.functionName,
      batchSize: 10,
      maximumConcurrency: 2,
      functionTimeoutSeconds: 1,
      reportBatchItemFailures: true,
      onInvocationError: () => {},
      onPollerError: harness.onPollerError,
      ...overrides,
    };
  }

  /** Starts a source on `queue`, stopped after all tests. */
  function start(queue: QueueRef, handler: Handler, overrides: Partial<SqsEventSourceOptions> = {}): SqsEventSource {
    return harness.track(startSqsEventSource(sourceOptions(queue, { handler, ...overrides })));
  }

  /** Sends the entries, in batches of 10, and returns each one's result at its index. */
  async function send(queueUrl: string, entries: Omit<SendMessageBatchRequestEntry, 'Id'>[]) {
    const sent: SendMessageBatchResultEntry[] = [];
    for (let i = 0; i < entries.length; i += 10) {
      const chunk = entries.slice(i, i + 10).map((entry, index) => ({ Id: String(index), ...entry }));
      const response = await harness.client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: chunk }));
      expect(response.Failed ?? []).toEqual([]);
      for (const ok of response.Successful ?? []) sent[i + Number(ok.Id)] = ok;
    }
    return sent;
  }

  function sendBodies(queueUrl: string, bodies: string[]) {
    return send(queueUrl, bodies.map((MessageBody) => ({ MessageBody })));
  }

  function depth(queueName: string) {
    const { messages } = harness.server.inspectQueue(queueName)!;
    return { ready: messages.ready.length, inflight: messages.inflight.length, delayed: messages.delayed.length };
  }

  return {
    get server() {
      return harness.server;
    },
    get sqs() {
      return harness.client;
    },
    pollerErrors: harness.pollerErrors,
    onPollerError: harness.onPollerError,
    createQueue,
    sourceOptions,
    start,
    send,
    sendBodies,
    depth,
    waitUntil: (condition: () => boolean, timeoutMs = options.waitTimeoutMs) => waitUntil(condition, timeoutMs),
  };
}
