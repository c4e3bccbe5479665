import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { startSessionBroker } from '../local/dev/session-broker.ts';
import { readableLogSink } from '../local/dev/log-format.ts';
import { startTransferEmulator } from '../local/emulator/transfer-service.ts';
import { startLocalStack } from '../local/stack.ts';
import { UsageError } from './exit-codes.ts';

/** What `clip-relay dev` is asked to run. */
export interface DevOptions {
  port: number;
  dataDir?: string | undefined;
  emulator: boolean;
  emulatorPort: number;
  allowHosts: string[];
  logLevel: string;
  jsonLogs: boolean;
}

/**
 * Runs the relay locally until `stopSignal` fires: the embedded S3 + SQS on a fixed port, the
 * event sources and handlers, and (unless told otherwise) the transfer emulator with a session
 * broker, so a pipeline under development can drop clips with any S3 client and watch them go.
 */
export async function runDev(options: DevOptions, stopSignal: AbortSignal): Promise<void> {
  if (!options.emulator && !process.env.XBL_AUTHORIZATION?.trim()) {
    throw new UsageError('XBL_AUTHORIZATION is not set: with --no-emulator the relay needs the real Authorization value');
  }
  // The emulator checks the token it is given; a throwaway one serves when none is exported.
  const authorization = process.env.XBL_AUTHORIZATION?.trim() || `XBL3.0 x=dev;${randomBytes(16).toString('hex')}`;
  process.env.XBL_AUTHORIZATION = authorization;
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  const colour = process.stderr.isTTY === true;
  const logSink = options.jsonLogs ? (line: string) => process.stderr.write(`${line}\n`) : readableLogSink((text) => process.stderr.write(text), colour);

  const emulator = options.emulator ? await startTransferEmulator({ authorization, port: options.emulatorPort }) : undefined;
  const broker = emulator === undefined ? undefined : await startSessionBroker(emulator);
  const allowHosts = [...options.allowHosts, ...(emulator === undefined ? [] : ['127.0.0.1'])];
  let stack;
  try {
    stack = await startLocalStack({
      port: options.port,
      logLevel: options.logLevel,
      logSink,
      ...(allowHosts.length > 0 && { env: { CLIP_RELAY_ALLOWED_HOSTS: ['*.xboxlive.com', ...allowHosts].join(',') } }),
      ...(dataDir !== undefined && {
        dataDir: join(dataDir, 'sqs'),
        s3StorageDir: join(dataDir, 's3'),
        deliveredClipsFile: join(dataDir, 'delivered-clips.json'),
        releaseInFlight: true,
      }),
    });
  } catch (error) {
    await broker?.close();
    await emulator?.close();
    throw new UsageError(`cannot start the local relay on port ${options.port}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { endpoint, bucket, region, credentials } = stack;
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out('clip-relay dev: the relay is running on an embedded S3 + SQS. Ctrl-C stops it.');
  out();
  out(`  S3 + SQS endpoint  ${endpoint}  (region ${region}, any credentials)`);
  out(`  bucket             ${bucket}: drop clips under ${stack.config.incomingPrefix}, receipts appear under ${stack.config.receiptsPrefix}`);
  if (emulator !== undefined && broker !== undefined) {
    out(`  transfer emulator  ${emulator.url}  (strict docs/protocol.md service; allowed as 127.0.0.1)`);
    out(`  open a session     curl -s -X POST ${broker.url}/sessions -d '{"fileSize": <bytes>, "expectedBlocks": <n>}'`);
  }
  out(`  state              ${dataDir === undefined ? 'in memory: gone when this stops (--data-dir keeps it)' : `kept in ${dataDir}; after a restart, work in flight resumes and clips dropped meanwhile are relayed`}`);
  out();
  out('Point a pipeline at it:');
  out(`  export AWS_ENDPOINT_URL=${endpoint} AWS_REGION=${region} AWS_ACCESS_KEY_ID=${credentials.accessKeyId} AWS_SECRET_ACCESS_KEY=${credentials.secretAccessKey}`);
  out(`  new S3Client({ endpoint: '${endpoint}', region: '${region}', forcePathStyle: true, credentials: { accessKeyId: '${credentials.accessKeyId}', secretAccessKey: '${credentials.secretAccessKey}' } })`);
  out(`  aws --endpoint-url ${endpoint} s3 cp clip.mp4 s3://${bucket}/${stack.config.incomingPrefix}clip.mp4 --metadata upload-uri=<uri>,upload-id=<id>,expected-blocks=<n>`);
  out(`  npx clip-relay status --endpoint ${endpoint}`);
  out(`ready: ${JSON.stringify({ endpoint, region, bucket, emulator: emulator?.url, sessions: broker === undefined ? undefined : `${broker.url}/sessions` })}`);

  await new Promise<void>((resolveStop) => {
    if (stopSignal.aborted) resolveStop();
    stopSignal.addEventListener('abort', () => resolveStop(), { once: true });
  });
  process.stderr.write('clip-relay dev: stopping\n');
  await stack.stop();
  await broker?.close();
  await emulator?.close();
}
