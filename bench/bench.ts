// `npm run bench [-- --json]`: what the relay adds over a plain copier (speed, CPU), our cold start
// over the SDK's, memory, size, cost and a burst of clips, each against a goal. Machines here are
// shared and noisy: the speed figures are ratios to baselines measured in the same run, in
// processes laid out alike. Progress goes to stderr; the table (or JSON, last line) to stdout.
// Run it through `npm run bench`: this process holds GiBs of Buffers for the stand-in services
// and needs the larger initial old space package.json gives it, or V8 keeps mark-compacting.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { build } from 'esbuild';
import { startFauxqs } from 'fauxqs';
import { createAwsClients } from '../lib/aws/clients.ts';
import type { ClipStore } from '../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../lib/aws/queues.ts';
import { MAX_CLIP_BYTES } from '../lib/protocol/block-plan.ts';
import { parseReceipt, receiptKey, type Receipt } from '../lib/protocol/receipt.ts';
import { ticketMetadata } from '../lib/protocol/ticket.ts';
import { readConfig } from '../lib/runtime/config.ts';
import { splitClip } from '../lib/split/split-clip.ts';
import { startTransferEmulator } from '../local/emulator/transfer-service.ts';
import { startLocalFunctions, type FunctionName } from '../local/functions.ts';
import { countRequests, type RequestCounts } from '../local/request-counter.ts';
import { createLocalQueues, localRelayEnv } from '../local/resources.ts';
import { loadSettings } from '../local/settings.ts';
import { measureBundles } from './bundles.ts';
import type { CopyInput } from './copier.ts';
import prices from './prices.json' with { type: 'json' };

