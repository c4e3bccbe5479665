/**
 * Packages serverless.yml offline with osls + serverless-esbuild (no AWS credentials) and checks
 * the generated CloudFormation and the function artifacts against config/settings.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  alarmAsDeployed,
  BIN,
  CHILD_ENV,
  deployTimeTests,
  dashboardMetrics,
  emittedMetricNames,
  functionByHandler,
  grantsOf,
  mappingFor,
  mappingsOf,
  MiB,
  PACKAGE_TIMEOUT_MS,
  packageService,
  queue,
  readZip,
  resourcesOfType,
  roleOf,
  ROOT,
  run,
  schemaProblems,
  type DashboardMetric,
  type Packaged,
  type Props,
  type Template,
  type Resource,
} from '../helpers/cloudformation.ts';

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
    v8Flags: string;
    mallocArenaMax: number;
  };
  finalizer: { timeoutSeconds: number; memorySize: number; batchSize: number };
  deadLetter: { timeoutSeconds: number; memorySize: number; batchSize: number; queueVisibilityTimeoutSeconds: number };
  stuckClips: { scheduleRate: string; stuckAfterSeconds: number; timeoutSeconds: number; memorySize: number };
  blocksQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number; messageRetentionSeconds: number };
  outcomesQueue: { visibilityTimeoutSeconds: number; maxReceiveCount: number; messageRetentionSeconds: number };
  backoff: { baseMs: number; capMs: number };
  alarms: { periodSeconds: number; blocksQueueOldestMessageAgeSeconds: number };
}
const settings = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'settings.json'), 'utf8')) as Settings;

const LOGS = (functionName: string) =>
  [
    `logs:CreateLogStream arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName}:*`,
    `logs:PutLogEvents arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/${functionName}:*`,
  ];
const s3Object = (bucket: string, prefix: string) => `arn:\${AWS::Partition}:s3:::${bucket}/${prefix}*`;
// No s3:prefix condition: it is there so a missing object answers 404 rather than 403.
const listBucket = (bucket: string) => `s3:ListBucket arn:\${AWS::Partition}:s3:::${bucket}`;
const viaService = (service: string) => ` if ${JSON.stringify({ StringEquals: { 'kms:ViaService': { 'Fn::Sub': `${service}.\${AWS::Region}.amazonaws.com` } } })}`;

/** What each function's role must grant exactly, for a bucket, prefixes, stage and token source. */
function expectedGrants(o: {
  stage: string;
  bucket: string;
  incoming: string;
  receipts: string;
  tokenSource: 'ssm' | 'secretsmanager';
  tokenPrefix: string;
  bucketKmsKeyArn?: string;
}): Record<string, string[]> {
  const fn = (name: string) => `clip-relay-${o.stage}-${name}`;
  const token =
    o.tokenSource === 'ssm'
      ? `ssm:GetParameter arn:\${AWS::Partition}:ssm:\${AWS::Region}:\${AWS::AccountId}:parameter${o.tokenPrefix}*`
      : `secretsmanager:GetSecretValue arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${o.tokenPrefix}*`;
  const bucketKey = (...actions: string[]) =>
    o.bucketKmsKeyArn === undefined ? [] : actions.map((a) => `${a} ${o.bucketKmsKeyArn}${viaService('s3')}`);
  return {
    'functions/splitter.handler': [
      ...LOGS(fn('splitter')),
      `s3:GetObject ${s3Object(o.bucket, o.incoming)}`,
      listBucket(o.bucket),
      'sqs:SendMessage BlocksQueue.Arn',
      'sqs:SendMessage OutcomesQueue.Arn',
      // The on-failure destination: Lambda delivers with the function's own role.
      'sqs:SendMessage SplitterFailuresQueue.Arn',
    ].sort(),
    'functions/fan-out.handler': [
      ...LOGS(fn('fan-out')),
      `s3:GetObject ${s3Object(o.bucket, o.incoming)}`,
      `s3:GetObjectVersion ${s3Object(o.bucket, o.incoming)}`,
      `s3:GetObject ${s3Object(o.bucket, o.receipts)}`,
      // Only the upload's hold after a 429 (<receipt key>.hold), never a receipt.
      `s3:PutObject ${s3Object(o.bucket, o.receipts)}.hold`,
      listBucket(o.bucket),
      'sqs:ReceiveMessage BlocksQueue.Arn',
      'sqs:DeleteMessage BlocksQueue.Arn',
      'sqs:GetQueueAttributes BlocksQueue.Arn',
      'sqs:ChangeMessageVisibility BlocksQueue.Arn',
      'sqs:SendMessage OutcomesQueue.Arn',
      token,
      `kms:Decrypt *${viaService(o.tokenSource)}`,
      ...bucketKey('kms:Decrypt', 'kms:GenerateDataKey'),
    ].sort(),
    'functions/finalizer.handler': [
      ...LOGS(fn('finalizer')),
      `s3:GetObject ${s3Object(o.bucket, o.receipts)}`,
      `s3:PutObject ${s3Object(o.bucket, o.receipts)}`,
      listBucket(o.bucket),
      'sqs:ReceiveMessage OutcomesQueue.Arn',
      'sqs:DeleteMessage OutcomesQueue.Arn',
      'sqs:GetQueueAttributes OutcomesQueue.Arn',
      ...bucketKey('kms:Decrypt', 'kms:GenerateDataKey'),
    ].sort(),
    'functions/dead-letter.handler': [
      ...LOGS(fn('dead-letter')),
      'sqs:ReceiveMessage BlocksDLQ.Arn',
      'sqs:DeleteMessage BlocksDLQ.Arn',
      'sqs:GetQueueAttributes BlocksDLQ.Arn',
      'sqs:ReceiveMessage SplitterFailuresQueue.Arn',
      'sqs:DeleteMessage SplitterFailuresQueue.Arn',
      'sqs:GetQueueAttributes SplitterFailuresQueue.Arn',
      'sqs:SendMessage OutcomesQueue.Arn',
    ].sort(),
    'functions/stuck-clips.handler': [
      ...LOGS(fn('stuck-clips')),
      `s3:GetObject ${s3Object(o.bucket, o.receipts)}`,
      listBucket(o.bucket),
      ...bucketKey('kms:Decrypt'),
    ].sort(),
  };
}

