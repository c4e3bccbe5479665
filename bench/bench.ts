// `npm run bench [-- --json]`: the relay's speed, memory, size and cost, each against a goal and,
// for throughput, against a direct uploader measured in the same run (machines here are noisy:
// ratios, not absolute times). Progress goes to stderr; the table (or JSON, last line) to stdout.
// Run it through `npm run bench`: this process holds GiBs of Buffers for the stand-in services
// and needs the larger initial old space package.json gives it, or V8 keeps mark-compacting.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { build } from 'esbuild';
import { startFauxqs } from 'fauxqs';
import { createAwsClients } from '../lib/aws/clients.ts';
import type { ClipStore } from '../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../lib/aws/queues.ts';
import { readConfig } from '../lib/runtime/config.ts';
import { MAX_CLIP_BYTES } from '../lib/protocol/block-plan.ts';
import { receiptKey, type Receipt } from '../lib/protocol/receipt.ts';
import { splitClip } from '../lib/split/split-clip.ts';
import { ticketMetadata } from '../lib/protocol/ticket.ts';
import { startTransferEmulator } from '../local/emulator/transfer-service.ts';
import { startLocalFunctions, type FunctionName } from '../local/functions.ts';
import { countRequests, type RequestCounts } from '../local/request-counter.ts';
import { createLocalQueues, localRelayEnv } from '../local/resources.ts';
import { loadSettings } from '../local/settings.ts';
import { measureBundles } from './bundles.ts';
import prices from './prices.json' with { type: 'json' };

