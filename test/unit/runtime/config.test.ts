import { describe, expect, it } from 'vitest';
import { readConfig, requireBucket } from '../../../lib/runtime/config.ts';
import { ConfigError } from '../../../lib/protocol/errors.ts';
import { MAX_REDELIVERY_DELAY_MS } from '../../../lib/protocol/limits.ts';
import { checkUploadTarget } from '../../../lib/protocol/upload-target.ts';

const required = {
  CLIP_RELAY_BLOCKS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/blocks',
  CLIP_RELAY_OUTCOMES_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/1/outcomes.fifo',
};

describe('Function: readConfig', () => {
  it('Should fill defaults and ignore variables of others', () => {
    expect(readConfig({ ...required, PATH: '/bin', CLIP_RELAY_ALLOWED_HOSTS: '*.xboxlive.com, 127.0.0.1' })).toStrictEqual({
      blocksQueueUrl: required.CLIP_RELAY_BLOCKS_QUEUE_URL,
      outcomesQueueUrl: required.CLIP_RELAY_OUTCOMES_QUEUE_URL,
      incomingPrefix: 'incoming/',
      receiptsPrefix: 'receipts/',
      maxBlockBytes: 2_097_152,
      maxSinglePutBytes: 64 * 1024 * 1024,
      serviceVersion: '1',
      allowedHosts: ['*.xboxlive.com', '127.0.0.1'],
      putConcurrency: 8,
      putTimeoutMs: 30_000,
      maxAttempts: 8,
      backoffBaseMs: 2_000,
      backoffCapMs: 900_000,
      tokenSource: 'ssm',
      tokenPrefix: '/clip-relay/tokens/',
      defaultTokenRef: 'default',
      stuckAfterSeconds: 3600,
    });
  });

  it('Should accept every form of host pattern the upload-target check matches, lower-cased', () => {
    const config = readConfig({ ...required, CLIP_RELAY_ALLOWED_HOSTS: '*.XboxLive.com, upload.example.com, 127.0.0.1:9000, [::1]:8080, localhost' });
    expect(config.allowedHosts).toStrictEqual(['*.xboxlive.com', 'upload.example.com', '127.0.0.1:9000', '[::1]:8080', 'localhost']);
  });

  it.each([
    ['*.XboxLive.com', 'https://gameclipstransfer.xboxlive.com/up'],
    ['upload.example.com', 'https://upload.example.com:8443/up'],
    ['127.0.0.1:9000', 'http://127.0.0.1:9000/up'],
    ['[::1]:8080', 'http://[::1]:8080/up'],
    ['[::1]', 'http://[::1]:8080/up'],
    ['localhost', 'http://localhost:3000/up'],
  ])('Should read the allowed host %s so that it admits %s', (pattern, uri) => {
    const config = readConfig({ ...required, CLIP_RELAY_ALLOWED_HOSTS: pattern });
    expect(checkUploadTarget(uri, config.allowedHosts).href).toBe(new URL(uri).href);
  });

  it("Should read the stuck-clips function's bucket and threshold when they are set", () => {
    const config = readConfig({ ...required, CLIP_RELAY_BUCKET: 'clip-relay-prod-eu-west-1-clips', CLIP_RELAY_STUCK_AFTER_SECONDS: '7200' });
    expect(config).toStrictEqual({ ...readConfig(required), bucket: 'clip-relay-prod-eu-west-1-clips', stuckAfterSeconds: 7200 });
    expect(requireBucket(config)).toBe('clip-relay-prod-eu-west-1-clips');
  });

  it('Should fail loudly when a function that needs the bucket has none', () => {
    const act = () => requireBucket(readConfig(required));
    expect(act).toThrow(ConfigError);
    expect(act).toThrow('configuration (CLIP_RELAY_*): CLIP_RELAY_BUCKET is required by this function and is not set');
  });

  it.each([
    ['a missing queue URL', { CLIP_RELAY_BLOCKS_QUEUE_URL: required.CLIP_RELAY_BLOCKS_QUEUE_URL }, /OUTCOMES_QUEUE_URL/],
    ['a typo', { ...required, CLIP_RELAY_PUT_CONCURENCY: '4' }, /Unrecognized key: "PUT_CONCURENCY"/],
    ['a non-number', { ...required, CLIP_RELAY_MAX_BLOCK_BYTES: 'big' }, /MAX_BLOCK_BYTES/],
    ['an unknown token source', { ...required, CLIP_RELAY_TOKEN_SOURCE: 'vault' }, /TOKEN_SOURCE/],
    ['overlapping prefixes', { ...required, CLIP_RELAY_RECEIPTS_PREFIX: 'incoming/receipts/' }, /must not overlap/],
    ['a prefix without a slash', { ...required, CLIP_RELAY_INCOMING_PREFIX: 'incoming' }, /ends with "\/"/],
    ['a cap below the base', { ...required, CLIP_RELAY_BACKOFF_BASE_MS: '5000', CLIP_RELAY_BACKOFF_CAP_MS: '1000' }, /BACKOFF_CAP_MS/],
    ['a bucket name S3 would refuse', { ...required, CLIP_RELAY_BUCKET: 'Clips_Bucket' }, /not an S3 bucket name .*at BUCKET/],
    ['a bucket given as an ARN', { ...required, CLIP_RELAY_BUCKET: 'arn:aws:s3:::clips' }, /BUCKET/],
    ['a zero stuck threshold', { ...required, CLIP_RELAY_STUCK_AFTER_SECONDS: '0' }, /STUCK_AFTER_SECONDS/],
    ['a back-off cap past the longest redelivery delay', { ...required, CLIP_RELAY_BACKOFF_CAP_MS: String(MAX_REDELIVERY_DELAY_MS + 1) }, /BACKOFF_CAP_MS/],
    ['an allowed host given as a URL', { ...required, CLIP_RELAY_ALLOWED_HOSTS: '*.xboxlive.com,https://x.com' }, /ALLOWED_HOSTS: "https:\/\/x\.com" is not a host pattern/],
    ['an allowed host with a path', { ...required, CLIP_RELAY_ALLOWED_HOSTS: 'x.com/upload' }, /"x\.com\/upload" is not a host pattern/],
    ['an allowed host with user info', { ...required, CLIP_RELAY_ALLOWED_HOSTS: 'me@x.com' }, /"me@x\.com" is not a host pattern/],
    ['a wildcard inside a host', { ...required, CLIP_RELAY_ALLOWED_HOSTS: 'upload.*.com' }, /"upload\.\*\.com" is not a host pattern/],
    ['a wildcard over a whole top-level domain', { ...required, CLIP_RELAY_ALLOWED_HOSTS: '*.com' }, /"\*\.com" is not a host pattern/],
    ['a wildcard with a port', { ...required, CLIP_RELAY_ALLOWED_HOSTS: '*.x.com:443' }, /"\*\.x\.com:443" is not a host pattern/],
    ['a port out of range', { ...required, CLIP_RELAY_ALLOWED_HOSTS: 'x.com:70000' }, /"x\.com:70000" has port 70000, outside 1-65535/],
    ['commas only', { ...required, CLIP_RELAY_ALLOWED_HOSTS: ' , ' }, /ALLOWED_HOSTS: no host pattern/],
    ['a stuck threshold past the queues\' retention', { ...required, CLIP_RELAY_STUCK_AFTER_SECONDS: '1209601' }, /STUCK_AFTER_SECONDS/],
  ])('Should fail loudly on %s', (_name, env, message) => {
    const act = () => readConfig(env);
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(message);
  });
});
