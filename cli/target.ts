import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { createAwsClients } from '../lib/aws/clients.ts';
import { loadSettings } from '../local/settings.ts';

/** Which relay a command talks to: a dev stack (`--endpoint`) or a deployed one (AWS credentials). */
export interface TargetOptions {
  endpoint?: string | undefined;
  bucket?: string | undefined;
  stage?: string | undefined;
  region?: string | undefined;
}

/** The bucket, prefixes, clients and queue names of the relay a command talks to. */
export function resolveTarget(options: TargetOptions) {
  const settings = loadSettings();
  const local = options.endpoint !== undefined;
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  // Names as serverless.yml and the local stack make them.
  const bucket = options.bucket ?? (local ? 'clip-relay-local' : options.stage === undefined ? undefined : `clip-relay-${options.stage}-${region}-clips`);
  if (bucket === undefined) throw new Error('say which relay: --endpoint URL for a dev stack, or --stage (or --bucket) for a deployed one');
  const { s3, sqs } = createAwsClients({
    region,
    ...(local && { endpoint: options.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  });
  const queueName = (base: string) => (local ? `clip-relay-${base}` : `clip-relay-${options.stage ?? 'dev'}-${base}`);
  return {
    s3,
    sqs,
    bucket,
    region,
    incomingPrefix: settings.incomingPrefix,
    receiptsPrefix: settings.receiptsPrefix,
    async queueUrl(base: 'blocks' | 'blocks-dlq'): Promise<string> {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queueName(base) }));
      if (QueueUrl === undefined) throw new Error(`no queue ${queueName(base)}`);
      return QueueUrl;
    },
    close() {
      s3.destroy();
      sqs.destroy();
    },
  };
}

/** A resolved target. */
export type Target = ReturnType<typeof resolveTarget>;
