// One fan-out execution environment, in a process of its own as on Lambda: it polls the bench's
// blocks queue, one invocation at a time, and PUTs to the emulator; on "stop" it reports its
// peak RSS, CPU time (first batch to last delete), usage and AWS request counts.
import { readFileSync } from 'node:fs';
import { createAwsClients } from '../lib/aws/clients.ts';
import { parameterStoreTokens } from '../lib/aws/token-provider.ts';
import { readConfig } from '../lib/runtime/config.ts';
import { envTokens } from '../local/env-tokens.ts';
import { startLocalFunctions, type LocalFunctionsOptions } from '../local/functions.ts';
import { countRequests, type RequestCounts } from '../local/request-counter.ts';
import type { Settings } from '../local/settings.ts';

interface WorkerInput {
  endpoint: string;
  region: string;
  bucket: string;
  settings: Settings;
  configEnv: Record<string, string>;
  queues: LocalFunctionsOptions['queues'];
}

/**
 * This process's own peak RSS. Not getrusage's maxRSS: Linux carries that across fork + exec,
 * so a child reports its parent's peak. VmHWM belongs to this address space alone.
 */
function peakRssMiB(): number {
  const kiB = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (kiB === undefined) throw new Error('no VmHWM in /proc/self/status: peak RSS needs Linux');
  return Number(kiB) / 1024;
}

const input = JSON.parse(process.argv[2]!) as WorkerInput;
const config = readConfig(input.configEnv);
// Built as functions/fan-out.ts builds it, so this process loads the token stores' SDK clients
// (and their memory) as the Lambda does; the bench's token itself comes from the environment.
parameterStoreTokens({ source: config.tokenSource, prefix: '/clip-relay/bench/tokens/' });
const { s3, sqs } = createAwsClients({ region: input.region, endpoint: input.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
const requests: RequestCounts = new Map();
countRequests(s3, 'S3', requests);
countRequests(sqs, 'SQS', requests);
// CPU time, two ways. `cpuMs`: from the first batch received to the last deleted, the span in
// which this environment moved blocks (as the copier's CPU spans its copy), its local SQS poller
// included. `invocationCpuMs`: only while a batch was in the function's hands (receive returned →
// delete sent): what the Lambda function itself spends; in AWS, receiving and deleting is done by
// Lambda's pollers, outside the function.
const cpuMsNow = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
let firstBatchCpuMs: number | undefined;
let lastDeleteCpuMs: number | undefined;
let batchStartCpuMs: number | undefined;
let invocationCpuMs = 0;
// Wall time between batches: from a batch's delete being sent to the next batch in hand, when
// this environment has no PUT in flight.
let lastDeleteAt: number | undefined;
const batchGaps: number[] = [];
sqs.middlewareStack.add(
  (next, context) => async (args) => {
    if (context.commandName === 'DeleteMessageBatchCommand') {
      lastDeleteAt = performance.now();
      if (batchStartCpuMs !== undefined) invocationCpuMs += cpuMsNow() - batchStartCpuMs;
      batchStartCpuMs = undefined;
    }
    const result = await next(args);
    if (context.commandName === 'ReceiveMessageCommand' && ((result.output as { Messages?: unknown[] } | undefined)?.Messages?.length ?? 0) > 0) {
      batchStartCpuMs = cpuMsNow();
      firstBatchCpuMs ??= batchStartCpuMs;
      if (lastDeleteAt !== undefined) batchGaps.push(performance.now() - lastDeleteAt);
    }
    if (context.commandName === 'DeleteMessageBatchCommand') lastDeleteCpuMs = cpuMsNow();
    return result;
  },
  { step: 'initialize', name: 'benchCpuSpan' },
);
const functions = await startLocalFunctions({
  s3,
  sqs,
  region: input.region,
  bucket: input.bucket,
  config,
  settings: input.settings,
  queues: input.queues,
  tokens: envTokens(),
  run: ['fanOut'],
  fanOutPollers: 1,
});
const peaks = { rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peaks) as Array<keyof typeof peaks>) peaks[k] = Math.max(peaks[k], m[k] / 1048576);
}, 200);
const readyRssMiB = process.memoryUsage().rss / 1048576;
process.send!({ ready: true });
process.on('message', async (message: { stop?: boolean }) => {
  if (!message.stop) return;
  await functions.stop();
  clearInterval(sampler);
  process.send!(
    {
      peakRssMiB: peakRssMiB(),
      peaks,
      readyRssMiB,
      cpuMs: firstBatchCpuMs === undefined || lastDeleteCpuMs === undefined ? 0 : lastDeleteCpuMs - firstBatchCpuMs,
      invocationCpuMs,
      batchGaps,
      usage: functions.usage.fanOut,
      requests: Object.fromEntries(requests),
      metrics: Object.fromEntries(functions.metrics.totals),
    },
    () => process.exit(0),
  );
});
