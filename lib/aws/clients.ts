import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/** Where the AWS clients point: the real regional endpoints, or a local stand-in such as fauxqs. */
export interface AwsTarget {
  region?: string;
  /** A local S3/SQS server; path-style S3 and queue URLs used as given. */
  endpoint?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Builds the S3 and SQS clients once per cold start. */
export function createAwsClients(target: AwsTarget = {}): { s3: S3Client; sqs: SQSClient } {
  const common = {
    ...(target.region !== undefined && { region: target.region }),
    ...(target.endpoint !== undefined && { endpoint: target.endpoint }),
    ...(target.credentials !== undefined && { credentials: target.credentials }),
  };
  return {
    s3: new S3Client({ ...common, ...(target.endpoint !== undefined && { forcePathStyle: true }) }),
    sqs: new SQSClient({ ...common, ...(target.endpoint !== undefined && { useQueueUrlAsEndpoint: false }) }),
  };
}
