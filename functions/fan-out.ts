import { parameterStoreTokens } from '../lib/aws/token-provider.ts';
import { createFanOutHandler } from '../lib/fan-out/handler.ts';
import { createUploadAgent } from '../lib/http/http.ts';
import { awsRuntime } from './runtime.ts';

const runtime = awsRuntime();
const { config } = runtime;

export const handler = createFanOutHandler({
  ...runtime,
  tokens: parameterStoreTokens({ source: config.tokenSource, prefix: config.tokenPrefix }),
  dispatcher: createUploadAgent({ putTimeoutMs: config.putTimeoutMs, connections: config.putConcurrency }),
  putConcurrency: config.putConcurrency,
});
