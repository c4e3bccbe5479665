import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { createAwsClients } from '../lib/aws/clients.ts';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../lib/aws/queues.ts';
import { readConfig } from '../lib/runtime/config.ts';

/** Cold-start wiring shared by the functions: configuration, S3 (client and clip store), SQS, logger and metrics. */
export function awsRuntime() {
  const config = readConfig(process.env);
  const { s3, sqs } = createAwsClients();
  return { config, s3, clips: s3ClipStore(s3), queues: sqsRelayQueues(sqs, config), logger: new Logger(), metrics: relayMetrics(config) };
}

/** Powertools metrics with the stage as a default dimension beside the service, as the alarms and dashboard read them. */
export function relayMetrics(config: Pick<ReturnType<typeof readConfig>, 'stage'>): Metrics {
  return new Metrics(config.stage === undefined ? {} : { defaultDimensions: { stage: config.stage } });
}