/** The alarms the stack must have: logical id -> the properties that define what they watch. */
function expectedAlarms(o: { stage: string; blocksQueueMaxAgeSeconds: number | string }): Record<string, Props> {
  const period = settings.alarms.periodSeconds;
  const common = { EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching', Period: period };
  const custom = (metric: string) => ({
    ...common,
    Namespace: 'ClipRelay',
    MetricName: metric,
    Dimensions: [{ Name: 'service', Value: 'clip-relay' }, { Name: 'stage', Value: o.stage }],
    Statistic: 'Sum',
    Threshold: 0,
  });
  const sqs = (metric: string, queueId: string, threshold: number | string) => ({
    ...common,
    Namespace: 'AWS/SQS',
    MetricName: metric,
    Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
    Statistic: 'Maximum',
    Threshold: threshold,
  });
  const fanOut = (metric: string) => ({
    ...common,
    Namespace: 'AWS/Lambda',
    MetricName: metric,
    Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'FanDashoutLambdaFunction' } }],
    Statistic: 'Sum',
    Threshold: 0,
  });
  const name = (suffix: string) => ({ AlarmName: `clip-relay-${o.stage}-${suffix}` });
  return {
    BlocksDLQNotEmptyAlarm: { ...name('blocks-dlq-not-empty'), ...sqs('ApproximateNumberOfMessagesVisible', 'BlocksDLQ', 0) },
    OutcomesDLQNotEmptyAlarm: { ...name('outcomes-dlq-not-empty'), ...sqs('ApproximateNumberOfMessagesVisible', 'OutcomesDLQ', 0) },
    SplitterFailuresNotEmptyAlarm: { ...name('splitter-failures-not-empty'), ...sqs('ApproximateNumberOfMessagesVisible', 'SplitterFailuresQueue', 0) },
    BlocksQueueOldestMessageAlarm: {
      ...name('blocks-queue-backlog'),
      ...sqs('ApproximateAgeOfOldestMessage', 'BlocksQueue', o.blocksQueueMaxAgeSeconds),
    },
    ClipsFailedAlarm: { ...name('clips-failed'), ...custom('ClipsFailed') },
    // One datapoint per scheduled run: missing data between runs keeps the state.
    StuckClipsAlarm: { ...name('stuck-clips'), ...custom('StuckClips'), TreatMissingData: 'ignore' },
    FanOutErrorsAlarm: { ...name('fan-out-errors'), ...fanOut('Errors') },
    FanOutThrottlesAlarm: { ...name('fan-out-throttles'), ...fanOut('Throttles') },
  };
}

const FUNCTIONS = [
  { name: 'splitter', handler: 'functions/splitter.handler', ...settings.splitter },
  { name: 'fan-out', handler: 'functions/fan-out.handler', ...settings.fanOut },
  { name: 'finalizer', handler: 'functions/finalizer.handler', ...settings.finalizer },
  { name: 'dead-letter', handler: 'functions/dead-letter.handler', ...settings.deadLetter },
  { name: 'stuck-clips', handler: 'functions/stuck-clips.handler', ...settings.stuckClips },
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
  CLIP_RELAY_STAGE: 'dev',
};

/** What a function's environment adds to the shared one: the stuck-clips function's bucket and threshold. */
function ownEnv(name: string, o: { bucket: string; stuckAfterSeconds: string }): Record<string, string> {
  if (name === 'stuck-clips') return { CLIP_RELAY_BUCKET: o.bucket, CLIP_RELAY_STUCK_AFTER_SECONDS: o.stuckAfterSeconds };
  // The fan-out alone runs with V8 flags and fewer malloc arenas.
  if (name === 'fan-out') return { NODE_OPTIONS: settings.fanOut.v8Flags, MALLOC_ARENA_MAX: String(settings.fanOut.mallocArenaMax) };
  return {};
}
const DEFAULT_OWN_ENV = { bucket: 'clip-relay-dev-us-east-1-clips', stuckAfterSeconds: String(settings.stuckClips.stuckAfterSeconds) };

