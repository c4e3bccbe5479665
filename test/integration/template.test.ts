/**
 * Packages serverless.yml offline with osls + serverless-esbuild (no AWS credentials) and checks
 * the generated CloudFormation and the function artifacts against config/settings.json.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'node_modules', '.bin');
// Node 24 from node_modules/.bin must come first: osls and the bundle checks need it.
const CHILD_ENV = {
  ...process.env,
  PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
  SLS_TELEMETRY_DISABLED: '1',
  SLS_NOTIFICATIONS_MODE: 'off',
};
const PACKAGE_TIMEOUT_MS = 60_000;
const MiB = 1024 * 1024;

interface Settings {
  incomingPrefix: string;
  receiptsPrefix: string;
  maxBlockBytes: number;
  serviceVersion: string;
  allowedHosts: string;
  splitter: { timeoutSeconds: number; memorySize: number };
  fanOut: {
    timeoutSeconds: number;
    memorySize: number;
    batchSize: number;
    maximumBatchingWindowSeconds: number;
    maximumConcurrency: number;
    putConcurrency: number;
    putTimeoutMs: number;
  };
  finalizer: { timeoutSeconds: number; memorySize: number; batchSize: number };
  deadLetter: { timeoutSeconds: number; memorySize: number; batchSize: number; queueVisibilityTimeoutSeconds: number };
  blocksQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number; messageRetentionSeconds: number };
  outcomesQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number; messageRetentionSeconds: number };
  backoff: { baseMs: number; capMs: number };
}
const settings = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'settings.json'), 'utf8')) as Settings;

// CloudFormation is untyped JSON; `any` keeps property access readable in assertions.
type Props = Record<string, any>;
interface Resource {
  Type: string;
  Properties: Props;
  DependsOn?: string | string[];
}
interface Template {
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
}

interface Packaged {
  dir: string;
  output: string;
  template: Template;
}

/** Runs `osls package` from the repository root into a fresh temporary directory. */
async function packageService(extraArgs: string[] = []): Promise<Packaged> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clip-relay-package-'));
  let stdout: string;
  let stderr: string;
  try {
    ({ stdout, stderr } = await run(path.join(BIN, 'osls'), ['package', '--package', dir, ...extraArgs], {
      cwd: ROOT,
      env: CHILD_ENV,
      timeout: PACKAGE_TIMEOUT_MS,
      maxBuffer: 16 * MiB,
    }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`osls package failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
  const template = JSON.parse(
    fs.readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8'),
  ) as Template;
  return { dir, output: `${stdout}\n${stderr}`.replace(/\u001b\[[0-9;]*m/g, ''), template };
}

function resourcesOfType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The one AWS::Lambda::Function with this handler, as [logicalId, resource]. */
function functionByHandler(template: Template, handler: string): [string, Resource] {
  const found = resourcesOfType(template, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.Handler === handler);
  expect(found, `functions with handler ${handler}`).toHaveLength(1);
  return found[0]!;
}

function mappingFor(template: Template, functionLogicalId: string): Props {
  const found = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').filter(
    ([, r]) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId, 'Arn'] }),
  );
  expect(found, `event source mappings of ${functionLogicalId}`).toHaveLength(1);
  return found[0]![1].Properties;
}

function queue(template: Template, logicalId: string): Props {
  const r = template.Resources[logicalId];
  expect(r?.Type, logicalId).toBe('AWS::SQS::Queue');
  return r!.Properties;
}

/** Minimal zip reader (stored + deflate, no zip64): entry name -> content. Directory entries skipped. */
function readZip(file: string): Map<string, Buffer> {
  const buf = fs.readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${file}: no end-of-central-directory record`);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = new Map<string, Buffer>();
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory entry ${n}`);
    const method = buf.readUInt16LE(p + 10);
    const compressedSize = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLength = buf.readUInt16LE(p + 28);
    const extraLength = buf.readUInt16LE(p + 30);
    const commentLength = buf.readUInt16LE(p + 32);
    const localHeader = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + 46, p + 46 + nameLength);
    p += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    const start = localHeader + 30 + buf.readUInt16LE(localHeader + 26) + buf.readUInt16LE(localHeader + 28);
    const raw = buf.subarray(start, start + compressedSize);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = zlib.inflateRawSync(raw);
    else throw new Error(`${file}: ${name} uses unsupported compression method ${method}`);
    if (data.length !== size) throw new Error(`${file}: ${name} inflated to ${data.length} bytes, expected ${size}`);
    entries.set(name, data);
  }
  return entries;
}

const FUNCTIONS = [
  { name: 'splitter', handler: 'functions/splitter.handler', ...settings.splitter },
  { name: 'fan-out', handler: 'functions/fan-out.handler', ...settings.fanOut },
  { name: 'finalizer', handler: 'functions/finalizer.handler', ...settings.finalizer },
  { name: 'dead-letter', handler: 'functions/dead-letter.handler', ...settings.deadLetter },
] as const;

const EXPECTED_ENV = {
  CLIP_RELAY_BLOCKS_QUEUE_URL: { Ref: 'BlocksQueue' },
  CLIP_RELAY_OUTCOMES_QUEUE_URL: { Ref: 'OutcomesQueue' },
  CLIP_RELAY_INCOMING_PREFIX: settings.incomingPrefix,
  CLIP_RELAY_RECEIPTS_PREFIX: settings.receiptsPrefix,
  CLIP_RELAY_MAX_BLOCK_BYTES: String(settings.maxBlockBytes),
  CLIP_RELAY_SERVICE_VERSION: settings.serviceVersion,
  CLIP_RELAY_ALLOWED_HOSTS: settings.allowedHosts,
  CLIP_RELAY_PUT_CONCURRENCY: String(settings.fanOut.putConcurrency),
  CLIP_RELAY_PUT_TIMEOUT_MS: String(settings.fanOut.putTimeoutMs),
  CLIP_RELAY_MAX_ATTEMPTS: String(settings.blocksQueue.maxReceiveCount),
  CLIP_RELAY_BACKOFF_BASE_MS: String(settings.backoff.baseMs),
  CLIP_RELAY_BACKOFF_CAP_MS: String(settings.backoff.capMs),
  CLIP_RELAY_TOKEN_SOURCE: 'ssm',
  CLIP_RELAY_TOKEN_PREFIX: '/clip-relay/dev/tokens/',
  CLIP_RELAY_DEFAULT_TOKEN_REF: 'default',
  POWERTOOLS_SERVICE_NAME: 'clip-relay',
  POWERTOOLS_METRICS_NAMESPACE: 'ClipRelay',
  NODE_OPTIONS: '--enable-source-maps',
};

describe('serverless.yml packaged with defaults (stage dev)', () => {
  let pkg: Packaged;

  beforeAll(async () => {
    pkg = await packageService();
  }, PACKAGE_TIMEOUT_MS + 10_000);

  afterAll(() => {
    if (pkg) fs.rmSync(pkg.dir, { recursive: true, force: true });
  });

  it('passes schema validation except for the v4-only `build` key', () => {
    // configValidationMode is `warn` only so that osls tolerates `build.esbuild: false`.
    const block = /Invalid configuration encountered\n((?:[ \t]+at .*\n?)+)/.exec(pkg.output);
    const problems = block ? block[1]!.split('\n').map((l) => l.trim()).filter(Boolean) : [];
    expect(problems).toEqual(["at root: unrecognized property 'build'"]);
  });

  it('has exactly the four functions on nodejs24.x / arm64 with timeouts and memory from settings', () => {
    const handlers = resourcesOfType(pkg.template, 'AWS::Lambda::Function').map(([, r]) => r.Properties.Handler);
    expect(handlers.sort()).toEqual(FUNCTIONS.map((f) => f.handler).sort());
    for (const f of FUNCTIONS) {
      const [, fn] = functionByHandler(pkg.template, f.handler);
      expect(fn.Properties.Runtime, f.name).toBe('nodejs24.x');
      expect(fn.Properties.Architectures, f.name).toEqual(['arm64']);
      expect(fn.Properties.Timeout, f.name).toBe(f.timeoutSeconds);
      expect(fn.Properties.MemorySize, f.name).toBe(f.memorySize);
    }
  });

  it('gives every function the same environment, derived from settings', () => {
    for (const f of FUNCTIONS) {
      const [, fn] = functionByHandler(pkg.template, f.handler);
      expect(fn.Properties.Environment.Variables, f.name).toEqual(EXPECTED_ENV);
    }
  });

  it('triggers the splitter on object creation under the incoming prefix only', () => {
    const [splitterId] = functionByHandler(pkg.template, 'functions/splitter.handler');
    const notified = resourcesOfType(pkg.template, 'AWS::S3::Bucket').filter(
      ([, b]) => b.Properties.NotificationConfiguration !== undefined,
    );
    expect(notified).toHaveLength(1);
    const [bucketId, bucket] = notified[0]!;
    expect(bucket.Properties.NotificationConfiguration).toEqual({
      LambdaConfigurations: [
        {
          Event: 's3:ObjectCreated:*',
          Function: { 'Fn::GetAtt': [splitterId, 'Arn'] },
          Filter: { S3Key: { Rules: [{ Name: 'prefix', Value: settings.incomingPrefix }] } },
        },
      ],
    });
    // Receipts are written to the same bucket: they must never match the trigger.
    expect(settings.receiptsPrefix.startsWith(settings.incomingPrefix)).toBe(false);
    expect(settings.incomingPrefix.startsWith(settings.receiptsPrefix)).toBe(false);

    const bucketName = bucket.Properties.BucketName as string;
    expect(bucketName).toBe('clip-relay-dev-us-east-1-clips');
    const permissions = resourcesOfType(pkg.template, 'AWS::Lambda::Permission').filter(
      ([, r]) => r.Properties.Principal === 's3.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    const [permissionId, permission] = permissions[0]!;
    expect(permission.Properties.FunctionName).toEqual({ 'Fn::GetAtt': [splitterId, 'Arn'] });
    expect(JSON.stringify(permission.Properties.SourceArn)).toContain(`:s3:::${bucketName}"`);
    expect([bucket.DependsOn].flat()).toContain(permissionId);
    expect(pkg.template.Outputs.ClipsBucketName?.Value).toEqual({ Ref: bucketId });
  });

  it('maps BlocksQueue to the fan-out with batch settings, partial failures and a concurrency cap', () => {
    const [fanOutId] = functionByHandler(pkg.template, 'functions/fan-out.handler');
    const m = mappingFor(pkg.template, fanOutId);
    expect(m.EventSourceArn).toEqual({ 'Fn::GetAtt': ['BlocksQueue', 'Arn'] });
    expect(m.BatchSize).toBe(settings.fanOut.batchSize);
    expect(m.MaximumBatchingWindowInSeconds).toBe(settings.fanOut.maximumBatchingWindowSeconds);
    expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(m.ScalingConfig).toEqual({ MaximumConcurrency: settings.fanOut.maximumConcurrency });
  });

  it('maps the FIFO OutcomesQueue to the finalizer with partial failures', () => {
    const [finalizerId] = functionByHandler(pkg.template, 'functions/finalizer.handler');
    const m = mappingFor(pkg.template, finalizerId);
    expect(m.EventSourceArn).toEqual({ 'Fn::GetAtt': ['OutcomesQueue', 'Arn'] });
    expect(m.BatchSize).toBe(settings.finalizer.batchSize);
    expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(resourcesOfType(pkg.template, 'AWS::Lambda::EventSourceMapping')).toHaveLength(3);
  });

  it('maps BlocksDLQ to the dead-letter function, whose queue hides a message >= 6x its timeout', () => {
    const [deadLetterId, deadLetter] = functionByHandler(pkg.template, 'functions/dead-letter.handler');
    const m = mappingFor(pkg.template, deadLetterId);
    expect(m.EventSourceArn).toEqual({ 'Fn::GetAtt': ['BlocksDLQ', 'Arn'] });
    expect(m.BatchSize).toBe(settings.deadLetter.batchSize);
    expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(queue(pkg.template, 'BlocksDLQ').VisibilityTimeout).toBeGreaterThanOrEqual(6 * (deadLetter.Properties.Timeout as number));
  });

  it('gives BlocksQueue a visibility timeout of at least 6x the fan-out timeout and a DLQ after >= 5 receives', () => {
    const [, fanOut] = functionByHandler(pkg.template, 'functions/fan-out.handler');
    const blocks = queue(pkg.template, 'BlocksQueue');
    expect(blocks.VisibilityTimeout).toBe(settings.blocksQueue.visibilityTimeoutSeconds);
    expect(blocks.VisibilityTimeout).toBeGreaterThanOrEqual(6 * (fanOut.Properties.Timeout as number));
    expect(blocks.MessageRetentionPeriod).toBe(settings.blocksQueue.messageRetentionSeconds);
    expect(blocks.FifoQueue).toBeUndefined();
    expect(blocks.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['BlocksDLQ', 'Arn'] },
      maxReceiveCount: settings.blocksQueue.maxReceiveCount,
    });
    expect(blocks.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(5);
    expect(queue(pkg.template, 'BlocksDLQ').MessageRetentionPeriod).toBe(settings.blocksQueue.messageRetentionSeconds);
  });

  it('makes OutcomesQueue and its DLQ FIFO without content-based dedup, with a DLQ after >= 5 receives', () => {
    const [, finalizer] = functionByHandler(pkg.template, 'functions/finalizer.handler');
    const outcomes = queue(pkg.template, 'OutcomesQueue');
    expect(outcomes.FifoQueue).toBe(true);
    expect(outcomes.ContentBasedDeduplication).toBe(false);
    expect(outcomes.QueueName).toMatch(/\.fifo$/);
    expect(outcomes.VisibilityTimeout).toBe(settings.outcomesQueue.visibilityTimeoutSeconds);
    expect(outcomes.VisibilityTimeout).toBeGreaterThanOrEqual(6 * (finalizer.Properties.Timeout as number));
    expect(outcomes.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': ['OutcomesDLQ', 'Arn'] },
      maxReceiveCount: settings.outcomesQueue.maxReceiveCount,
    });
    expect(outcomes.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(5);
    const dlq = queue(pkg.template, 'OutcomesDLQ');
    expect(dlq.FifoQueue).toBe(true);
    expect(dlq.QueueName).toMatch(/\.fifo$/);
  });

  it('enables SQS-managed SSE on all four queues', () => {
    const queues = resourcesOfType(pkg.template, 'AWS::SQS::Queue');
    expect(queues.map(([id]) => id).sort()).toEqual(['BlocksDLQ', 'BlocksQueue', 'OutcomesDLQ', 'OutcomesQueue']);
    for (const [id, q] of queues) expect(q.Properties.SqsManagedSseEnabled, id).toBe(true);
  });

  it('outputs the queue URLs', () => {
    expect(pkg.template.Outputs.BlocksQueueUrl?.Value).toEqual({ Ref: 'BlocksQueue' });
    expect(pkg.template.Outputs.OutcomesQueueUrl?.Value).toEqual({ Ref: 'OutcomesQueue' });
  });

  it('lets the role read tokens under exactly the prefix the functions are given', () => {
    const [, role] = resourcesOfType(pkg.template, 'AWS::IAM::Role')[0]!;
    const statements = (role.Properties.Policies as Props[]).flatMap((p) => p.PolicyDocument.Statement as Props[]);
    const resourceFor = (action: string) =>
      statements.filter((s) => [s.Action].flat().includes(action)).flatMap((s) => [s.Resource].flat());
    expect(resourceFor('ssm:GetParameter')).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/clip-relay/dev/tokens/*' },
    ]);
    expect(resourceFor('secretsmanager:GetSecretValue')).toEqual([
      { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:/clip-relay/dev/tokens/*' },
    ]);
  });

  describe('function artifacts', () => {
    let loadDir: string;

    beforeAll(() => {
      // Under node_modules/ so the bundles' bare `@aws-sdk/*` imports resolve to the dev copy,
      // the way they resolve to the runtime's copy on Lambda.
      const cache = path.join(ROOT, 'node_modules', '.cache');
      fs.mkdirSync(cache, { recursive: true });
      loadDir = fs.mkdtempSync(path.join(cache, 'clip-relay-template-'));
    });

    afterAll(() => {
      if (loadDir) fs.rmSync(loadDir, { recursive: true, force: true });
    });

    for (const f of FUNCTIONS) {
      describe(f.name, () => {
        const modulePath = `${f.handler.slice(0, f.handler.lastIndexOf('.'))}.mjs`;

        it('is a zip under 1 MiB holding only its ESM bundle and source map', () => {
          const [, fn] = functionByHandler(pkg.template, f.handler);
          const zipName = path.posix.basename(fn.Properties.Code.S3Key as string);
          expect(zipName).toBe(`${f.name}.zip`);
          const zipPath = path.join(pkg.dir, zipName);
          expect(fs.existsSync(zipPath), zipPath).toBe(true);
          expect(fs.statSync(zipPath).size).toBeLessThan(1 * MiB);
          expect([...readZip(zipPath).keys()].sort()).toEqual([modulePath, `${modulePath}.map`]);
        });

        it('bundles no AWS SDK code (imports it from the runtime instead)', () => {
          const entries = readZip(path.join(pkg.dir, `${f.name}.zip`));
          const map = JSON.parse(entries.get(`${modulePath}.map`)!.toString('utf8')) as { sources: string[] };
          // The map lists every input file; make sure it is the real one before trusting its absence of SDK files.
          expect(map.sources.some((s) => s.endsWith(`functions/${f.name}.ts`))).toBe(true);
          expect(map.sources.filter((s) => s.includes('node_modules/@aws-sdk/'))).toEqual([]);
          // A bundled client carries its package name (user agent metadata); an external one only
          // appears as an import specifier.
          const code = entries.get(modulePath)!.toString('utf8');
          const withoutSdkImports = code.replace(/import\s*(?:\(\s*|[^;]*?from\s*)?["']@aws-sdk\/[^"']+["']/g, '');
          expect(withoutSdkImports).not.toContain('@aws-sdk/');
        });

        it('loads as an ES module and exports handler', async () => {
          const entries = readZip(path.join(pkg.dir, `${f.name}.zip`));
          const dir = path.join(loadDir, f.name);
          for (const [name, data] of entries) {
            fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
            fs.writeFileSync(path.join(dir, name), data);
          }
          const [, fn] = functionByHandler(pkg.template, f.handler);
          const env: Record<string, string> = { ...CHILD_ENV, AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' };
          for (const [k, v] of Object.entries(fn.Properties.Environment.Variables as Props)) {
            env[k] = typeof v === 'string' ? v : `https://sqs.us-east-1.amazonaws.com/000000000000/${(v as { Ref: string }).Ref}`;
          }
          // --input-type=module: a plain `node -e` script has a global `require`, which would hide a
          // bundle that only works when `require` exists (Lambda's ESM loader has none).
          const url = pathToFileURL(path.join(dir, modulePath)).href;
          const script = `const m = await import(${JSON.stringify(url)}); console.log(typeof m.handler);`;
          const { stdout } = await run(path.join(BIN, 'node'), ['--input-type=module', '-e', script], {
            cwd: dir,
            env,
            timeout: 30_000,
          });
          expect(stdout.trim().split('\n').at(-1)).toBe('function');
        });
      });
    }
  });
});

describe('serverless.yml packaged with --stage and --param overrides', () => {
  let pkg: Packaged;

  beforeAll(async () => {
    pkg = await packageService(['--stage', 'ci', '--param=fanOutMaximumConcurrency=7']);
  }, PACKAGE_TIMEOUT_MS + 10_000);

  afterAll(() => {
    if (pkg) fs.rmSync(pkg.dir, { recursive: true, force: true });
  });

  it('takes the fan-out concurrency cap from --param', () => {
    const [fanOutId] = functionByHandler(pkg.template, 'functions/fan-out.handler');
    expect(mappingFor(pkg.template, fanOutId).ScalingConfig).toEqual({ MaximumConcurrency: 7 });
  });

  it('puts the stage into queue names, the bucket name and the token prefix', () => {
    expect(queue(pkg.template, 'BlocksQueue').QueueName).toBe('clip-relay-ci-blocks');
    expect(queue(pkg.template, 'OutcomesQueue').QueueName).toBe('clip-relay-ci-outcomes.fifo');
    const [, bucket] = resourcesOfType(pkg.template, 'AWS::S3::Bucket').find(
      ([, b]) => b.Properties.NotificationConfiguration !== undefined,
    )!;
    expect(bucket.Properties.BucketName).toBe('clip-relay-ci-us-east-1-clips');
    const [, fn] = functionByHandler(pkg.template, 'functions/splitter.handler');
    expect(fn.Properties.Environment.Variables.CLIP_RELAY_TOKEN_PREFIX).toBe('/clip-relay/ci/tokens/');
  });
});