const ROOT = new URL('..', import.meta.url).pathname;
const MiB = 1024 * 1024;
const GB = 1e9;
const CLIP_BYTES = 256 * MiB;
const BLOCK_BYTES = 2 * MiB;
// Total PUTs in flight for every uploader: fan-out environments x PUTs per invocation. The
// defaults are the deployed settings: Lambda's minimum maximumConcurrency (2) and
// settings.fanOut.putConcurrency. Knobs for exploring (env BENCH_*).
const FAN_OUT_ENVIRONMENTS = Number(process.env.BENCH_FAN_OUT_ENVIRONMENTS ?? 2);
// Read once: the relay's own copy is a clone the bench adjusts.
const SETTINGS = loadSettings();
const PUTS_PER_INVOCATION = Number(process.env.BENCH_PUTS_PER_INVOCATION ?? SETTINGS.fanOut.putConcurrency);
const BATCH_SIZE = process.env.BENCH_BATCH_SIZE === undefined ? undefined : Number(process.env.BENCH_BATCH_SIZE);
const CONCURRENCY = FAN_OUT_ENVIRONMENTS * PUTS_PER_INVOCATION;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// The burst: this many clips of BURST_CLIP_BYTES, all in the bucket when the notifications start.
const BURST_CLIPS = Number(process.env.BENCH_BURST_CLIPS ?? 100);
const BURST_CLIP_BYTES = 4 * MiB;
// A burst runs in each of the first BURST_ROUNDS rounds, right after that round's single relay.
const BURST_ROUNDS = Math.min(Number(process.env.BENCH_BURST_ROUNDS ?? 3), ROUNDS);
for (const [name, value] of Object.entries({
  BENCH_FAN_OUT_ENVIRONMENTS: FAN_OUT_ENVIRONMENTS,
  BENCH_PUTS_PER_INVOCATION: PUTS_PER_INVOCATION,
  BENCH_ROUNDS: ROUNDS,
  BENCH_BATCH_SIZE: BATCH_SIZE ?? 1,
  BENCH_BURST_CLIPS: BURST_CLIPS,
  BENCH_BURST_ROUNDS: BURST_ROUNDS,
})) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1, got ${value}`);
}
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const TOKEN = `XBL3.0 x=bench;${randomBytes(16).toString('hex')}`;
const json = process.argv.includes('--json');
const progress = (line: string) => process.stderr.write(`bench: ${line} (load ${loadavg()[0]!.toFixed(2)})\n`);

interface WorkerReport {
  peakRssMiB: number;
  peaks: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  readyRssMiB: number;
  /** CPU from its first batch received to its last deleted, its local SQS poller included. */
  cpuMs: number;
  /** CPU while batches were in the function's hands: the function's own (Lambda's pollers receive and delete). */
  invocationCpuMs: number;
  /** Wall ms from each batch's delete to the next batch in hand. */
  batchGaps: number[];
  usage: { invocations: number; busyMs: number };
  requests: Record<string, number>;
}

/** A run of the relay: one clip, or a burst of them. */
interface RelayRun {
  /** From the drop (the burst: the notifications starting) to the last receipt. */
  ms: number;
  firstPutMs: number;
  /** The single clip: from the last PUT's answer to the receipt. */
  commitToReceiptMs?: number;
  clips: number;
  committed: number;
  bytes: number;
  /** One report per fan-out environment (process). */
  workers: WorkerReport[];
  usage: Record<FunctionName, { invocations: number; busyMs: number }>;
  requests: Record<string, number>;
  /** The burst: [first, last] ms of each stage's events. */
  timeline?: Record<string, number[]>;
}

/** A baseline uploader's run in its own process. */
interface BaselineRun {
  ms: number;
  cpuMs: number;
}

type WorkerName = 'fan-out-worker' | 'direct-worker' | 'copier-worker';

/**
 * A bench worker bundled the way serverless.yml bundles the Lambdas (esbuild, ESM, minified,
 * @aws-sdk external): running it as TypeScript would add Node's type stripper to its memory.
 */
async function bundleWorker(dir: string, name: WorkerName): Promise<string> {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    entryPoints: [new URL(`./${name}.ts`, import.meta.url).pathname],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    keepNames: true,
    external: ['@aws-sdk/*'],
    define: { esbuildDetection: 'true' },
    outfile,
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'error',
  });
  return outfile;
}

/** Rejects when `worker` exits: a bad BENCH_* knob or a crash fails the bench instead of hanging it. */
function workerExit(worker: ChildProcess): Promise<never> {
  const exited = once(worker, 'exit').then(([code, signal]): never => {
    throw new Error(`a bench worker exited (${signal ?? `code ${code}`}) before reporting`);
  });
  exited.catch(() => {});
  return exited;
}

/** A worker's next message, or the reason it will never come. */
async function workerMessage(worker: ChildProcess): Promise<unknown> {
  return (await Promise.race([once(worker, 'message'), workerExit(worker)]))[0];
}

/** Runs a baseline worker to its report; the uploaders run with Node's defaults, not this process's heap flag. */
async function runBaseline(bundle: string, input: unknown): Promise<BaselineRun> {
  const worker = fork(bundle, [JSON.stringify(input)], { execArgv: [] });
  const exited = once(worker, 'exit');
  try {
    return (await workerMessage(worker)) as BaselineRun;
  } finally {
    // It exits once it has reported; a worker that failed to is killed.
    const timer = setTimeout(() => worker.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Uploads `file` with the direct uploader, in a process of its own as a team's uploader would run. */
async function directOnce(file: string, bytes: Buffer, directBundle: string): Promise<BaselineRun> {
  const emulator = await startTransferEmulator({ authorization: TOKEN });
  const expectedBlocks = Math.ceil(bytes.length / BLOCK_BYTES);
  const session = emulator.openSession({ expectedBlocks, fileSize: bytes.length });
  try {
    const run = await runBaseline(directBundle, { file, size: bytes.length, uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks, authorization: TOKEN, concurrency: CONCURRENCY });
    if (!emulator.committed(session.uploadId)?.equals(bytes)) throw new Error('direct upload did not commit the exact bytes');
    return run;
  } finally {
    await emulator.close();
  }
}

/**
 * Where a run happens: fauxqs (S3 and SQS) and the emulator in this process, the relay's queues
 * and configuration as serverless.yml makes them, a client for the bench's own calls (not counted).
 */
async function startBenchStack() {
  const emulator = await startTransferEmulator({ authorization: TOKEN });
  // The spy tells the bench when a receipt lands, without polling S3 for it (which took CPU
  // from the relay it measures).
  const fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: REGION, messageSpies: { bufferSize: 10_000 } });
  const settings = structuredClone(SETTINGS);
  settings.fanOut.maximumConcurrency = FAN_OUT_ENVIRONMENTS;
  if (BATCH_SIZE !== undefined) settings.fanOut.batchSize = BATCH_SIZE;
  const queues = createLocalQueues(fauxqs, settings);
  const relayEnv = localRelayEnv(queues, settings, { CLIP_RELAY_ALLOWED_HOSTS: '127.0.0.1', CLIP_RELAY_PUT_CONCURRENCY: String(PUTS_PER_INVOCATION) });
  const config = readConfig(relayEnv);
  const bench = createAwsClients({ region: REGION, endpoint: fauxqs.address, credentials: CREDENTIALS });
  const bucket = 'clip-relay-bench';
  await bench.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    emulator,
    fauxqs,
    settings,
    queues,
    relayEnv,
    config,
    bench,
    bucket,
    async stop() {
      bench.s3.destroy();
      bench.sqs.destroy();
      await fauxqs.stop();
      await emulator.close();
    },
  };
}
type BenchStack = Awaited<ReturnType<typeof startBenchStack>>;

/** Drops a clip with its ticket, as a capture pipeline would (multipart above 8 MiB). */
async function dropClip(stack: BenchStack, key: string, body: Buffer | string, ticket: Parameters<typeof ticketMetadata>[0]): Promise<void> {
  const params = { Bucket: stack.bucket, Key: key, Metadata: ticketMetadata(ticket) };
  if (typeof body === 'string') {
    await new Upload({ client: stack.bench.s3, partSize: 8 * MiB, queueSize: 4, params: { ...params, Body: createReadStream(body) } }).done();
  } else {
    await stack.bench.s3.send(new PutObjectCommand({ ...params, Body: body }));
  }
}

/** Copies `file` from the emulated S3 to the emulator with the copier baseline, in a process of its own. */
async function copierOnce(file: string, bytes: Buffer, copierBundle: string): Promise<BaselineRun> {
  const stack = await startBenchStack();
  try {
    const expectedBlocks = Math.ceil(bytes.length / BLOCK_BYTES);
    const session = stack.emulator.openSession({ expectedBlocks, fileSize: bytes.length });
    const key = `${stack.config.incomingPrefix}copier-${Date.now()}.mp4`;
    await dropClip(stack, key, file, { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks });
    const etag = (await stack.bench.s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }))).ETag!.replaceAll('"', '');
    const input: CopyInput = {
      endpoint: stack.fauxqs.address,
      region: REGION,
      clip: { bucket: stack.bucket, key, etag, size: bytes.length },
      maxBlockBytes: BLOCK_BYTES,
      uploadUri: session.uploadUri,
      uploadId: session.uploadId,
      expectedBlocks,
      authorization: TOKEN,
      concurrency: CONCURRENCY,
    };
    const run = await runBaseline(copierBundle, input);
    if (!stack.emulator.committed(session.uploadId)?.equals(bytes)) throw new Error('the copier did not commit the exact bytes');
    return run;
  } finally {
    await stack.stop();
  }
}

/**
 * The relay's functions on `stack`: the splitter, finalizer and dead-letter here (started by
 * `startHarnessFunctions`, so a burst can be in the bucket before the notifications start); the
 * fan-out as FAN_OUT_ENVIRONMENTS processes, each one Lambda execution environment (one
 * invocation at a time), as AWS runs it.
 */
async function startRelay(stack: BenchStack, workerBundle: string) {
  // The relay's own clients are counted; the bench's (dropping clips) are not.
  const relay = createAwsClients({ region: REGION, endpoint: stack.fauxqs.address, credentials: CREDENTIALS });
  const requests: RequestCounts = new Map();
  countRequests(relay.s3, 'S3', requests);
  countRequests(relay.sqs, 'SQS', requests);
  const workers = Array.from({ length: FAN_OUT_ENVIRONMENTS }, () =>
    fork(workerBundle, [JSON.stringify({ endpoint: stack.fauxqs.address, region: REGION, bucket: stack.bucket, settings: stack.settings, configEnv: stack.relayEnv, queues: stack.queues })], {
      env: { ...process.env, XBL_AUTHORIZATION: TOKEN, MALLOC_ARENA_MAX: String(stack.settings.fanOut.mallocArenaMax) },
      execArgv: (process.env.BENCH_WORKER_NODE_OPTIONS ?? stack.settings.fanOut.v8Flags).split(' ').filter(Boolean),
    }),
  );
  let functions: Awaited<ReturnType<typeof startLocalFunctions>> | undefined;
  await Promise.all(workers.map(workerMessage));
  const anyWorkerExit = Promise.race(workers.map(workerExit));
  // Also settles when the workers exit after reporting: only a run still waiting on it cares.
  anyWorkerExit.catch(() => {});
  return {
    workers,
    /** Rejects as soon as a fan-out environment dies, so a run fails at once, not after its timeout. */
    anyWorkerExit,
    startHarnessFunctions: async () => {
      functions = await startLocalFunctions({
        ...relay,
        region: REGION,
        bucket: stack.bucket,
        config: stack.config,
        settings: stack.settings,
        queues: stack.queues,
        logLevel: 'ERROR',
        run: ['splitter', 'finalizer', 'deadLetter'],
      });
    },
    /**
     * S3 pushes its event notifications; the local stand-in lists the bucket every 100 ms. The
     * bench wakes it at the drop, so the run does not carry up to 100 ms of the stand-in's
     * polling. (AWS's own notification delay is outside the relay and not modelled.)
     */
    notifyDrop() {
      functions?.sources.splitter?.flush().catch(() => {});
    },
    /** Stops everything and collects what each part used. */
    async finish(): Promise<Pick<RelayRun, 'workers' | 'usage' | 'requests'>> {
      const reports = await Promise.all(
        workers.map((worker) => {
          worker.send({ stop: true });
          return workerMessage(worker) as Promise<WorkerReport>;
        }),
      );
      const harness = functions;
      if (harness === undefined) throw new Error('the harness functions never started');
      functions = undefined;
      await harness.stop();
      return { workers: reports, usage: { ...harness.usage }, requests: Object.fromEntries(requests) };
    },
    async stop() {
      // A worker that reported exits on its own (writing a --cpu-prof profile on the way); the rest are killed.
      await Promise.all(
        workers.map(async (worker) => {
          if (worker.exitCode !== null || worker.signalCode !== null) return;
          const exited = once(worker, 'exit');
          const timer = setTimeout(() => worker.kill(), 5000);
          await exited;
          clearTimeout(timer);
        }),
      );
      await functions?.stop();
      relay.s3.destroy();
      relay.sqs.destroy();
    },
  };
}

/** The receipt of `key`, once it has landed. */
async function readBenchReceipt(stack: BenchStack, key: string): Promise<Receipt> {
  const object = await stack.bench.s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: receiptKey(stack.config.receiptsPrefix, key) }));
  return parseReceipt(await object.Body!.transformToString());
}

/** Relays `file` once, from its drop to its receipt. */
async function relayOnce(file: string, bytes: Buffer, workerBundle: string): Promise<RelayRun> {
  const stack = await startBenchStack();
  const relay = await startRelay(stack, workerBundle).catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  try {
    await relay.startHarnessFunctions();
    const expectedBlocks = Math.ceil(bytes.length / BLOCK_BYTES);
    const session = stack.emulator.openSession({ expectedBlocks, fileSize: bytes.length });
    const key = `${stack.config.incomingPrefix}bench-${Date.now()}.mp4`;
    const receiptLanded = stack.fauxqs.spy.waitForMessage({ service: 's3', bucket: stack.bucket, key: receiptKey(stack.config.receiptsPrefix, key) }, 'uploaded', 300_000);
    await dropClip(stack, key, file, { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks });
    const dropped = Date.now();
    relay.notifyDrop();
    const landedAt = (await Promise.race([receiptLanded, relay.anyWorkerExit])).timestamp;
    const ms = landedAt - dropped;
    const receipt = await readBenchReceipt(stack, key);
    if (receipt.status !== 'committed' || !stack.emulator.committed(session.uploadId)?.equals(bytes)) {
      throw new Error(`relay did not commit the exact bytes: ${JSON.stringify(receipt)}`);
    }
    const putTimes = stack.emulator.requests.map((request) => request.at);
    const firstPutMs = Math.min(...putTimes) - dropped;
    // The committing PUT's answer to the receipt: the outcome's trip through FIFO and the finalizer.
    const commitToReceiptMs = landedAt - Math.max(...putTimes);
    return { ms, firstPutMs, commitToReceiptMs, clips: 1, committed: 1, bytes: bytes.length, ...(await relay.finish()) };
  } finally {
    await relay.stop();
    await stack.stop();
  }
}

/**
 * BURST_CLIPS clips of 4 MiB, all in the bucket before the splitter's notifications start, so the
 * relay gets them at once, as from clients dropping them in the same instant; timed from the
 * notifications starting to the last receipt.
 */
async function burstOnce(clipBytes: Buffer[], workerBundle: string): Promise<RelayRun> {
  const stack = await startBenchStack();
  const relay = await startRelay(stack, workerBundle).catch(async (error: unknown) => {
    await stack.stop();
    throw error;
  });
  try {
    const clips = clipBytes.map((body, i) => {
      const expectedBlocks = Math.ceil(body.length / BLOCK_BYTES);
      const session = stack.emulator.openSession({ expectedBlocks, fileSize: body.length });
      return { key: `${stack.config.incomingPrefix}burst/clip-${String(i).padStart(4, '0')}.mp4`, body, session, expectedBlocks };
    });
    const limitedDrops = [...clips];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let clip = limitedDrops.shift(); clip !== undefined; clip = limitedDrops.shift()) {
          await dropClip(stack, clip.key, clip.body, { uploadUri: clip.session.uploadUri, uploadId: clip.session.uploadId, expectedBlocks: clip.expectedBlocks });
        }
      }),
    );
    const receipts = Promise.all(
      clips.map((clip) => stack.fauxqs.spy.waitForMessage({ service: 's3', bucket: stack.bucket, key: receiptKey(stack.config.receiptsPrefix, clip.key) }, 'uploaded', 300_000)),
    );
    const started = Date.now();
    await relay.startHarnessFunctions();
    const landed = await Promise.race([receipts, relay.anyWorkerExit]);
    const ms = Math.max(...landed.map((event) => event.timestamp)) - started;
    let committed = 0;
    for (const clip of clips) {
      const receipt = await readBenchReceipt(stack, clip.key);
      if (receipt.status === 'committed' && stack.emulator.committed(clip.session.uploadId)?.equals(clip.body)) committed += 1;
    }
    const firstPutMs = Math.min(...stack.emulator.requests.map((request) => request.at)) - started;
    const bytes = clipBytes.reduce((sum, body) => sum + body.length, 0);
    // Where the time went, ms from the start: each stage's first and last event.
    const events = stack.fauxqs.spy.getAllMessages();
    const span = (times: number[]) => (times.length === 0 ? [] : [Math.min(...times) - started, Math.max(...times) - started]);
    const timeline = {
      blocksEnqueued: span(events.filter((e) => e.service === 'sqs' && e.queueName === stack.queues.blocks.name && e.status === 'published').map((e) => e.timestamp)),
      puts: span(stack.emulator.requests.map((request) => request.at)),
      outcomesEnqueued: span(events.filter((e) => e.service === 'sqs' && e.queueName === stack.queues.outcomes.name && e.status === 'published').map((e) => e.timestamp)),
      receipts: span(landed.map((event) => event.timestamp)),
    };
    return { ms, firstPutMs, clips: clips.length, committed, bytes, timeline, ...(await relay.finish()) };
  } finally {
    await relay.stop();
    await stack.stop();
  }
}

/** Plans and enqueues a 4 GiB - 1 clip (2048 blocks) in one splitter call against real (embedded) SQS. */
async function planFourGiB(): Promise<number> {
  const fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: REGION });
  const { sqs } = createAwsClients({ region: REGION, endpoint: fauxqs.address, credentials: CREDENTIALS });
  try {
    const blocks = fauxqs.createQueue('bench-blocks');
    const outcomes = fauxqs.createQueue('bench-outcomes.fifo', { attributes: { FifoQueue: 'true' } });
    // Only HeadObject is stood in for: the embedded S3 cannot hold 4 GiB for a bench.
    const clips = {
      head: async () => ({ size: MAX_CLIP_BYTES, etag: 'e', metadata: ticketMetadata({ uploadUri: 'https://a.xboxlive.com/c', uploadId: 'i', expectedBlocks: 2048 }) }),
    } as unknown as ClipStore;
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    const started = performance.now();
    const result = await splitClip(
      { bucket: 'b', key: 'incoming/4gib.mp4', etag: 'e', eventTime: new Date().toISOString() },
      { clips, queues: sqsRelayQueues(sqs, { blocksQueueUrl: blocks.queueUrl, outcomesQueueUrl: outcomes.queueUrl }), config: { incomingPrefix: 'incoming/', maxBlockBytes: BLOCK_BYTES, maxSinglePutBytes: MAX_CLIP_BYTES, allowedHosts: ['*.xboxlive.com'] }, logger: silent },
    );
    const ms = performance.now() - started;
    if (result.kind !== 'enqueued' || result.blocks !== 2048) throw new Error(`4 GiB plan: ${JSON.stringify(result)}`);
    return ms;
  } finally {
    sqs.destroy();
    await fauxqs.stop();
  }
}

/** USD to relay 1 GB, from the AWS requests and Lambda time one run actually used. */
function costPerGB(run: RelayRun) {
  const counts = new Map<string, number>();
  for (const source of [run.requests, ...run.workers.map((worker) => worker.requests)]) {
    for (const [name, n] of Object.entries(source)) counts.set(name, (counts.get(name) ?? 0) + n);
  }
  // Listing is the local stand-in for S3 notifications, which AWS does not bill.
  counts.delete('S3:ListObjectsV2');
  let s3Usd = 0;
  let sqsUsd = 0;
  for (const [name, n] of counts) {
    if (name === 'S3:GetObject' || name === 'S3:HeadObject') s3Usd += (n / 1000) * prices.s3.getHeadPer1000;
    else if (name.startsWith('S3:')) s3Usd += (n / 1000) * prices.s3.putCopyPostListPer1000;
    else if (name.startsWith('SQS.fifo:')) sqsUsd += (n / 1e6) * prices.sqs.fifoPerMillion;
    else sqsUsd += (n / 1e6) * prices.sqs.standardPerMillion;
  }
  const settings = SETTINGS;
  const memoryGB: Record<FunctionName, number> = {
    splitter: settings.splitter.memorySize / 1024,
    fanOut: settings.fanOut.memorySize / 1024,
    finalizer: settings.finalizer.memorySize / 1024,
    deadLetter: settings.deadLetter.memorySize / 1024,
    stuckClips: settings.stuckClips.memorySize / 1024,
  };
  const fanOut = run.workers.reduce((sum, worker) => ({ invocations: sum.invocations + worker.usage.invocations, busyMs: sum.busyMs + worker.usage.busyMs }), { invocations: 0, busyMs: 0 });
  const usage = { ...run.usage, fanOut };
  let invocations = 0;
  let gbSeconds = 0;
  for (const name of Object.keys(usage) as FunctionName[]) {
    invocations += usage[name].invocations;
    gbSeconds += (usage[name].busyMs / 1000) * memoryGB[name];
  }
  const lambdaUsd = (invocations / 1e6) * prices.lambda.requestsPerMillion + gbSeconds * prices.lambda.arm64PerGbSecond;
  const scale = GB / run.bytes;
  return {
    usdPerGB: (s3Usd + sqsUsd + lambdaUsd) * scale,
    breakdownPerGB: { s3: s3Usd * scale, sqs: sqsUsd * scale, lambda: lambdaUsd * scale },
    counted: { ...Object.fromEntries(counts), lambdaInvocations: invocations, lambdaGbSeconds: Number(gbSeconds.toFixed(3)) },
    egressUsdPerGB: prices.egress.internetPerGB,
  };
}

const fixed = (value: number, digits: number) => Number(value.toFixed(digits));
const fastest = <T extends { ms: number }>(runs: T[]): T => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const mibPerSecond = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
/** The fan-out environments' CPU ms per MiB in one run, the local SQS pollers included. */
const fanOutCpuPerMiB = (run: RelayRun) => run.workers.reduce((sum, w) => sum + w.cpuMs, 0) / (run.bytes / MiB);
/** The fan-out functions' own CPU ms per MiB in one run: inside their invocations. */
const fanOutFunctionCpuPerMiB = (run: RelayRun) => run.workers.reduce((sum, w) => sum + w.invocationCpuMs, 0) / (run.bytes / MiB);

const benchStarted = performance.now();
const loadAtStart = loadavg();
const dir = await mkdtemp(join(tmpdir(), 'clip-relay-bench-'));
try {
  progress('planning a 4 GiB - 1 clip');
  const plan4GiBMs = await planFourGiB();

  progress('packaging with osls and timing cold loads');
  const bundles = await measureBundles();

  progress(`writing a ${CLIP_BYTES / MiB} MiB clip`);
  const file = join(dir, 'bench-clip.mp4');
  await writeFile(file, randomBytes(CLIP_BYTES));
  const bytes = await readFile(file);
  const cacheDir = join(ROOT, 'node_modules/.cache');
  const workerBundle = await bundleWorker(cacheDir, 'fan-out-worker');
  const directBundle = await bundleWorker(cacheDir, 'direct-worker');
  const copierBundle = await bundleWorker(cacheDir, 'copier-worker');

  const burstBytes = randomBytes(BURST_CLIPS * BURST_CLIP_BYTES);
  const burstClips = Array.from({ length: BURST_CLIPS }, (_, i) => burstBytes.subarray(i * BURST_CLIP_BYTES, (i + 1) * BURST_CLIP_BYTES));
  const directs: BaselineRun[] = [];
  const copiers: BaselineRun[] = [];
  const relays: RelayRun[] = [];
  const bursts: RelayRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const direct = async () => {
      progress(`round ${round}/${ROUNDS}: direct upload, concurrency ${CONCURRENCY}`);
      directs.push(await directOnce(file, bytes, directBundle));
    };
    const copier = async () => {
      progress(`round ${round}/${ROUNDS}: copier, concurrency ${CONCURRENCY}`);
      copiers.push(await copierOnce(file, bytes, copierBundle));
    };
    const relay = async () => {
      progress(`round ${round}/${ROUNDS}: relay, ${FAN_OUT_ENVIRONMENTS} fan-out environments x ${PUTS_PER_INVOCATION} PUTs`);
      relays.push(await relayOnce(file, bytes, workerBundle));
      if (round > BURST_ROUNDS) return;
      progress(`round ${round}/${ROUNDS}: burst of ${BURST_CLIPS} clips of ${BURST_CLIP_BYTES / MiB} MiB at once`);
      bursts.push(await burstOnce(burstClips, workerBundle));
    };
    // Alternate the order, so that load drifting during a round favours neither side.
    for (const step of round % 2 === 1 ? [direct, copier, relay] : [relay, copier, direct]) await step();
  }

  // Speed ratios pair each round's runs (the same minute of load) and take the median over the
  // rounds; the MiB/s shown beside them are the best of the rounds.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const roundMiBps = (run: { ms: number }, clipBytes = CLIP_BYTES) => mibPerSecond(clipBytes, run.ms);
  const relayVsCopier = median(relays.map((run, i) => roundMiBps(run) / roundMiBps(copiers[i]!)));
  const relayVsDirect = median(relays.map((run, i) => roundMiBps(run) / roundMiBps(directs[i]!)));
  const burstVsSingle = median(bursts.map((run, i) => mibPerSecond(run.bytes, run.ms) / roundMiBps(relays[i]!)));
  const baselineCpuPerMiB = (run: BaselineRun) => run.cpuMs / (CLIP_BYTES / MiB);
  const fanoutCpuVsCopier = median(relays.map((run, i) => fanOutFunctionCpuPerMiB(run) / baselineCpuPerMiB(copiers[i]!)));
  const fanoutWithPollerCpuVsCopier = median(relays.map((run, i) => fanOutCpuPerMiB(run) / baselineCpuPerMiB(copiers[i]!)));
  const bestDirect = fastest(directs);
  const bestCopier = fastest(copiers);
  const bestRelay = fastest(relays);
  const bestBurst = fastest(bursts);
  const directMiBps = mibPerSecond(CLIP_BYTES, bestDirect.ms);
  const copierMiBps = mibPerSecond(CLIP_BYTES, bestCopier.ms);
  const relayMiBps = mibPerSecond(CLIP_BYTES, bestRelay.ms);
  const burstMiBps = mibPerSecond(bestBurst.bytes, bestBurst.ms);
  // CPU per MiB shown: the median of the rounds for each.
  const fanOutCpuMsPerMiB = median(relays.map(fanOutFunctionCpuPerMiB));
  const fanOutWithPollerCpuMsPerMiB = median(relays.map(fanOutCpuPerMiB));
  const copierCpuMsPerMiB = median(copiers.map(baselineCpuPerMiB));
  const directCpuMsPerMiB = median(directs.map(baselineCpuPerMiB));
  const cost = costPerGB(bestRelay);
  const burstCost = costPerGB(bestBurst);
  const allRelayRuns = [...relays, ...bursts];

  const results = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    loadAverage: { atStart: fixed(loadAtStart[0]!, 2), atEnd: fixed(loadavg()[0]!, 2) },
    clipMiB: CLIP_BYTES / MiB,
    concurrency: CONCURRENCY,
    relayMiBps: fixed(relayMiBps, 1),
    copierMiBps: fixed(copierMiBps, 1),
    directMiBps: fixed(directMiBps, 1),
    relayVsCopier: fixed(relayVsCopier, 3),
    // Informational: the direct uploader reads a local file; the relay and copier move each byte twice.
    relayVsDirect: fixed(relayVsDirect, 3),
    // Every round, to show the spread on this machine.
    roundsMiBps: {
      relay: relays.map((run) => fixed(mibPerSecond(CLIP_BYTES, run.ms), 1)),
      copier: copiers.map((run) => fixed(mibPerSecond(CLIP_BYTES, run.ms), 1)),
      direct: directs.map((run) => fixed(mibPerSecond(CLIP_BYTES, run.ms), 1)),
      burst: bursts.map((run) => fixed(mibPerSecond(run.bytes, run.ms), 1)),
    },
    roundsCpuMsPerMiB: { fanOut: relays.map((run) => fixed(fanOutFunctionCpuPerMiB(run), 2)), fanOutWithPoller: relays.map((run) => fixed(fanOutCpuPerMiB(run), 2)), copier: copiers.map((run) => fixed(baselineCpuPerMiB(run), 2)) },
    firstPutMs: Math.round(Math.min(...relays.map((r) => r.firstPutMs))),
    // What the relay adds at either end of a clip, per round (the copier has neither).
    roundsFirstPutMs: relays.map((r) => Math.round(r.firstPutMs)),
    roundsCommitToReceiptMs: relays.map((r) => Math.round(r.commitToReceiptMs ?? 0)),
    // Per round: the median wall ms an environment spent between two batches (delete sent ->
    // next batch in hand), with no PUT in flight, and the batches each environment ran.
    roundsBatchGapMs: relays.map((r) => r.workers.flatMap((w) => w.batchGaps)).map((gaps) => (gaps.length === 0 ? 0 : fixed(median(gaps), 1))),
    roundsBatchesPerEnvironment: relays.map((r) => r.workers.map((w) => w.usage.invocations)),
    // CPU time per MiB moved: the fan-out functions together (inside their invocations; with
    // their local SQS pollers: from each one's first batch received to its last deleted) against
    // the copier's copy and the direct upload (each from its first block to its last).
    cpuMsPerMiB: {
      fanOut: fixed(fanOutCpuMsPerMiB, 2),
      fanOutWithPoller: fixed(fanOutWithPollerCpuMsPerMiB, 2),
      copier: fixed(copierCpuMsPerMiB, 2),
      direct: fixed(directCpuMsPerMiB, 2),
    },
    fanoutCpuVsCopier: fixed(fanoutCpuVsCopier, 3),
    fanoutWithPollerCpuVsCopier: fixed(fanoutWithPollerCpuVsCopier, 3),
    // The highest of any fan-out environment in any round, the bursts included.
    fanoutPeakRssMiB: fixed(Math.max(...allRelayRuns.flatMap((r) => r.workers.map((w) => w.peakRssMiB))), 1),
    // Sampled every 200 ms in each environment: where the peak goes (JS heap vs Buffers awaiting GC).
    fanoutPeakMemoryMiB: Object.fromEntries(
      (['rss', 'heapUsed', 'external', 'arrayBuffers'] as const).map((k) => [k, fixed(Math.max(...allRelayRuns.flatMap((r) => r.workers.map((w) => w.peaks[k]))), 1)]),
    ),
    // Each environment's RSS once its handler was built, before any block: the runtime, SDK and bundle.
    fanoutReadyRssMiB: fixed(Math.max(...bestRelay.workers.map((w) => w.readyRssMiB)), 1),
    burstClips: bestBurst.clips,
    burstCommitted: Math.min(...bursts.map((run) => run.committed)),
    burstMiBps: fixed(burstMiBps, 1),
    burstMs: Math.round(bestBurst.ms),
    burstVsSingle: fixed(burstVsSingle, 3),
    burstTimelineMs: bestBurst.timeline,
    bundleKiB: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, fixed(b.bundleKiB, 1)])),
    initOverSdkMs: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, fixed(b.initOverSdkMs, 1)])),
    initMs: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, fixed(b.initMs, 1)])),
    // The same-run baseline under initMs: loading only the AWS SDK clients each bundle imports.
    sdkInitMs: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, fixed(b.sdkInitMs, 1)])),
    sdkClients: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, b.sdkClients.map((c) => c.replace('@aws-sdk/client-', '')).join('+')])),
    plan4GiBMs: Math.round(plan4GiBMs),
    usdPerGB: fixed(cost.usdPerGB, 6),
    usdPerGBBreakdown: Object.fromEntries(Object.entries(cost.breakdownPerGB).map(([k, v]) => [k, fixed(v, 6)])),
    egressUsdPerGB: cost.egressUsdPerGB,
    requestsCounted: cost.counted,
    // The same pricing over the burst: per-clip requests (HEAD, receipt write) weigh more on 4 MiB clips.
    burstUsdPerGB: fixed(burstCost.usdPerGB, 6),
    burstRequestsCounted: burstCost.counted,
    pricesAsOf: prices.asOf,
    benchSeconds: 0,
  };

  const goals: Array<[string, string, string, boolean | undefined]> = [
    ['relayVsCopier', `${results.relayVsCopier} (${results.relayMiBps} vs ${results.copierMiBps} MiB/s)`, '>= 0.9', results.relayVsCopier >= 0.9],
    ['fanoutCpuVsCopier', `${results.fanoutCpuVsCopier} (${results.cpuMsPerMiB.fanOut} vs ${results.cpuMsPerMiB.copier} ms/MiB)`, '<= 1.2', results.fanoutCpuVsCopier <= 1.2],
    ['fanoutWithPollerCpuVsCopier', `${results.fanoutWithPollerCpuVsCopier} (${results.cpuMsPerMiB.fanOutWithPoller} ms/MiB)`, 'none', undefined],
    ...Object.entries(results.initOverSdkMs).map(([name, ms]): [string, string, string, boolean] => [
      `initOverSdkMs.${name}`,
      `${ms} (init ${results.initMs[name]}, SDK ${results.sdkClients[name]} ${results.sdkInitMs[name]})`,
      '<= 30',
      ms <= 30,
    ]),
    ['usdPerGB', `${results.usdPerGB} (egress ${results.egressUsdPerGB} more)`, '<= 0.0004', results.usdPerGB <= 0.0004],
    ['fanoutPeakRssMiB', String(results.fanoutPeakRssMiB), '<= 160', results.fanoutPeakRssMiB <= 160],
    ['burstClips', String(results.burstClips), '>= 100', results.burstClips >= 100],
    ['burstCommitted', String(results.burstCommitted), `= ${results.burstClips}`, results.burstCommitted === results.burstClips],
    ['burstVsSingle', `${results.burstVsSingle} (${results.burstMiBps} vs ${results.relayMiBps} MiB/s)`, '>= 0.8', results.burstVsSingle >= 0.8],
    ['relayVsDirect', `${results.relayVsDirect} (${results.relayMiBps} vs ${results.directMiBps} MiB/s)`, 'none', undefined],
    ['firstPutMs', String(results.firstPutMs), '<= 1000', results.firstPutMs <= 1000],
    ...Object.entries(results.bundleKiB).map(([name, kib]): [string, string, string, boolean] => [`bundleKiB.${name}`, String(kib), '<= 300', kib <= 300]),
    ['plan4GiBMs', String(results.plan4GiBMs), '<= 10000', results.plan4GiBMs <= 10_000],
  ];
  results.benchSeconds = Math.round((performance.now() - benchStarted) / 1000);
  const width = Math.max(...goals.map(([name]) => name.length));
  const table = [
    `clip-relay bench: ${results.clipMiB} MiB clip, concurrency ${CONCURRENCY}, ${results.machine.cpus} x ${results.machine.cpu}, Node ${results.machine.node}, load ${results.loadAverage.atStart} -> ${results.loadAverage.atEnd}, ${results.benchSeconds} s`,
    ...goals.map(([name, value, goal, met]) => `${name.padEnd(width)}  ${value.padEnd(52)} goal ${goal.padEnd(9)} ${met === undefined ? 'informational' : met ? 'met' : 'MISSED'}`),
    `ratios: the median over ${ROUNDS} rounds of each round's pair (bursts: ${BURST_ROUNDS}); MiB/s shown: the best round`,
    `rounds (MiB/s): ${JSON.stringify(results.roundsMiBps)}; CPU ms per MiB: ${JSON.stringify(results.roundsCpuMsPerMiB)}`,
    `relay ends (ms, per round): drop -> first PUT answered ${JSON.stringify(results.roundsFirstPutMs)}, last PUT answered -> receipt ${JSON.stringify(results.roundsCommitToReceiptMs)}`,
    `between batches (median ms per round, delete sent -> next batch in hand): ${JSON.stringify(results.roundsBatchGapMs)}; batches per environment: ${JSON.stringify(results.roundsBatchesPerEnvironment)}`,
    `fan-out environment memory (MiB): ${results.fanoutReadyRssMiB} RSS before the first block; peaks sampled every 200 ms ${JSON.stringify(results.fanoutPeakMemoryMiB)}`,
    `CPU ms per MiB moved: fan-out functions ${results.cpuMsPerMiB.fanOut} (with their local SQS pollers ${results.cpuMsPerMiB.fanOutWithPoller}), copier ${results.cpuMsPerMiB.copier}, direct uploader ${results.cpuMsPerMiB.direct}`,
    `usdPerGB by service: ${JSON.stringify(results.usdPerGBBreakdown)}; requests counted (one ${results.clipMiB} MiB relay): ${JSON.stringify(results.requestsCounted)}`,
    `burst: ${results.burstMs} ms for ${results.burstClips} clips, [first, last] ms ${JSON.stringify(results.burstTimelineMs)}, ${results.burstUsdPerGB} USD/GB; requests counted: ${JSON.stringify(results.burstRequestsCounted)}`,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