/**
 * Each message's writers whose function resource does not depend on the message's readers:
 * during a stack update a new writer (of a new version) must not start while an old reader
 * runs. Block messages: splitter -> fan-out, dead-letter. Outcomes: those three -> finalizer.
 */
function readersFirst(template: Template): { missing: string[] } {
  const id = (name: string) => functionByHandler(template, `functions/${name}.handler`)[0];
  const order: Array<[writer: string, readers: string[]]> = [
    ['splitter', ['fan-out', 'dead-letter', 'finalizer']],
    ['fan-out', ['finalizer']],
    ['dead-letter', ['finalizer']],
  ];
  return {
    missing: order.flatMap(([writer, readers]) => {
      const dependsOn = [template.Resources[id(writer)]!.DependsOn ?? []].flat();
      return readers.filter((reader) => !dependsOn.includes(id(reader))).map((reader) => `${writer} -> ${reader}`);
    }),
  };
}

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
    expect(schemaProblems(pkg.output)).toEqual(["at root: unrecognized property 'build'"]);
  });

  it('has exactly the five functions on nodejs24.x / arm64 with timeouts and memory from settings', () => {
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

  it("updates each message's readers before its writers (block messages: fan-out, dead-letter before the splitter; outcomes: the finalizer before all three)", () => {
    expect(readersFirst(pkg.template)).toStrictEqual({ missing: [] });
  });

  it('gives every function the same environment, derived from settings, the stuck-clips function its bucket and threshold, the fan-out its V8 flags', () => {
    for (const f of FUNCTIONS) {
      const [, fn] = functionByHandler(pkg.template, f.handler);
      expect(fn.Properties.Environment.Variables, f.name).toEqual({ ...EXPECTED_ENV, ...ownEnv(f.name, DEFAULT_OWN_ENV) });
    }
    const [, stuckClips] = functionByHandler(pkg.template, 'functions/stuck-clips.handler');
    expect(stuckClips.Properties.Environment.Variables).toMatchObject({
      CLIP_RELAY_BUCKET: 'clip-relay-dev-us-east-1-clips',
      CLIP_RELAY_STUCK_AFTER_SECONDS: '3600',
    });
  });

  it('runs the stuck-clips function on the schedule from settings, and nothing else on a schedule', () => {
    const [stuckClipsId] = functionByHandler(pkg.template, 'functions/stuck-clips.handler');
    const rules = resourcesOfType(pkg.template, 'AWS::Events::Rule');
    expect(rules).toHaveLength(1);
    const [ruleId, rule] = rules[0]!;
    expect(settings.stuckClips.scheduleRate).toBe('rate(15 minutes)');
    expect(rule.Properties).toEqual({
      ScheduleExpression: settings.stuckClips.scheduleRate,
      State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [stuckClipsId, 'Arn'] }, Id: 'stuck-clipsSchedule' }],
    });
    const permissions = resourcesOfType(pkg.template, 'AWS::Lambda::Permission').filter(([, r]) => r.Properties.Principal === 'events.amazonaws.com');
    expect(permissions.map(([, r]) => r.Properties)).toEqual([
      { FunctionName: { 'Fn::GetAtt': [stuckClipsId, 'Arn'] }, Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] } },
    ]);
    // A run must end well before the next one starts.
    expect(settings.stuckClips.timeoutSeconds).toBeLessThan(15 * 60);
    expect(resourcesOfType(pkg.template, 'AWS::Lambda::EventSourceMapping').filter(([, m]) => JSON.stringify(m).includes(stuckClipsId))).toEqual([]);
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
    expect(resourcesOfType(pkg.template, 'AWS::Lambda::EventSourceMapping')).toHaveLength(4);
  });

  it('maps BlocksDLQ to the dead-letter function, whose queue hides a message >= 6x its timeout', () => {
    const [deadLetterId, deadLetter] = functionByHandler(pkg.template, 'functions/dead-letter.handler');
    const m = mappingFor(pkg.template, deadLetterId, 'BlocksDLQ');
    expect(m.EventSourceArn).toEqual({ 'Fn::GetAtt': ['BlocksDLQ', 'Arn'] });
    expect(m.BatchSize).toBe(settings.deadLetter.batchSize);
    expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(queue(pkg.template, 'BlocksDLQ').VisibilityTimeout).toBeGreaterThanOrEqual(6 * (deadLetter.Properties.Timeout as number));
  });

  it('sends the events the splitter gave up on to SplitterFailuresQueue after two retries', () => {
    const [splitterId] = functionByHandler(pkg.template, 'functions/splitter.handler');
    const configs = resourcesOfType(pkg.template, 'AWS::Lambda::EventInvokeConfig');
    expect(configs).toHaveLength(1);
    const [, config] = configs[0]!;
    expect(config.Properties).toEqual({
      FunctionName: { Ref: splitterId },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['SplitterFailuresQueue', 'Arn'] } } },
    });
    // Lambda delivers the record with the splitter's role, which must be able to send it.
    expect(grantsOf(pkg.template, roleOf(pkg.template, 'functions/splitter.handler'))).toContain('sqs:SendMessage SplitterFailuresQueue.Arn');
  });

  it('maps SplitterFailuresQueue to the dead-letter function too, keeping the records 14 days, encrypted, hidden >= 6x its timeout', () => {
    const [deadLetterId, deadLetter] = functionByHandler(pkg.template, 'functions/dead-letter.handler');
    expect(mappingsOf(pkg.template, deadLetterId).map((m) => m.EventSourceArn['Fn::GetAtt'][0]).sort()).toEqual(['BlocksDLQ', 'SplitterFailuresQueue']);
    const m = mappingFor(pkg.template, deadLetterId, 'SplitterFailuresQueue');
    expect(m.BatchSize).toBe(settings.deadLetter.batchSize);
    expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(m.Enabled).toBe(true);
    const failures = queue(pkg.template, 'SplitterFailuresQueue');
    expect(failures).toEqual({
      QueueName: 'clip-relay-dev-splitter-failures',
      VisibilityTimeout: settings.deadLetter.queueVisibilityTimeoutSeconds,
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
    expect(failures.VisibilityTimeout).toBeGreaterThanOrEqual(6 * (deadLetter.Properties.Timeout as number));
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

  it('enables SQS-managed SSE on all five queues', () => {
    const queues = resourcesOfType(pkg.template, 'AWS::SQS::Queue');
    expect(queues.map(([id]) => id).sort()).toEqual(['BlocksDLQ', 'BlocksQueue', 'OutcomesDLQ', 'OutcomesQueue', 'SplitterFailuresQueue']);
    for (const [id, q] of queues) expect(q.Properties.SqsManagedSseEnabled, id).toBe(true);
  });

  it('outputs the queue URLs', () => {
    expect(pkg.template.Outputs.BlocksQueueUrl?.Value).toEqual({ Ref: 'BlocksQueue' });
    expect(pkg.template.Outputs.OutcomesQueueUrl?.Value).toEqual({ Ref: 'OutcomesQueue' });
  });

  it('gives each function its own role, and creates no shared one', () => {
    const roles = resourcesOfType(pkg.template, 'AWS::IAM::Role');
    expect(roles.map(([id]) => id).sort()).toEqual(['DeadLetterRole', 'FanOutRole', 'FinalizerRole', 'SplitterRole', 'StuckClipsRole']);
    expect(pkg.template.Resources.IamRoleLambdaExecution).toBeUndefined();
    const used = FUNCTIONS.map((f) => roleOf(pkg.template, f.handler)[0]);
    expect(new Set(used).size).toBe(FUNCTIONS.length);
    for (const [id, role] of roles) {
      expect(role.Properties.AssumeRolePolicyDocument, id).toEqual({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      });
      expect(role.Properties.ManagedPolicyArns, id).toBeUndefined();
      expect(role.Properties.PermissionsBoundary, id).toBeUndefined();
    }
  });

  it('grants each role exactly the calls its function makes', () => {
    const expected = expectedGrants({
      stage: 'dev',
      bucket: 'clip-relay-dev-us-east-1-clips',
      incoming: settings.incomingPrefix,
      receipts: settings.receiptsPrefix,
      tokenSource: 'ssm',
      tokenPrefix: '/clip-relay/dev/tokens/',
    });
    for (const f of FUNCTIONS) {
      expect(grantsOf(pkg.template, roleOf(pkg.template, f.handler)), f.name).toEqual(expected[f.handler]);
    }
  });

  it('keeps writes, tokens and sends away from the functions that do not need them', () => {
    const actions = (handler: string) => actionsOf(grantsOf(pkg.template, roleOf(pkg.template, handler)));
    const splitter = actions('functions/splitter.handler');
    expect(splitter).not.toContain('s3:PutObject');
    expect(splitter.filter((a) => /^(ssm|secretsmanager|kms):/.test(a))).toEqual([]);
    const fanOut = actions('functions/fan-out.handler');
    // Its one write is the upload's hold: <receipt key>.hold, never a receipt or a clip.
    const fanOutWrites = grantsOf(pkg.template, roleOf(pkg.template, 'functions/fan-out.handler')).filter((g) => g.startsWith('s3:PutObject '));
    expect(fanOutWrites).toHaveLength(1);
    expect(fanOutWrites[0]).toMatch(/\*\.hold$/);
    expect(fanOut).not.toContain('secretsmanager:GetSecretValue');
    const finalizer = actions('functions/finalizer.handler');
    expect(finalizer).not.toContain('sqs:SendMessage');
    expect(finalizer.filter((a) => /^(ssm|secretsmanager):/.test(a))).toEqual([]);
    const deadLetter = actions('functions/dead-letter.handler');
    expect(deadLetter.filter((a) => a.startsWith('s3:'))).toEqual([]);
    // The stuck-clips check only reads: no writes, no queues, no tokens.
    expect(actions('functions/stuck-clips.handler')).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 's3:GetObject', 's3:ListBucket']);
    // No wildcard actions anywhere; '*' resources only for KMS behind kms:ViaService.
    for (const f of FUNCTIONS) {
      const grants = grantsOf(pkg.template, roleOf(pkg.template, f.handler));
      expect(grants.filter((g) => g.split(' ')[0]!.includes('*')), f.name).toEqual([]);
      expect(grants.filter((g) => g.split(' ')[1] === '*' && !g.startsWith('kms:Decrypt * if {"StringEquals":{"kms:ViaService"')), f.name).toEqual([]);
    }
  });

  it('lets each function write only to the log group the framework creates for it', () => {
    for (const f of FUNCTIONS) {
      const [, fn] = functionByHandler(pkg.template, f.handler);
      const logGroupId = [fn.DependsOn].flat().find((id) => pkg.template.Resources[id!]?.Type === 'AWS::Logs::LogGroup')!;
      const logGroupName = pkg.template.Resources[logGroupId]!.Properties.LogGroupName as string;
      expect(logGroupName, f.name).toBe(`/aws/lambda/clip-relay-dev-${f.name}`);
      expect(fn.Properties.FunctionName, f.name).toBe(`clip-relay-dev-${f.name}`);
      const logGrants = grantsOf(pkg.template, roleOf(pkg.template, f.handler)).filter((g) => g.startsWith('logs:'));
      expect(logGrants, f.name).toEqual(
        ['logs:CreateLogStream', 'logs:PutLogEvents'].map(
          (a) => `${a} arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${logGroupName}:*`,
        ),
      );
    }
  });

  it('lets the fan-out read tokens under exactly the prefix the functions are given, from SSM only', () => {
    const grants = grantsOf(pkg.template, roleOf(pkg.template, 'functions/fan-out.handler'));
    expect(grants.filter((g) => /^(ssm|secretsmanager|kms):/.test(g))).toEqual([
      `kms:Decrypt *${viaService('ssm')}`,
      'ssm:GetParameter arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/clip-relay/dev/tokens/*',
    ]);
  });

  it('makes the created bucket refuse requests without TLS', () => {
    const policies = resourcesOfType(pkg.template, 'AWS::S3::BucketPolicy').filter(([id]) => id !== 'ServerlessDeploymentBucketPolicy');
    expect(policies.map(([id]) => id)).toEqual(['ClipsBucketPolicy']);
    const [, policy] = policies[0]!;
    expect(policy.Properties.Bucket).toEqual({ Ref: 'S3BucketClips' });
    expect(policy.Properties.PolicyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [{ 'Fn::GetAtt': ['S3BucketClips', 'Arn'] }, { 'Fn::Sub': '${S3BucketClips.Arn}/*' }],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
    const bucket = pkg.template.Resources.S3BucketClips!.Properties;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
  });

  it('tests nothing at deploy time that was known at package time: no Conditions, no Fn::If, no bucket key grants', () => {
    expect(deployTimeTests(pkg.template)).toEqual([]);
    expect(resourcesOfType(pkg.template, 'AWS::IAM::RolePolicy')).toEqual([]);
  });

  it('has the alarms, on the right metrics and thresholds, without actions when no topic is given', () => {
    const alarms = resourcesOfType(pkg.template, 'AWS::CloudWatch::Alarm');
    const expected = expectedAlarms({ stage: 'dev', blocksQueueMaxAgeSeconds: settings.alarms.blocksQueueOldestMessageAgeSeconds });
    expect(alarms.map(([id]) => id).sort()).toEqual(Object.keys(expected).sort());
    for (const [id, alarm] of alarms) {
      expect(alarmAsDeployed(alarm), id).toEqual({ ...expected[id], AlarmActions: [] });
    }
  });

  it('alarms on metric names the code emits, in the namespace, service and stage it is configured with', () => {
    const emitted = emittedMetricNames();
    for (const [id, alarm] of resourcesOfType(pkg.template, 'AWS::CloudWatch::Alarm')) {
      if (alarm.Properties.Namespace !== EXPECTED_ENV.POWERTOOLS_METRICS_NAMESPACE) continue;
      expect(emitted, id).toContain(alarm.Properties.MetricName);
      expect(alarm.Properties.Dimensions, id).toEqual([
        { Name: 'service', Value: EXPECTED_ENV.POWERTOOLS_SERVICE_NAME },
        { Name: 'stage', Value: EXPECTED_ENV.CLIP_RELAY_STAGE },
      ]);
    }
  });

  it('has a dashboard showing every metric the code emits, the queues and the fan-out', () => {
    const [[, dashboard]] = resourcesOfType(pkg.template, 'AWS::CloudWatch::Dashboard') as [[string, Resource]];
    expect(dashboard.Properties.DashboardName).toBe('clip-relay-dev');
    const widgets = dashboardMetrics(pkg.template);
    const custom = (metric: string, stat = 'Sum'): DashboardMetric => ({
      namespace: 'ClipRelay',
      metric,
      dimension: ['service', 'clip-relay', 'stage', 'dev'],
      stat,
    });
    const visible = (queueId: string): DashboardMetric => ({
      namespace: 'AWS/SQS',
      metric: 'ApproximateNumberOfMessagesVisible',
      dimension: ['QueueName', `<{'Fn::GetAtt':['${queueId}','QueueName']}>`],
      stat: 'Maximum',
    });
    const fanOut = (metric: string, stat: string): DashboardMetric => ({
      namespace: 'AWS/Lambda',
      metric,
      dimension: ['FunctionName', "<{'Ref':'FanDashoutLambdaFunction'}>"],
      stat,
    });
    expect(widgets).toEqual({
      Throughput: [custom('BlocksSent'), custom('BytesSent')],
      'Outcomes (receipts)': [custom('ClipsCommitted'), custom('ClipsFailed'), custom('ClipsUnconfirmed'), custom('StuckClips'), custom('CorruptReceipts')],
      'Block PUT latency (ms)': [custom('PutLatency', 'p50'), custom('PutLatency', 'p99')],
      'Drop to receipt (ms)': [custom('DropToReceipt', 'p50'), custom('DropToReceipt', 'p99')],
      'Queue depth (visible messages)': [
        visible('BlocksQueue'),
        visible('BlocksDLQ'),
        visible('OutcomesQueue'),
        visible('OutcomesDLQ'),
        visible('SplitterFailuresQueue'),
        { ...visible('BlocksQueue'), metric: 'ApproximateAgeOfOldestMessage' },
      ],
      'Fan-out': [
        fanOut('Errors', 'Sum'),
        fanOut('Throttles', 'Sum'),
        fanOut('ConcurrentExecutions', 'Maximum'),
        custom('Retries'),
        custom('Redirects'),
      ],
    });
    const shown = new Set(Object.values(widgets).flat().filter((m) => m.namespace === 'ClipRelay').map((m) => m.metric));
    expect([...shown].sort()).toEqual(emittedMetricNames());
  });

  it('outputs the bucket, the queue URLs and the dashboard', () => {
    const outputs = Object.fromEntries(
      Object.entries(pkg.template.Outputs)
        .filter(([id]) => !id.startsWith('Serverless') && !id.endsWith('LambdaFunctionQualifiedArn'))
        .map(([id, o]) => [id, o.Value]),
    );
    expect(outputs).toEqual({
      ClipsBucketName: { Ref: 'S3BucketClips' },
      BlocksQueueUrl: { Ref: 'BlocksQueue' },
      BlocksDLQUrl: { Ref: 'BlocksDLQ' },
      OutcomesQueueUrl: { Ref: 'OutcomesQueue' },
      OutcomesDLQUrl: { Ref: 'OutcomesDLQ' },
      SplitterFailuresQueueUrl: { Ref: 'SplitterFailuresQueue' },
      DashboardName: { Ref: 'Dashboard' },
    });
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

        it('is a zip under 1 MiB holding only its ESM bundle', () => {
          const [, fn] = functionByHandler(pkg.template, f.handler);
          const zipName = path.posix.basename(fn.Properties.Code.S3Key as string);
          expect(zipName).toBe(`${f.name}.zip`);
          const zipPath = path.join(pkg.dir, zipName);
          expect(fs.existsSync(zipPath), zipPath).toBe(true);
          expect(fs.statSync(zipPath).size).toBeLessThan(1 * MiB);
          expect([...readZip(zipPath).keys()]).toEqual([modulePath]);
        });

        it('bundles no AWS SDK code (imports it from the runtime instead)', () => {
          const entries = readZip(path.join(pkg.dir, `${f.name}.zip`));
          // A bundled client carries its package name (user agent metadata); an external one only
          // appears as an import specifier.
          const code = entries.get(modulePath)!.toString('utf8');
          expect(code).toMatch(/from\s*["']@aws-sdk\/client-(s3|sqs)["']/);
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

    it('stuck-clips refuses to start without CLIP_RELAY_BUCKET', async () => {
      const modulePath = 'functions/stuck-clips.mjs';
      const dir = path.join(loadDir, 'stuck-clips-no-bucket');
      for (const [name, data] of readZip(path.join(pkg.dir, 'stuck-clips.zip'))) {
        fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        fs.writeFileSync(path.join(dir, name), data);
      }
      const [, fn] = functionByHandler(pkg.template, 'functions/stuck-clips.handler');
      const env: Record<string, string> = { ...CHILD_ENV, AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1' };
      for (const [k, v] of Object.entries(fn.Properties.Environment.Variables as Props)) {
        if (k === 'CLIP_RELAY_BUCKET') continue;
        env[k] = typeof v === 'string' ? v : `https://sqs.us-east-1.amazonaws.com/000000000000/${(v as { Ref: string }).Ref}`;
      }
      const url = pathToFileURL(path.join(dir, modulePath)).href;
      const failed = await run(path.join(BIN, 'node'), ['--input-type=module', '-e', `await import(${JSON.stringify(url)});`], { cwd: dir, env, timeout: 30_000 }).then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stderr).toContain('ConfigError: configuration (CLIP_RELAY_*): CLIP_RELAY_BUCKET is required by this function and is not set');
    });
  });
});

describe('serverless.yml packaged with --stage and --param overrides', () => {
  let pkg: Packaged;
  const TOPIC = 'arn:aws:sns:us-east-1:123456789012:clip-relay-alarms';
  const OVERRIDES = {
    fanOutMaximumConcurrency: '7',
    incomingPrefix: 'drop/',
    receiptsPrefix: 'done/',
    allowedHosts: 'upload.example.com,*.xboxlive.com',
    maxBlockBytes: '4194304',
    serviceVersion: '2',
    putConcurrency: '4',
    putTimeoutMs: '10000',
    backoffBaseMs: '1000',
    backoffCapMs: '60000',
    tokenSource: 'secretsmanager',
    alarmTopicArn: TOPIC,
    blocksQueueMaxAgeSeconds: '600',
    stuckAfterSeconds: '7200',
  };

  beforeAll(async () => {
    pkg = await packageService(['--stage', 'ci', ...Object.entries(OVERRIDES).map(([k, v]) => `--param=${k}=${v}`)]);
  }, PACKAGE_TIMEOUT_MS + 10_000);

  afterAll(() => {
    if (pkg) fs.rmSync(pkg.dir, { recursive: true, force: true });
  });

  it('passes schema validation except for the v4-only `build` key', () => {
    expect(schemaProblems(pkg.output)).toEqual(["at root: unrecognized property 'build'"]);
  });

  it('takes the fan-out concurrency cap from --param', () => {
    const [fanOutId] = functionByHandler(pkg.template, 'functions/fan-out.handler');
    expect(mappingFor(pkg.template, fanOutId).ScalingConfig).toEqual({ MaximumConcurrency: 7 });
  });

  it('puts the stage into queue names, the bucket name and the token prefix', () => {
    expect(queue(pkg.template, 'BlocksQueue').QueueName).toBe('clip-relay-ci-blocks');
    expect(queue(pkg.template, 'OutcomesQueue').QueueName).toBe('clip-relay-ci-outcomes.fifo');
    expect(queue(pkg.template, 'SplitterFailuresQueue').QueueName).toBe('clip-relay-ci-splitter-failures');
    const [, bucket] = resourcesOfType(pkg.template, 'AWS::S3::Bucket').find(
      ([, b]) => b.Properties.NotificationConfiguration !== undefined,
    )!;
    expect(bucket.Properties.BucketName).toBe('clip-relay-ci-us-east-1-clips');
    const [, fn] = functionByHandler(pkg.template, 'functions/splitter.handler');
    expect(fn.Properties.Environment.Variables.CLIP_RELAY_TOKEN_PREFIX).toBe('/clip-relay/ci/tokens/');
  });

  it('takes every relay setting from --param', () => {
    for (const f of FUNCTIONS) {
      const [, fn] = functionByHandler(pkg.template, f.handler);
      expect(fn.Properties.Environment.Variables, f.name).toEqual({
        ...EXPECTED_ENV,
        CLIP_RELAY_INCOMING_PREFIX: 'drop/',
        CLIP_RELAY_RECEIPTS_PREFIX: 'done/',
        CLIP_RELAY_MAX_BLOCK_BYTES: '4194304',
        CLIP_RELAY_SERVICE_VERSION: '2',
        CLIP_RELAY_ALLOWED_HOSTS: 'upload.example.com,*.xboxlive.com',
        CLIP_RELAY_PUT_CONCURRENCY: '4',
        CLIP_RELAY_PUT_TIMEOUT_MS: '10000',
        CLIP_RELAY_BACKOFF_BASE_MS: '1000',
        CLIP_RELAY_BACKOFF_CAP_MS: '60000',
        CLIP_RELAY_TOKEN_SOURCE: 'secretsmanager',
        CLIP_RELAY_TOKEN_PREFIX: '/clip-relay/ci/tokens/',
        CLIP_RELAY_STAGE: 'ci',
        ...ownEnv(f.name, { bucket: 'clip-relay-ci-us-east-1-clips', stuckAfterSeconds: '7200' }),
      });
    }
  });

  it('triggers on the overridden incoming prefix', () => {
    const [, bucket] = resourcesOfType(pkg.template, 'AWS::S3::Bucket').find(
      ([, b]) => b.Properties.NotificationConfiguration !== undefined,
    )!;
    expect(bucket.Properties.NotificationConfiguration.LambdaConfigurations[0].Filter).toEqual({
      S3Key: { Rules: [{ Name: 'prefix', Value: 'drop/' }] },
    });
  });

  it('scopes the roles to the overridden prefixes and grants Secrets Manager instead of SSM', () => {
    const expected = expectedGrants({
      stage: 'ci',
      bucket: 'clip-relay-ci-us-east-1-clips',
      incoming: 'drop/',
      receipts: 'done/',
      tokenSource: 'secretsmanager',
      tokenPrefix: '/clip-relay/ci/tokens/',
    });
    for (const f of FUNCTIONS) {
      expect(grantsOf(pkg.template, roleOf(pkg.template, f.handler)), f.name).toEqual(expected[f.handler]);
    }
    const fanOut = grantsOf(pkg.template, roleOf(pkg.template, 'functions/fan-out.handler'));
    expect(fanOut.filter((g) => g.startsWith('ssm:'))).toEqual([]);
  });

  it('sends every alarm to the topic and uses the overridden backlog threshold', () => {
    const alarms = resourcesOfType(pkg.template, 'AWS::CloudWatch::Alarm');
    const expected = expectedAlarms({ stage: 'ci', blocksQueueMaxAgeSeconds: '600' });
    expect(alarms.map(([id]) => id).sort()).toEqual(Object.keys(expected).sort());
    expect(deployTimeTests(pkg.template)).toEqual([]);
    for (const [id, alarm] of alarms) {
      expect(alarmAsDeployed(alarm), id).toEqual({ ...expected[id], AlarmActions: [TOPIC] });
    }
  });
});

describe('serverless.yml packaged for an existing bucket', () => {
  let pkg: Packaged;
  const BUCKET = 'acme-clips-prod';
  const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  beforeAll(async () => {
    pkg = await packageService(['--param=existingBucket=true', `--param=bucketName=${BUCKET}`, `--param=bucketKmsKeyArn=${KEY}`]);
  }, PACKAGE_TIMEOUT_MS + 10_000);

  afterAll(() => {
    if (pkg) fs.rmSync(pkg.dir, { recursive: true, force: true });
  });

  it('passes schema validation except for the v4-only `build` key', () => {
    expect(schemaProblems(pkg.output)).toEqual(["at root: unrecognized property 'build'"]);
  });

  it("updates each message's readers before its writers here too", () => {
    expect(readersFirst(pkg.template)).toStrictEqual({ missing: [] });
  });

  it('creates no bucket and no bucket policy', () => {
    expect(resourcesOfType(pkg.template, 'AWS::S3::Bucket').map(([id]) => id)).toEqual(['ServerlessDeploymentBucket']);
    expect(resourcesOfType(pkg.template, 'AWS::S3::BucketPolicy').map(([id]) => id)).toEqual(['ServerlessDeploymentBucketPolicy']);
    expect(pkg.template.Outputs.ClipsBucketName?.Value).toBe(BUCKET);
  });

  it('adds the splitter notification to the existing bucket through the framework custom resource', () => {
    const custom = resourcesOfType(pkg.template, 'Custom::S3');
    expect(custom).toHaveLength(1);
    const [, resource] = custom[0]!;
    expect(resource.Properties.BucketName).toBe(BUCKET);
    expect(resource.Properties.FunctionName).toBe('clip-relay-dev-splitter');
    expect(resource.Properties.BucketConfigs).toEqual([{ Event: 's3:ObjectCreated:*', Rules: [{ Prefix: settings.incomingPrefix }] }]);
    // The relay's five functions plus the framework's custom resource handler, on its own role
    // limited to this bucket's notification configuration and Lambda permissions.
    const handlers = resourcesOfType(pkg.template, 'AWS::Lambda::Function').map(([, r]) => r.Properties.Handler as string);
    expect(handlers.sort()).toEqual([...FUNCTIONS.map((f) => f.handler), 's3/handler.handler'].sort());
    const customRole = pkg.template.Resources.IamRoleCustomResourcesLambdaExecution!;
    const actions = (customRole.Properties.Policies as Props[]).flatMap((p) =>
      (p.PolicyDocument.Statement as Props[]).flatMap((st) => [st.Action].flat()),
    );
    expect(actions.filter((a) => a.startsWith('s3:')).sort()).toEqual(['s3:GetBucketNotification', 's3:PutBucketNotification']);
    expect(JSON.stringify(customRole)).toContain(`"${BUCKET}"`);
  });

  it('grants the same calls on the existing bucket, plus its KMS key through S3 where objects are read or written', () => {
    const expected = expectedGrants({
      stage: 'dev',
      bucket: BUCKET,
      incoming: settings.incomingPrefix,
      receipts: settings.receiptsPrefix,
      tokenSource: 'ssm',
      tokenPrefix: '/clip-relay/dev/tokens/',
      bucketKmsKeyArn: KEY,
    });
    expect(deployTimeTests(pkg.template)).toEqual([]);
    for (const f of FUNCTIONS) {
      expect(grantsOf(pkg.template, roleOf(pkg.template, f.handler)), f.name).toEqual(expected[f.handler]);
    }
  });

  it('tells the stuck-clips function the existing bucket', () => {
    const [, fn] = functionByHandler(pkg.template, 'functions/stuck-clips.handler');
    expect(fn.Properties.Environment.Variables).toEqual({ ...EXPECTED_ENV, ...ownEnv('stuck-clips', { ...DEFAULT_OWN_ENV, bucket: BUCKET }) });
  });

  it('keeps the queues, alarms and dashboard', () => {
    expect(resourcesOfType(pkg.template, 'AWS::SQS::Queue')).toHaveLength(5);
    expect(resourcesOfType(pkg.template, 'AWS::Lambda::EventInvokeConfig')).toHaveLength(1);
    expect(resourcesOfType(pkg.template, 'AWS::CloudWatch::Alarm').map(([id]) => id).sort()).toEqual(
      Object.keys(expectedAlarms({ stage: 'dev', blocksQueueMaxAgeSeconds: 0 })).sort(),
    );
    expect(resourcesOfType(pkg.template, 'AWS::CloudWatch::Dashboard')).toHaveLength(1);
  });
});
