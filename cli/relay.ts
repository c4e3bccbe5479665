import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { planBlocks } from '../lib/protocol/block-plan.ts';
import { receiptKey, type Receipt } from '../lib/protocol/receipt.ts';
import type { Ticket } from '../lib/protocol/ticket.ts';
import { startLocalStack, type LocalStack } from '../local/stack.ts';
import { UsageError } from './exit-codes.ts';
import { blockProgress } from './progress.ts';

/** What `clip-relay relay` is asked to do. */
export interface RelayFileOptions {
  file: string;
  ticket: Ticket;
  /** Hosts allowed besides the default `*.xboxlive.com`. */
  allowHosts: string[];
  serviceVersion?: string | undefined;
  concurrency?: number | undefined;
  putTimeoutMs?: number | undefined;
  backoffBaseMs?: number | undefined;
  backoffCapMs?: number | undefined;
  timeoutSeconds: number;
  logLevel?: string | undefined;
}

/** How the relay went. */
export interface RelayFileResult {
  receipt: Receipt;
  receiptUri: string;
  elapsedMs: number;
  bytes: number;
}

/**
 * Relays one file through the whole pipeline on the embedded stack: puts it into the local
 * bucket with its ticket, lets the three handlers run, and returns the clip's receipt.
 */
export async function relayFile(options: RelayFileOptions, stderr: NodeJS.WriteStream = process.stderr): Promise<RelayFileResult> {
  const size = await stat(options.file).then(
    (s) => (s.isFile() ? s.size : Number.NaN),
    () => Number.NaN,
  );
  if (Number.isNaN(size)) throw new UsageError(`${options.file} is not a readable file`);
  if (!process.env.XBL_AUTHORIZATION?.trim()) {
    throw new UsageError('XBL_AUTHORIZATION is not set: export the Authorization value for the upload (it is never taken as a flag)');
  }
  const env: Record<string, string> = { CLIP_RELAY_ALLOWED_HOSTS: ['*.xboxlive.com', ...options.allowHosts].join(',') };
  if (options.serviceVersion !== undefined) env.CLIP_RELAY_SERVICE_VERSION = options.serviceVersion;
  if (options.concurrency !== undefined) env.CLIP_RELAY_PUT_CONCURRENCY = String(options.concurrency);
  if (options.putTimeoutMs !== undefined) env.CLIP_RELAY_PUT_TIMEOUT_MS = String(options.putTimeoutMs);
  if (options.backoffBaseMs !== undefined) env.CLIP_RELAY_BACKOFF_BASE_MS = String(options.backoffBaseMs);
  if (options.backoffCapMs !== undefined) env.CLIP_RELAY_BACKOFF_CAP_MS = String(options.backoffCapMs);

  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({ env, ...(options.logLevel !== undefined && { logLevel: options.logLevel }) });
  } catch (error) {
    throw new UsageError(`cannot start the local relay: ${error instanceof Error ? error.message : String(error)}`);
  }
  const started = Date.now();
  const key = `${stack.config.incomingPrefix}${basename(options.file)}`;
  let plannedBlocks: number | undefined;
  let blockSize = size;
  try {
    const plan = planBlocks({ fileSize: size, maxBlockBytes: stack.config.maxBlockBytes, maxSinglePutBytes: stack.config.maxSinglePutBytes, expectedBlocks: options.ticket.expectedBlocks });
    plannedBlocks = plan.blocks.length;
    blockSize = plan.blockSize;
  } catch {
    // The splitter refuses the same plan and says why in the receipt.
  }
  const progress = blockProgress(stderr, blockSize, size, started);
  const progressTimer = setInterval(() => {
    if (plannedBlocks === undefined || stack!.sources.splitter.stats.events === 0) return;
    const counts = stack!.queueCounts(stack!.queues.blocks);
    progress.update(plannedBlocks - counts.ready - counts.inflight - counts.delayed, plannedBlocks);
  }, 200);
  try {
    await stack.putClip({ key, body: createReadStream(options.file), ticket: options.ticket });
    const receipt = await stack.waitForReceipt(key, { timeoutMs: options.timeoutSeconds * 1000, pollMs: 100 });
    if (plannedBlocks !== undefined && receipt.status === 'committed') progress.update(plannedBlocks, plannedBlocks);
    return {
      receipt,
      receiptUri: `s3://${stack.bucket}/${receiptKey(stack.config.receiptsPrefix, key)} (embedded stack at ${stack.endpoint})`,
      elapsedMs: Date.now() - started,
      bytes: size,
    };
  } finally {
    clearInterval(progressTimer);
    progress.stop();
    await stack.stop();
  }
}
