import { ConfigError } from '../protocol/errors.ts';
import * as z from 'zod/mini';
import { parseWith } from '../protocol/schema.ts';
import { MAX_BLOCK_BYTES_CAP, MAX_CLIP_BYTES, MAX_REDELIVERY_DELAY_MS } from '../protocol/limits.ts';
import { hostPatternProblem } from '../protocol/upload-target.ts';

const ENV_PREFIX = 'CLIP_RELAY_';

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(max)), fallback);
const prefix = (fallback: string) => z._default(z.string().check(z.regex(/^[^\s]+\/$/, 'a prefix ends with "/"')), fallback);

// Keys are the env names without CLIP_RELAY_; a strict object makes a typo fail at cold start.
const ConfigSchema = z.strictObject({
  BLOCKS_QUEUE_URL: z.url(),
  OUTCOMES_QUEUE_URL: z.url(),
  INCOMING_PREFIX: prefix('incoming/'),
  RECEIPTS_PREFIX: prefix('receipts/'),
  MAX_BLOCK_BYTES: positiveInt(2_097_152, MAX_BLOCK_BYTES_CAP),
  // A clip without expected-blocks goes in one PUT: above this it is refused, not streamed whole.
  MAX_SINGLE_PUT_BYTES: positiveInt(64 * 1024 * 1024, MAX_CLIP_BYTES),
  SERVICE_VERSION: z._default(z.string().check(z.regex(/^[\w.-]{1,16}$/)), '1'),
  ALLOWED_HOSTS: z._default(z.string().check(z.minLength(1)), '*.xboxlive.com'),
  PUT_CONCURRENCY: positiveInt(8, 64),
  PUT_TIMEOUT_MS: positiveInt(30_000, 900_000),
  MAX_ATTEMPTS: positiveInt(8, 1000),
  BACKOFF_BASE_MS: positiveInt(2_000),
  BACKOFF_CAP_MS: positiveInt(900_000, MAX_REDELIVERY_DELAY_MS),
  TOKEN_SOURCE: z._default(z.enum(['ssm', 'secretsmanager']), 'ssm'),
  TOKEN_PREFIX: z._default(z.string().check(z.regex(/^\/?[\w./-]*\/$/, 'a token prefix ends with "/"')), '/clip-relay/tokens/'),
  DEFAULT_TOKEN_REF: z._default(z.string().check(z.regex(/^[\w.-]{1,128}$/)), 'default'),
  // The stuck-clips function's only (it has no S3 event to take the bucket from); the others
  // leave them unset. At most 14 days: the queues' retention, after which nothing is in flight.
  BUCKET: z.optional(z.string().check(z.regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not an S3 bucket name (3-63 of a-z, 0-9, ".", "-")'))),
  STUCK_AFTER_SECONDS: positiveInt(3600, 1_209_600),
  // The deployment stage: a dimension of every custom metric, so the alarms of one stage never see another's.
  STAGE: z.optional(z.string().check(z.regex(/^[\w-]{1,64}$/, 'a stage is 1-64 letters, digits, "_" or "-"'))),
});

/** The relay's settings, read once at cold start. */
export interface RelayConfig {
  blocksQueueUrl: string;
  outcomesQueueUrl: string;
  incomingPrefix: string;
  receiptsPrefix: string;
  maxBlockBytes: number;
  /** Largest clip sent in one PUT (no expected-blocks); a larger one fails CLIP_SIZE_UNSUPPORTED. */
  maxSinglePutBytes: number;
  serviceVersion: string;
  /** Host patterns an uploadUri may point at: `host`, `*.domain`, or `host:port`. */
  allowedHosts: string[];
  putConcurrency: number;
  putTimeoutMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  tokenSource: 'ssm' | 'secretsmanager';
  tokenPrefix: string;
  defaultTokenRef: string;
  /** The clips bucket, when the environment names it (the stuck-clips function; see {@link requireBucket}). */
  bucket?: string;
  /** A clip without a receipt this long after it was dropped is stuck. */
  stuckAfterSeconds: number;
  /** The deployment stage, a dimension of every custom metric (serverless.yml sets it). */
  stage?: string;
}

/**
 * Reads the relay's configuration from `CLIP_RELAY_*` environment variables.
 * @throws ConfigError naming every missing, malformed or unknown variable
 */
export function readConfig(env: Record<string, string | undefined>): RelayConfig {
  const raw: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(ENV_PREFIX) && value !== undefined && value !== '') raw[name.slice(ENV_PREFIX.length)] = value;
  }
  const c = parseWith(ConfigSchema, raw, (message) => new ConfigError(`configuration (${ENV_PREFIX}*): ${message}`));
  if (c.RECEIPTS_PREFIX.startsWith(c.INCOMING_PREFIX) || c.INCOMING_PREFIX.startsWith(c.RECEIPTS_PREFIX)) {
    // A receipt written under the incoming prefix would trigger the splitter again.
    throw new ConfigError(`receipts prefix "${c.RECEIPTS_PREFIX}" and incoming prefix "${c.INCOMING_PREFIX}" must not overlap`);
  }
  const allowedHosts = c.ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const hostProblems = allowedHosts.map(hostPatternProblem).filter((problem) => problem !== undefined);
  if (allowedHosts.length === 0) hostProblems.push('no host pattern');
  if (hostProblems.length > 0) throw new ConfigError(`configuration (${ENV_PREFIX}*): ${ENV_PREFIX}ALLOWED_HOSTS: ${hostProblems.join('; ')}`);
  if (c.BACKOFF_CAP_MS < c.BACKOFF_BASE_MS) throw new ConfigError('CLIP_RELAY_BACKOFF_CAP_MS is below CLIP_RELAY_BACKOFF_BASE_MS');
  return {
    blocksQueueUrl: c.BLOCKS_QUEUE_URL,
    outcomesQueueUrl: c.OUTCOMES_QUEUE_URL,
    incomingPrefix: c.INCOMING_PREFIX,
    receiptsPrefix: c.RECEIPTS_PREFIX,
    maxBlockBytes: c.MAX_BLOCK_BYTES,
    maxSinglePutBytes: c.MAX_SINGLE_PUT_BYTES,
    serviceVersion: c.SERVICE_VERSION,
    allowedHosts,
    putConcurrency: c.PUT_CONCURRENCY,
    putTimeoutMs: c.PUT_TIMEOUT_MS,
    maxAttempts: c.MAX_ATTEMPTS,
    backoffBaseMs: c.BACKOFF_BASE_MS,
    backoffCapMs: c.BACKOFF_CAP_MS,
    tokenSource: c.TOKEN_SOURCE,
    tokenPrefix: c.TOKEN_PREFIX,
    defaultTokenRef: c.DEFAULT_TOKEN_REF,
    ...(c.BUCKET !== undefined && { bucket: c.BUCKET }),
    stuckAfterSeconds: c.STUCK_AFTER_SECONDS,
    ...(c.STAGE !== undefined && { stage: c.STAGE }),
  };
}

/**
 * The bucket of a function that has no S3 event to read it from (the stuck-clips function).
 * @throws ConfigError when CLIP_RELAY_BUCKET is not set
 */
export function requireBucket(config: RelayConfig): string {
  if (config.bucket === undefined) throw new ConfigError(`configuration (${ENV_PREFIX}*): ${ENV_PREFIX}BUCKET is required by this function and is not set`);
  return config.bucket;
}