const ROOT = new URL('..', import.meta.url).pathname;
const MiB = 1024 * 1024;
const GB = 1e9;
const CLIP_BYTES = 256 * MiB;
const BLOCK_BYTES = 2 * MiB;
// Total PUTs in flight for both uploaders: fan-out environments x PUTs per invocation. The
// defaults are the deployed settings: Lambda's minimum maximumConcurrency (2) and
// settings.fanOut.putConcurrency. Knobs for exploring (env BENCH_*).
const FAN_OUT_ENVIRONMENTS = Number(process.env.BENCH_FAN_OUT_ENVIRONMENTS ?? 2);
const PUTS_PER_INVOCATION = Number(process.env.BENCH_PUTS_PER_INVOCATION ?? loadSettings().fanOut.putConcurrency);
const BATCH_SIZE = process.env.BENCH_BATCH_SIZE === undefined ? undefined : Number(process.env.BENCH_BATCH_SIZE);
const CONCURRENCY = FAN_OUT_ENVIRONMENTS * PUTS_PER_INVOCATION;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
for (const [name, value] of Object.entries({ BENCH_FAN_OUT_ENVIRONMENTS: FAN_OUT_ENVIRONMENTS, BENCH_PUTS_PER_INVOCATION: PUTS_PER_INVOCATION, BENCH_ROUNDS: ROUNDS, BENCH_BATCH_SIZE: BATCH_SIZE ?? 1 })) {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1, got ${value}`);
}
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const TOKEN = `XBL3.0 x=bench;${randomBytes(16).toString('hex')}`;
const json = process.argv.includes('--json');
const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface WorkerReport {
  peakRssMiB: number;
  peaks: { rss: number; heapUsed: number; external: number; arrayBuffers: number };
  readyRssMiB: number;
  cpuMs: number;
  usage: { invocations: number; busyMs: number };
  requests: Record<string, number>;
}

interface RelayRun {
  ms: number;
  firstPutMs: number;
  /** One report per fan-out environment (process). */
  workers: WorkerReport[];
  usage: Record<FunctionName, { invocations: number; busyMs: number }>;
  requests: Record<string, number>;
  receipt: Receipt;
}

/**
 * A bench worker bundled the way serverless.yml bundles the Lambdas (esbuild, ESM, minified,
 * @aws-sdk external): running it as TypeScript would add Node's type stripper to its memory.
 */
async function bundleWorker(dir: string, name: 'fan-out-worker' | 'direct-worker'): Promise<string> {
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

/** Uploads `file` with the direct uploader, in a process of its own as a team's uploader would run. */
async function directOnce(file: string, bytes: Buffer, directBundle: string): Promise<{ ms: number; cpuMs: number }> {
  const emulator = await startTransferEmulator({ authorization: TOKEN });
  const expectedBlocks = Math.ceil(bytes.length / BLOCK_BYTES);
  const session = emulator.openSession({ expectedBlocks, fileSize: bytes.length });
  // execArgv [] : not this process's heap flag; the uploader runs with Node's defaults.
  const uploader = fork(
    directBundle,
    [JSON.stringify({ file, size: bytes.length, uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks, authorization: TOKEN, concurrency: CONCURRENCY })],
    { execArgv: [] },
  );
  try {
    const run = (await workerMessage(uploader)) as { ms: number; cpuMs: number };
    if (!emulator.committed(session.uploadId)?.equals(bytes)) throw new Error('direct upload did not commit the exact bytes');
    return run;
  } finally {
    if (uploader.exitCode === null) uploader.kill();
    await emulator.close();
  }
}

/**
 * Relays `file` once: fauxqs, the emulator and the splitter/finalizer/dead-letter here; the
 * fan-out as FAN_OUT_ENVIRONMENTS processes, each one Lambda execution environment (one
 * invocation at a time), as AWS runs it.
 */
async function relayOnce(file: string, bytes: Buffer, workerBundle: string): Promise<RelayRun> {
  const emulator = await startTransferEmulator({ authorization: TOKEN });
  // The spy tells the bench when the receipt lands, without polling S3 for it (which took CPU
  // from the relay it measures).
  const fauxqs = await startFauxqs({ port: 0, logger: false, defaultRegion: REGION, messageSpies: { bufferSize: 1000 } });
  const settings = loadSettings();
  settings.fanOut.maximumConcurrency = FAN_OUT_ENVIRONMENTS;
  if (BATCH_SIZE !== undefined) settings.fanOut.batchSize = BATCH_SIZE;
  const queues = createLocalQueues(fauxqs, settings);
  const configEnv = { CLIP_RELAY_ALLOWED_HOSTS: '127.0.0.1', CLIP_RELAY_PUT_CONCURRENCY: String(PUTS_PER_INVOCATION) };
  const relayEnv = localRelayEnv(queues, settings, configEnv);
  const config = readConfig(relayEnv);
  // The relay's own clients are counted; the bench's (putting the clip, polling) are not.
  const relay = createAwsClients({ region: REGION, endpoint: fauxqs.address, credentials: CREDENTIALS });
  const bench = createAwsClients({ region: REGION, endpoint: fauxqs.address, credentials: CREDENTIALS });
  const requests: RequestCounts = new Map();
  countRequests(relay.s3, 'S3', requests);
  countRequests(relay.sqs, 'SQS', requests);
  const bucket = 'clip-relay-bench';
  await bench.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const functions = await startLocalFunctions({
    ...relay,
    region: REGION,
    bucket,
    config,
    settings,
    queues,
    logLevel: 'ERROR',
    run: ['splitter', 'finalizer', 'deadLetter'],
  });
  const workers = Array.from({ length: FAN_OUT_ENVIRONMENTS }, () =>
    fork(workerBundle, [JSON.stringify({ endpoint: fauxqs.address, region: REGION, bucket, settings, configEnv: relayEnv, queues })], {
      env: { ...process.env, XBL_AUTHORIZATION: TOKEN, MALLOC_ARENA_MAX: String(settings.fanOut.mallocArenaMax) },
      execArgv: (process.env.BENCH_WORKER_NODE_OPTIONS ?? settings.fanOut.v8Flags).split(' ').filter(Boolean),
    }),
  );
  try {
    await Promise.all(workers.map(workerMessage));
    const expectedBlocks = Math.ceil(bytes.length / BLOCK_BYTES);
    const session = emulator.openSession({ expectedBlocks, fileSize: bytes.length });
    const key = `${config.incomingPrefix}bench-${Date.now()}.mp4`;
    const receiptLanded = fauxqs.spy.waitForMessage({ service: 's3', bucket, key: receiptKey(config.receiptsPrefix, key) }, 'uploaded', 300_000);
    await new Upload({
      client: bench.s3,
      partSize: 8 * MiB,
      queueSize: 4,
      params: { Bucket: bucket, Key: key, Body: createReadStream(file), Metadata: ticketMetadata({ uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks }) },
    }).done();
    const dropped = Date.now();
    // A fan-out environment that dies mid-relay ends the run at once, not after the receipt timeout.
    const ms = (await Promise.race([receiptLanded, ...workers.map(workerExit)])).timestamp - dropped;
    const receipt = await bench.s3
      .send(new GetObjectCommand({ Bucket: bucket, Key: receiptKey(config.receiptsPrefix, key) }))
      .then(async (object) => JSON.parse(await object.Body!.transformToString()) as Receipt);
    if (receipt.status !== 'committed' || !emulator.committed(session.uploadId)?.equals(bytes)) {
      throw new Error(`relay did not commit the exact bytes: ${JSON.stringify(receipt)}`);
    }
    const firstPutMs = Math.min(...emulator.requests.map((request) => request.at)) - dropped;
    const reports = await Promise.all(
      workers.map((worker) => {
        worker.send({ stop: true });
        return workerMessage(worker) as Promise<WorkerReport>;
      }),
    );
    return { ms, firstPutMs, workers: reports, usage: { ...functions.usage }, requests: Object.fromEntries(requests), receipt };
  } finally {
    for (const worker of workers) if (worker.exitCode === null) worker.kill();
    await functions.stop();
    for (const client of [relay.s3, relay.sqs, bench.s3, bench.sqs]) client.destroy();
    await fauxqs.stop();
    await emulator.close();
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

/** USD to relay 1 GB, from the AWS requests and Lambda time one relay run actually used. */
function costPerGB(run: RelayRun, bytes: number) {
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
    // Priced at the FIFO rate, an upper bound: most calls go to the standard blocks queue.
    else sqsUsd += (n / 1e6) * prices.sqs.fifoPerMillion;
  }
  const settings = loadSettings();
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
  const scale = GB / bytes;
  return {
    usdPerGB: (s3Usd + sqsUsd + lambdaUsd) * scale,
    breakdownPerGB: { s3: s3Usd * scale, sqs: sqsUsd * scale, lambda: lambdaUsd * scale },
    counted: { ...Object.fromEntries(counts), lambdaInvocations: invocations, lambdaGbSeconds: Number(gbSeconds.toFixed(3)) },
    egressUsdPerGB: prices.egress.internetPerGB,
  };
}

const dir = await mkdtemp(join(tmpdir(), 'clip-relay-bench-'));
try {
  progress('planning a 4 GiB - 1 clip');
  const plan4GiBMs = await planFourGiB();

  progress('packaging with osls and timing cold loads');
  const bundles = await measureBundles(5);

  progress(`writing a ${CLIP_BYTES / MiB} MiB clip`);
  const file = join(dir, 'bench-clip.mp4');
  await writeFile(file, randomBytes(CLIP_BYTES));
  const bytes = await readFile(file);
  const workerBundle = await bundleWorker(join(ROOT, 'node_modules/.cache'), 'fan-out-worker');
  const directBundle = await bundleWorker(join(ROOT, 'node_modules/.cache'), 'direct-worker');

  const directs: Array<{ ms: number; cpuMs: number }> = [];
  const relays: RelayRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    progress(`round ${round}/${ROUNDS}: direct upload, concurrency ${CONCURRENCY}`);
    directs.push(await directOnce(file, bytes, directBundle));
    progress(`round ${round}/${ROUNDS}: relay, ${FAN_OUT_ENVIRONMENTS} fan-out environments x ${PUTS_PER_INVOCATION} PUTs`);
    relays.push(await relayOnce(file, bytes, workerBundle));
  }
  // Best of the rounds for each: the noise on a shared machine only ever slows a run down.
  const bestDirect = directs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const bestDirectMs = bestDirect.ms;
  const bestRelay = relays.reduce((a, b) => (b.ms < a.ms ? b : a));
  const directMiBps = CLIP_BYTES / MiB / (bestDirectMs / 1000);
  const relayMiBps = CLIP_BYTES / MiB / (bestRelay.ms / 1000);
  const cost = costPerGB(bestRelay, CLIP_BYTES);

  const results = {
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    clipMiB: CLIP_BYTES / MiB,
    concurrency: CONCURRENCY,
    relayMiBps: Number(relayMiBps.toFixed(1)),
    directMiBps: Number(directMiBps.toFixed(1)),
    relayVsDirect: Number((relayMiBps / directMiBps).toFixed(3)),
    firstPutMs: Math.round(Math.min(...relays.map((r) => r.firstPutMs))),
    // The highest of any fan-out environment in any round.
    fanoutPeakRssMiB: Number(Math.max(...relays.flatMap((r) => r.workers.map((w) => w.peakRssMiB))).toFixed(1)),
    // Sampled every 50 ms in each environment: where the peak goes (JS heap vs Buffers awaiting GC).
    fanoutPeakMemoryMiB: Object.fromEntries(
      (['rss', 'heapUsed', 'external', 'arrayBuffers'] as const).map((k) => [k, Number(Math.max(...bestRelay.workers.map((w) => w.peaks[k])).toFixed(1))]),
    ),
    // Each environment's RSS once its handler was built, before any block: the runtime, SDK and bundle.
    fanoutReadyRssMiB: Number(Math.max(...bestRelay.workers.map((w) => w.readyRssMiB)).toFixed(1)),
    // CPU time per MiB moved: the fan-out environments together (from their handler being built
    // to stop: the relay and a few idle polls) against the direct uploader's upload. The relay
    // also has S3 to serve on the same cores.
    cpuMsPerMiB: {
      fanOut: Number((bestRelay.workers.reduce((sum, w) => sum + w.cpuMs, 0) / (CLIP_BYTES / MiB)).toFixed(2)),
      direct: Number((bestDirect.cpuMs / (CLIP_BYTES / MiB)).toFixed(2)),
    },
    bundleKiB: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, Number(b.bundleKiB.toFixed(1))])),
    initMs: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, Number(b.initMs.toFixed(1))])),
    // The same-run baseline under initMs: loading only the AWS SDK clients each bundle imports.
    sdkInitMs: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, Number(b.sdkInitMs.toFixed(1))])),
    sdkClients: Object.fromEntries(Object.entries(bundles).map(([name, b]) => [name, b.sdkClients.map((c) => c.replace('@aws-sdk/client-', '')).join('+')])),
    plan4GiBMs: Math.round(plan4GiBMs),
    usdPerGB: Number(cost.usdPerGB.toFixed(6)),
    usdPerGBBreakdown: Object.fromEntries(Object.entries(cost.breakdownPerGB).map(([k, v]) => [k, Number(v.toFixed(6))])),
    egressUsdPerGB: cost.egressUsdPerGB,
    requestsCounted: cost.counted,
    pricesAsOf: prices.asOf,
  };

  const goals: Array<[string, string, string, boolean]> = [
    ['relayVsDirect', `${results.relayVsDirect} (${results.relayMiBps} vs ${results.directMiBps} MiB/s)`, '>= 0.8', results.relayVsDirect >= 0.8],
    ['firstPutMs', String(results.firstPutMs), '<= 1000', results.firstPutMs <= 1000],
    ['fanoutPeakRssMiB', String(results.fanoutPeakRssMiB), '<= 128', results.fanoutPeakRssMiB <= 128],
    ...Object.entries(results.bundleKiB).map(([name, kib]): [string, string, string, boolean] => [`bundleKiB.${name}`, String(kib), '<= 300', kib <= 300]),
    ...Object.entries(results.initMs).map(([name, ms]): [string, string, string, boolean] => [
      `initMs.${name}`,
      `${ms} (SDK ${results.sdkClients[name]} alone: ${results.sdkInitMs[name]})`,
      '<= 100',
      ms <= 100,
    ]),
    ['plan4GiBMs', String(results.plan4GiBMs), '<= 10000', results.plan4GiBMs <= 10_000],
    ['usdPerGB', `${results.usdPerGB} (egress ${results.egressUsdPerGB} more)`, '<= 0.001', results.usdPerGB <= 0.001],
  ];
  const width = Math.max(...goals.map(([name]) => name.length));
  const table = [
    `clip-relay bench: ${results.clipMiB} MiB clip, concurrency ${CONCURRENCY}, ${results.machine.cpus} x ${results.machine.cpu}, Node ${results.machine.node}`,
    ...goals.map(([name, value, goal, met]) => `${name.padEnd(width)}  ${value.padEnd(44)} goal ${goal.padEnd(9)} ${met ? 'met' : 'MISSED'}`),
    `fan-out environment memory (MiB): ${results.fanoutReadyRssMiB} RSS before the first block; peaks sampled every 50 ms ${JSON.stringify(results.fanoutPeakMemoryMiB)}`,
    `CPU ms per MiB moved: fan-out ${results.cpuMsPerMiB.fanOut}, direct uploader ${results.cpuMsPerMiB.direct}`,
    `requests counted for usdPerGB (one ${results.clipMiB} MiB relay): ${JSON.stringify(results.requestsCounted)}`,
  ].join('\n');
  process.stdout.write(`${table}\n`);
  if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
