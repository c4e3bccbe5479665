/**
 * `npm run test:aws`: the packaged stack deployed into moto (an AWS API emulator independent of
 * this project) the way the framework deploys it, and the exact packaged bundles run against
 * the queues and bucket it created, driven by moto's own S3 -> SQS notifications.
 *
 * moto cannot invoke Lambda without Docker, so this test stands in for the Lambda service only:
 * each function's zip runs in its own child process (lambda-sandbox.ts) with the environment
 * moto's Lambda reports for it; the SQS event source mappings and the asynchronous S3
 * invocation of the splitter are local/event-source's, configured from what moto's Lambda
 * reports (batch size, response types, concurrency cap) and, where moto's CloudFormation
 * does not keep a setting (EventInvokeConfig), from the deployed template.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GetTemplateCommand, CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetDashboardCommand, PutMetricAlarmCommand, type PutMetricAlarmCommandInput } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { EventBridgeClient, ListRulesCommand, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient, ListEventSourceMappingsCommand, UpdateEventSourceMappingCommand, type EventSourceMappingConfiguration, type FunctionConfiguration } from '@aws-sdk/client-lambda';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { CreateAccessKeyCommand, CreateUserCommand, GetRolePolicyCommand, IAMClient, ListRolePoliciesCommand, PutRolePolicyCommand, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { GetObjectCommand, ListObjectsV2Command, PutBucketNotificationConfigurationCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ChangeMessageVisibilityCommand, CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { S3Event, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeS3EventKey } from '../../lib/protocol/s3-event.ts';
import {
  asyncFailureRecord,
  createLambdaContext,
  encodeS3EventKey,
  invokeAsync,
  s3ObjectCreatedEvent,
  startSqsEventSource,
  type SqsEventSource,
} from '../../local/event-source/index.ts';
import { startTransferEmulator, type TransferEmulator } from '../../local/emulator/transfer-service.ts';
import { packageService, ROOT, type Packaged, type Props, type Template } from '../helpers/cloudformation.ts';
import { deployPackage, type DeployedStack } from './deploy-stack.ts';
import { createLambdaSandbox, type LambdaSandbox } from './lambda-sandbox.ts';
import { motoServerInstalled, startMotoServer, type MotoServer } from './moto-server.ts';

const settings = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'settings.json'), 'utf8'));
const REGION = 'us-east-1';
const STAGE = 'moto';
const SERVICE = 'clip-relay';
const fn = (name: string) => `${SERVICE}-${STAGE}-${name}`;
/** The token the fan-out reads from moto's SSM; searched for in every log line at the end. */
const TOKEN = 'XBL3.0 x=1234567890;moto-token-that-must-never-leak';
interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
const ROOT_CREDENTIALS: Credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/**
 * Where moto 5.2's IAM checks differ from AWS's, as statements to add next to a role's own:
 * the SQS batch calls are authorised by AWS as their single-message action (SendMessage,
 * DeleteMessage, ChangeMessageVisibility) and by moto under their own names; and moto checks
 * SSM calls against resource "*" rather than the parameter's ARN.
 */
/**
 * A role's inline policy as moto answers GetRolePolicy: JSON for one put through the IAM API,
 * a Python literal for one its CloudFormation created (which its own IAM check cannot read
 * either, so `reput` says to put it back as the same statements in JSON).
 */
function policyDocument(answer: string): { policy: Props; reput: boolean } {
  const text = decodeURIComponent(answer);
  try {
    return { policy: JSON.parse(text) as Props, reput: false };
  } catch {
    const json = execFileSync('python3', ['-c', 'import ast, json, sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))'], { input: text, encoding: 'utf8', timeout: 30_000 });
    return { policy: JSON.parse(json) as Props, reput: true };
  }
}

function motoIamGaps(statements: Props[]): Props[] {
  const gaps: Props[] = [];
  for (const statement of statements) {
    if (statement.Effect !== 'Allow') continue;
    const actions = [statement.Action].flat() as string[];
    const batch = actions.filter((a) => ['sqs:SendMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'].includes(a)).map((a) => `${a}Batch`);
    if (batch.length > 0) gaps.push({ Effect: 'Allow', Action: batch, Resource: statement.Resource });
    const ssm = actions.filter((a) => a.startsWith('ssm:'));
    if (ssm.length > 0) gaps.push({ Effect: 'Allow', Action: ssm, Resource: '*' });
  }
  return gaps;
}


const FUNCTIONS = [
  { name: 'splitter', handler: 'functions/splitter.handler', logicalId: 'SplitterLambdaFunction' },
  { name: 'fan-out', handler: 'functions/fan-out.handler', logicalId: 'FanDashoutLambdaFunction' },
  { name: 'finalizer', handler: 'functions/finalizer.handler', logicalId: 'FinalizerLambdaFunction' },
  { name: 'dead-letter', handler: 'functions/dead-letter.handler', logicalId: 'DeadDashletterLambdaFunction' },
  { name: 'stuck-clips', handler: 'functions/stuck-clips.handler', logicalId: 'StuckDashclipsLambdaFunction' },
] as const;
type FunctionName = (typeof FUNCTIONS)[number]['name'];

if (!motoServerInstalled()) {
  throw new Error('moto_server is not installed: pip install "moto[server]" (npm run test:aws needs it; npm test does not)');
}

/**
 * `root`: every call with moto's default (unchecked) credentials. `per-role`: moto's IAM
 * enforcement on after the deploy (moto-api/reset-auth); the test acts as an IAM user allowed
 * everything, and each function's process and event source mapping use its own role's
 * credentials (sts:AssumeRole), so a permission the role lacks fails the call.
 */
type CredentialsMode = 'root' | 'per-role';

for (const mode of ['root', 'per-role'] as const satisfies CredentialsMode[]) describe(`clip-relay deployed into moto, its packaged bundles running against it (${mode} credentials)`, () => {
  let moto: MotoServer;
  let emulator: TransferEmulator;
  let pkg: Packaged;
  let deployed: DeployedStack;
  let work: string;
  // moto's S3 signature check (enforcement on) rejects keys with '+' or non-ASCII characters: the
  // key encoding is covered by the root run.
  const MULTI_KEY = mode === 'root' ? 'incoming/moto/multi block ü+1.mp4' : 'incoming/moto/multi-block-1.mp4';
  let aws: { region: string; credentials: Credentials } = { region: REGION, credentials: ROOT_CREDENTIALS };
  /** Each function's role credentials (per-role mode), else the test's. */
  const roleCredentials = new Map<FunctionName, Credentials>();
  const credentialsOf = (name: FunctionName) => roleCredentials.get(name) ?? aws.credentials;
  const sqsAs = (name: FunctionName) => new SQSClient({ ...aws, credentials: credentialsOf(name), endpoint: moto.endpoint, useQueueUrlAsEndpoint: false });
  let cfn: CloudFormationClient;
  let s3: S3Client;
  let sqs: SQSClient;
  let lambda: LambdaClient;
  const logs: string[] = [];
  const sandboxes = new Map<FunctionName, LambdaSandbox>();
  const configurations = new Map<FunctionName, FunctionConfiguration>();
  const sources: SqsEventSource[] = [];
  const queueUrls: Record<string, string> = {};
  let bucket: string;
  let mappings: EventSourceMappingConfiguration[];
  /** S3 events seen on the notification queue: the test event first, then ObjectCreated. */
  const notifications: unknown[] = [];
  /** Clips whose fan-out invocations die, and how many did, by clip key. */
  const crashFanOutFor = new Map<string, number>();
  let fastForwards = 0;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'clip-relay-moto-'));
    moto = await startMotoServer();
    emulator = await startTransferEmulator({ authorization: TOKEN });
    const client = { ...aws, endpoint: moto.endpoint };
    cfn = new CloudFormationClient(client);
    s3 = new S3Client({ ...client, forcePathStyle: true });
    sqs = new SQSClient({ ...client, useQueueUrlAsEndpoint: false });
    lambda = new LambdaClient(client);

    // A deploy-time parameter, as an operator would pass it: the uploads go to the emulator.
    pkg = await packageService(['--stage', STAGE, '--region', REGION, '--param=allowedHosts=127.0.0.1']);
    deployed = await deployPackage({ cfn, s3, packageDir: pkg.dir, stackName: `${SERVICE}-${STAGE}`, stage: STAGE });

    for (const output of deployed.stack.Outputs ?? []) {
      if (output.OutputKey?.endsWith('Url')) queueUrls[output.OutputKey.replace(/Url$/, '')] = output.OutputValue!;
    }
    bucket = deployed.stack.Outputs!.find((o) => o.OutputKey === 'ClipsBucketName')!.OutputValue!;
    mappings = (await lambda.send(new ListEventSourceMappingsCommand({}))).EventSourceMappings ?? [];
    for (const f of FUNCTIONS) {
      configurations.set(f.name, await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: fn(f.name) })));
    }

    // The fan-out's token, where the deployed environment says it lives.
    const fanOutEnv = configurations.get('fan-out')!.Environment!.Variables!;
    await new SSMClient(client).send(
      new PutParameterCommand({ Name: `${fanOutEnv.CLIP_RELAY_TOKEN_PREFIX}${fanOutEnv.CLIP_RELAY_DEFAULT_TOKEN_REF}`, Value: TOKEN, Type: 'SecureString' }),
    );

    if (mode === 'per-role') await enforceIam().catch((error: Error) => { throw new Error(`${error.message}\n${moto.log.slice(-30).join('\n')}`); });

    for (const f of FUNCTIONS) {
      sandboxes.set(
        f.name,
        createLambdaSandbox({
          zipFile: path.join(pkg.dir, `${f.name}.zip`),
          handler: f.handler,
          dir: path.join(work, f.name),
          env: runtimeEnvironment(configurations.get(f.name)!, credentialsOf(f.name)),
          onLog: (line) => logs.push(`[${f.name}] ${line}`),
        }),
      );
    }
    startEventSources();
    await Promise.all(sources.map((s) => s.ready));
  }, 180_000);

  afterAll(async () => {
    // Each step on its own: a failure in one must not leave a process behind.
    const steps: Array<() => Promise<unknown>> = [
      ...sources.map((s) => () => s.stop()),
      ...[...sandboxes.values()].map((s) => () => s.close()),
      () => emulator?.close(),
      () => moto?.stop(),
    ];
    for (const step of steps) await step().catch((error: unknown) => console.error('cleanup:', error));
    if (pkg) fs.rmSync(pkg.dir, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  }, 60_000);

  /**
   * What the function's process gets: the environment moto's Lambda reports for it, plus what the
   * nodejs24.x runtime sets. Two things point it at moto instead of the AWS endpoints:
   * AWS_ENDPOINT_URL (read by every SDK v3 client), and the queue URLs, whose host the SQS client
   * sends to (https://sqs.us-east-1.amazonaws.com/... -> the moto endpoint, path unchanged).
   */
  /**
   * Turns moto's IAM enforcement on: an IAM user allowed everything for the test itself, and an
   * AssumeRole session per function role. moto authorises a few calls differently from AWS; for
   * those only, each role gets a `moto-iam-gaps` inline policy derived from its own statements
   * (see MOTO_IAM_GAPS), so every permission the role really needs still comes from the stack.
   */
  async function enforceIam(): Promise<void> {
    const iam = new IAMClient({ ...aws, endpoint: moto.endpoint });
    const UserName = `${SERVICE}-test-admin`;
    await iam.send(new CreateUserCommand({ UserName }));
    await iam.send(
      new PutUserPolicyCommand({ UserName, PolicyName: 'everything', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }) }),
    );
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName }));
    for (const f of FUNCTIONS) {
      const roleName = configurations.get(f.name)!.Role!.split('/').pop()!;
      const { PolicyNames } = await iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
      const statements: Props[] = [];
      for (const PolicyName of PolicyNames ?? []) {
        const { PolicyDocument } = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName }));
        const document = policyDocument(PolicyDocument!);
        if (document.reput) {
          await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName, PolicyDocument: JSON.stringify(document.policy) }));
        }
        statements.push(...(document.policy.Statement as Props[]));
      }
      const gaps = motoIamGaps(statements);
      if (gaps.length > 0) {
        await iam.send(new PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'moto-iam-gaps', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: gaps }) }));
      }
    }
    // Before enforcement: Lambda assumes the role as lambda.amazonaws.com, which the trust
    // policy admits; moto's check of a Service principal fails with a 500 (TypeError).
    const sts = new STSClient({ ...aws, endpoint: moto.endpoint });
    for (const f of FUNCTIONS) {
      const { Credentials: c } = await sts.send(new AssumeRoleCommand({ RoleArn: configurations.get(f.name)!.Role!, RoleSessionName: f.name }));
      roleCredentials.set(f.name, { accessKeyId: c!.AccessKeyId!, secretAccessKey: c!.SecretAccessKey!, sessionToken: c!.SessionToken! });
    }
    const reset = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
    expect(reset.ok).toBe(true);
    aws = { region: REGION, credentials: { accessKeyId: AccessKey!.AccessKeyId!, secretAccessKey: AccessKey!.SecretAccessKey! } };
    const client = { ...aws, endpoint: moto.endpoint };
    cfn = new CloudFormationClient(client);
    s3 = new S3Client({ ...client, forcePathStyle: true });
    sqs = new SQSClient({ ...client, useQueueUrlAsEndpoint: false });
    lambda = new LambdaClient(client);
    // Enforcement is live: the test's root keys are refused now.
    const refused = await new SQSClient({ region: REGION, credentials: ROOT_CREDENTIALS, endpoint: moto.endpoint })
      .send(new GetQueueAttributesCommand({ QueueUrl: queueUrls.BlocksQueue!.replace(/^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com/, moto.endpoint), AttributeNames: ['QueueArn'] }))
      .then(() => 200, (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode);
    // 403 InvalidClientTokenId, in an XML body the JSON-protocol SQS client cannot parse.
    expect(refused).toBe(403);
  }

  function runtimeEnvironment(configuration: FunctionConfiguration, credentials: Credentials): Record<string, string> {
    const own = Object.fromEntries(
      Object.entries(configuration.Environment?.Variables ?? {}).map(([name, value]) => [
        name,
        value.replace(/^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com(?=\/)/, moto.endpoint),
      ]),
    );
    return {
      ...own,
      PATH: '/usr/local/bin:/usr/bin:/bin',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_EXECUTION_ENV: `AWS_Lambda_${configuration.Runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: configuration.FunctionName!,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(configuration.MemorySize),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${configuration.FunctionName}`,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      ...(credentials.sessionToken !== undefined && { AWS_SESSION_TOKEN: credentials.sessionToken }),
      AWS_ENDPOINT_URL: moto.endpoint,
    };
  }

  function queueArn(url: string): string {
    const [, account, name] = new URL(url).pathname.split('/');
    return `arn:aws:sqs:${REGION}:${account}:${name}`;
  }

  function mappingOn(queue: string): EventSourceMappingConfiguration {
    const found = mappings.filter((m) => m.EventSourceArn === queueArn(queueUrls[queue]!));
    expect(found, `event source mappings on ${queue}`).toHaveLength(1);
    return found[0]!;
  }

  /** The mappings moto's Lambda holds, run by local/event-source against moto's queues. */
  function startEventSources(): void {
    for (const [queue, name] of [
      ['BlocksQueue', 'fan-out'],
      ['OutcomesQueue', 'finalizer'],
      ['BlocksDLQ', 'dead-letter'],
      ['SplitterFailuresQueue', 'dead-letter'],
    ] as const) {
      const mapping = mappingOn(queue);
      const configuration = configurations.get(name)!;
      expect(mapping.FunctionArn).toBe(configuration.FunctionArn);
      const sandbox = sandboxes.get(name)!;
      sources.push(
        startSqsEventSource({
          // Lambda polls with the function's execution role.
          sqs: sqsAs(name),
          queueUrl: queueUrls[queue]!.replace(/^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com/, moto.endpoint),
          queueArn: mapping.EventSourceArn!,
          functionName: configuration.FunctionName!,
          batchSize: mapping.BatchSize!,
          ...(mapping.MaximumBatchingWindowInSeconds !== undefined && !queue.startsWith('Outcomes') && { maximumBatchingWindowSeconds: mapping.MaximumBatchingWindowInSeconds }),
          // The cap is what AWS allows at most; one poller keeps the request count small.
          maximumConcurrency: mapping.ScalingConfig?.MaximumConcurrency ?? 2,
          pollers: 1,
          functionTimeoutSeconds: configuration.Timeout!,
          memorySize: configuration.MemorySize!,
          reportBatchItemFailures: (mapping.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
          handler: async (event: SQSEvent, context) => {
            const invocation = sandbox.invoke(event, context);
            const doomed = name === 'fan-out' ? event.Records.map((r) => JSON.parse(r.body).clip?.key).find((key) => crashFanOutFor.has(key)) : undefined;
            if (doomed !== undefined) {
              // The execution environment dies mid-invocation, as an out-of-memory kill does.
              crashFanOutFor.set(doomed, crashFanOutFor.get(doomed)! + 1);
              setTimeout(() => sandbox.kill(), 200);
            }
            return (await invocation) as never;
          },
          onInvocationError: (error, event) => {
            logs.push(`[event-source ${name}] invocation failed: ${String(error)}`);
            // Time compression: SQS would hide these records for the queue's whole visibility
            // timeout (360 s on BlocksQueue) after a failed invocation; make them visible now.
            fastForwards += 1;
            for (const record of event.Records) {
              void sqs
                .send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrls[queue]!, ReceiptHandle: record.receiptHandle, VisibilityTimeout: 0 }))
                .catch(() => undefined);
            }
          },
          onPollerError: (error) => logs.push(`[event-source ${name}] poller: ${String(error)}`),
        }),
      );
    }
  }

  /**
   * S3 -> splitter: moto's own notification (configured on the stack's bucket, to a queue of
   * the test's: moto ignores a bucket's NotificationConfiguration in CloudFormation and cannot
   * invoke Lambda), each message body handed to the splitter bundle as S3 would invoke it:
   * asynchronously, with the retries and the on-failure destination the template configures.
   */
  async function startS3Notifications(): Promise<void> {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `${SERVICE}-${STAGE}-s3-notifications`, Attributes: { VisibilityTimeout: '900' } }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: QueueUrl!, AttributeNames: ['QueueArn'] }));
    await s3.send(
      new PutBucketNotificationConfigurationCommand({
        Bucket: bucket,
        NotificationConfiguration: {
          QueueConfigurations: [
            {
              QueueArn: Attributes!.QueueArn!,
              Events: ['s3:ObjectCreated:*'],
              Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: settings.incomingPrefix }] } },
            },
          ],
        },
      }),
    );
    const splitter = pkg.template.Resources.SplitterLambdaFunction!;
    expect(splitter.Type).toBe('AWS::Lambda::Function');
    const invokeConfig = Object.values(pkg.template.Resources).find((r) => r.Type === 'AWS::Lambda::EventInvokeConfig')!.Properties;
    const configuration = configurations.get('splitter')!;
    const sandbox = sandboxes.get('splitter')!;
    sources.push(
      startSqsEventSource({
        sqs,
        queueUrl: QueueUrl!,
        queueArn: Attributes!.QueueArn!,
        functionName: 's3-notifications',
        batchSize: 1,
        maximumConcurrency: 2,
        pollers: 1,
        // The bridge waits for the splitter's attempts (each bounded by its own timeout).
        functionTimeoutSeconds: 900,
        reportBatchItemFailures: false,
        handler: async (event: SQSEvent) => {
          for (const record of event.Records) {
            const s3Event = JSON.parse(record.body) as S3Event;
            notifications.push(s3Event);
            await invokeAsync(
              {
                functionName: configuration.FunctionName!,
                functionTimeoutSeconds: configuration.Timeout!,
                memorySize: configuration.MemorySize!,
                handler: (e, context) => sandbox.invoke(e, context),
                maximumRetryAttempts: invokeConfig.MaximumRetryAttempts,
                onInvocationError: async (error, e, failure) => {
                  // Lambda delivers to the on-failure destination with the function's role.
                  await sqsAs('splitter').send(new SendMessageCommand({ QueueUrl: queueUrls.SplitterFailuresQueue!, MessageBody: JSON.stringify(asyncFailureRecord(e, error, failure)) }));
                },
              },
              s3Event,
            );
          }
        },
      }),
    );
    await sources.at(-1)!.ready;
  }

  async function readReceipt(key: string): Promise<Props | undefined> {
    try {
      const answer = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `${settings.receiptsPrefix}${key}.json` }));
      return JSON.parse(await answer.Body!.transformToString()) as Props;
    } catch (error) {
      if ((error as { name?: string }).name === 'NoSuchKey') return undefined;
      throw error;
    }
  }

  async function waitForReceipt(key: string, timeoutMs: number): Promise<Props> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const receipt = await readReceipt(key);
      if (receipt !== undefined) return receipt;
      if (Date.now() > deadline) throw new Error(`no receipt for ${key} after ${timeoutMs} ms\n${logs.slice(-40).join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  async function dropClip(key: string, body: Buffer, metadata: Record<string, string>): Promise<string> {
    const answer = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, Metadata: metadata }));
    return answer.ETag!.replaceAll('"', '');
  }

  async function queueDepth(queue: string): Promise<number> {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrls[queue]!,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'],
      }),
    );
    return Object.values(Attributes ?? {}).reduce((sum, n) => sum + Number(n), 0);
  }

  describe('the deploy', () => {
    it('ends UPDATE_COMPLETE after create-stack, the uploads and update-stack', () => {
      expect(deployed.stack.StackStatus).toBe('UPDATE_COMPLETE');
      expect(deployed.validateTemplateAnswer).toMatch(/'\w+Role' dependency already enforced by a 'GetAtt'/);
      expect(deployed.artifactDirectory).toMatch(new RegExp(`^serverless/${SERVICE}/${STAGE}/\\d+-`));
    });

    it('has the five functions with the runtime, handler, timeout, memory, role and environment the template names', async () => {
      const roles = (await cfn.send(new ListStackResourcesCommand({ StackName: `${SERVICE}-${STAGE}` }))).StackResourceSummaries!.filter(
        (r) => r.ResourceType === 'AWS::IAM::Role',
      );
      const limits: Record<FunctionName, { timeoutSeconds: number; memorySize: number }> = {
        splitter: settings.splitter,
        'fan-out': settings.fanOut,
        finalizer: settings.finalizer,
        'dead-letter': settings.deadLetter,
        'stuck-clips': settings.stuckClips,
      };
      for (const f of FUNCTIONS) {
        const c = configurations.get(f.name)!;
        expect({ runtime: c.Runtime, handler: c.Handler, timeout: c.Timeout, memory: c.MemorySize, state: c.State }, f.name).toStrictEqual({
          runtime: 'nodejs24.x',
          handler: f.handler,
          timeout: limits[f.name].timeoutSeconds,
          memory: limits[f.name].memorySize,
          state: 'Active',
        });
        const roleId = pkg.template.Resources[f.logicalId]!.Properties.Role['Fn::GetAtt'][0] as string;
        const role = roles.find((r) => r.LogicalResourceId === roleId);
        expect(c.Role, f.name).toBe(`arn:aws:iam::123456789012:role/${role?.PhysicalResourceId}`);
        const env = c.Environment!.Variables!;
        expect(env.CLIP_RELAY_BLOCKS_QUEUE_URL).toBe(queueUrls.BlocksQueue);
        expect(env.CLIP_RELAY_OUTCOMES_QUEUE_URL).toBe(queueUrls.OutcomesQueue);
        expect(env.CLIP_RELAY_MAX_ATTEMPTS).toBe(String(settings.blocksQueue.maxReceiveCount));
        expect(env.CLIP_RELAY_ALLOWED_HOSTS).toBe('127.0.0.1');
      }
      expect(configurations.get('stuck-clips')!.Environment!.Variables!.CLIP_RELAY_BUCKET).toBe(bucket);
      expect(configurations.get('fan-out')!.Environment!.Variables!.NODE_OPTIONS).toBe(settings.fanOut.v8Flags);
    });

    it('has the queues: FIFO outcomes, DLQs with their redrive, timeouts and retention from settings', async () => {
      const attributes = async (queue: string) =>
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrls[queue]!, AttributeNames: ['All'] }))).Attributes!;
      const blocks = await attributes('BlocksQueue');
      expect(blocks.VisibilityTimeout).toBe(String(settings.blocksQueue.visibilityTimeoutSeconds));
      expect(blocks.MessageRetentionPeriod).toBe(String(settings.blocksQueue.messageRetentionSeconds));
      expect(JSON.parse(blocks.RedrivePolicy!)).toStrictEqual({ deadLetterTargetArn: queueArn(queueUrls.BlocksDLQ!), maxReceiveCount: settings.blocksQueue.maxReceiveCount });
      const outcomes = await attributes('OutcomesQueue');
      expect(outcomes.FifoQueue).toBe('true');
      expect(outcomes.ContentBasedDeduplication).toBe('false');
      expect(outcomes.VisibilityTimeout).toBe(String(settings.outcomesQueue.visibilityTimeoutSeconds));
      expect(JSON.parse(outcomes.RedrivePolicy!)).toStrictEqual({ deadLetterTargetArn: queueArn(queueUrls.OutcomesDLQ!), maxReceiveCount: settings.outcomesQueue.maxReceiveCount });
      expect((await attributes('OutcomesDLQ')).FifoQueue).toBe('true');
      for (const queue of ['BlocksDLQ', 'SplitterFailuresQueue']) {
        expect((await attributes(queue)).VisibilityTimeout, queue).toBe(String(settings.deadLetter.queueVisibilityTimeoutSeconds));
      }
      for (const queue of Object.keys(queueUrls)) expect((await attributes(queue)).SqsManagedSseEnabled, queue).toBe('true');
    });

    it('has the event source mappings with partial batch failures, batch sizes and the fan-out concurrency cap', () => {
      const summary = (queue: string) => {
        const m = mappingOn(queue);
        return { functionArn: m.FunctionArn, batchSize: m.BatchSize, responseTypes: m.FunctionResponseTypes, maximumConcurrency: m.ScalingConfig?.MaximumConcurrency, state: m.State };
      };
      const arn = (name: FunctionName) => configurations.get(name)!.FunctionArn;
      expect(summary('BlocksQueue')).toStrictEqual({ functionArn: arn('fan-out'), batchSize: settings.fanOut.batchSize, responseTypes: ['ReportBatchItemFailures'], maximumConcurrency: settings.fanOut.maximumConcurrency, state: 'Enabled' });
      expect(mappingOn('BlocksQueue').MaximumBatchingWindowInSeconds).toBe(settings.fanOut.maximumBatchingWindowSeconds);
      expect(summary('OutcomesQueue')).toStrictEqual({ functionArn: arn('finalizer'), batchSize: settings.finalizer.batchSize, responseTypes: ['ReportBatchItemFailures'], maximumConcurrency: undefined, state: 'Enabled' });
      for (const queue of ['BlocksDLQ', 'SplitterFailuresQueue']) {
        expect(summary(queue), queue).toStrictEqual({ functionArn: arn('dead-letter'), batchSize: settings.deadLetter.batchSize, responseTypes: ['ReportBatchItemFailures'], maximumConcurrency: undefined, state: 'Enabled' });
      }
      expect(mappings).toHaveLength(4);
    });

    it('has the stuck-clips schedule, a log group per function with the retention, and the dashboard', async () => {
      const rules = (await new EventBridgeClient({ ...aws, endpoint: moto.endpoint }).send(new ListRulesCommand({}))).Rules ?? [];
      expect(rules.map((r) => [r.ScheduleExpression, r.State])).toStrictEqual([[settings.stuckClips.scheduleRate, 'ENABLED']]);
      const targets = await new EventBridgeClient({ ...aws, endpoint: moto.endpoint }).send(new ListTargetsByRuleCommand({ Rule: rules[0]!.Name! }));
      expect(targets.Targets?.map((t) => t.Arn)).toStrictEqual([configurations.get('stuck-clips')!.FunctionArn]);
      const groups = (await new CloudWatchLogsClient({ ...aws, endpoint: moto.endpoint }).send(new DescribeLogGroupsCommand({ logGroupNamePrefix: '/aws/lambda/' }))).logGroups ?? [];
      expect(groups.map((g) => [g.logGroupName, g.retentionInDays]).sort()).toStrictEqual(FUNCTIONS.map((f) => [`/aws/lambda/${fn(f.name)}`, 30]).sort());
      const dashboard = await new CloudWatchClient({ ...aws, endpoint: moto.endpoint }).send(new GetDashboardCommand({ DashboardName: `${SERVICE}-${STAGE}` }));
      const body = JSON.parse(dashboard.DashboardBody!);
      expect(JSON.stringify(body)).toContain(fn('fan-out'));
      expect(JSON.stringify(body)).toContain(`${SERVICE}-${STAGE}-blocks-dlq`);
    });

    it('has alarms moto takes through PutMetricAlarm (moto 5.2 CloudFormation skips AWS::CloudWatch::Alarm)', async () => {
      const cloudwatch = new CloudWatchClient({ ...aws, endpoint: moto.endpoint });
      expect((await cloudwatch.send(new DescribeAlarmsCommand({}))).MetricAlarms).toStrictEqual([]);
      // The template as moto stored it, Ref/GetAtt resolved against the stack's own resources.
      const stored = JSON.parse((await cfn.send(new GetTemplateCommand({ StackName: `${SERVICE}-${STAGE}` }))).TemplateBody!) as Template;
      const physical = Object.fromEntries(
        (await cfn.send(new ListStackResourcesCommand({ StackName: `${SERVICE}-${STAGE}` }))).StackResourceSummaries!.map((r) => [r.LogicalResourceId, r.PhysicalResourceId]),
      );
      const resolve = (value: unknown): unknown => {
        if (Array.isArray(value)) return value.map(resolve);
        if (value === null || typeof value !== 'object') return value;
        const o = value as Props;
        if (typeof o.Ref === 'string') return physical[o.Ref];
        if (Array.isArray(o['Fn::GetAtt']) && o['Fn::GetAtt'][1] === 'QueueName') return new URL(physical[o['Fn::GetAtt'][0]]!).pathname.split('/')[2];
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v)]));
      };
      const alarms = Object.values(stored.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
      expect(alarms).toHaveLength(8);
      for (const alarm of alarms) await cloudwatch.send(new PutMetricAlarmCommand(resolve(alarm.Properties) as PutMetricAlarmCommandInput));
      const described = (await cloudwatch.send(new DescribeAlarmsCommand({}))).MetricAlarms ?? [];
      expect(described.map((a) => a.AlarmName).sort()).toStrictEqual(
        ['blocks-dlq-not-empty', 'outcomes-dlq-not-empty', 'splitter-failures-not-empty', 'clips-failed', 'stuck-clips', 'fan-out-errors', 'fan-out-throttles', 'blocks-queue-backlog']
          .map((suffix) => `${SERVICE}-${STAGE}-${suffix}`)
          .sort(),
      );
      const backlog = described.find((a) => a.AlarmName === `${SERVICE}-${STAGE}-blocks-queue-backlog`)!;
      expect(backlog).toMatchObject({ Threshold: settings.alarms.blocksQueueOldestMessageAgeSeconds, Period: settings.alarms.periodSeconds, Dimensions: [{ Name: 'QueueName', Value: `${SERVICE}-${STAGE}-blocks` }] });
      expect(described.every((a) => (a.AlarmActions ?? []).length === 0)).toBe(true);
    });
  });

  describe('the packaged bundles on moto', () => {
    beforeAll(async () => {
      // moto runs an enabled mapping itself on every message sent to its queue: it receives the
      // visible messages (ApproximateReceiveCount + 1), cannot invoke without Docker, and makes
      // them visible again. Off, so that only this test's event sources receive.
      for (const mapping of mappings) {
        await lambda.send(new UpdateEventSourceMappingCommand({ UUID: mapping.UUID!, Enabled: false }));
      }
      await startS3Notifications();
    }, 30_000);

    it('receives moto\'s s3:TestEvent first and hands it to the splitter, which ignores it', async () => {
      const deadline = Date.now() + 15_000;
      while (notifications.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(notifications[0]).toMatchObject({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: bucket });
    });

    it('commits a multi-block clip with equal bytes and one receipt, a 503 on one block retried through its own redelivery', async () => {
      const key = MULTI_KEY;
      const size = 300_000;
      const body = Buffer.alloc(size, 0);
      for (let i = 0; i < size; i++) body[i] = (i * 7919) % 251;
      const session = emulator.openSession({ expectedBlocks: 3, fileSize: size, faults: { blocks: { 1: { answers: [{ status: 503, retryAfter: '1' }] } } } });
      const etag = await dropClip(key, body, { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': '3', 'game-clip-id': session.gameClipId });
      const failedBefore = sources[0]!.stats.failedRecords;

      const receipt = await waitForReceipt(key, 60_000);

      expect(receipt).toMatchObject({ receiptVersion: 1, status: 'committed', bucket, key, size, etag, expectedBlocks: 3, gameClipId: session.gameClipId });
      expect(emulator.committed(session.uploadId)?.equals(body)).toBe(true);
      expect(emulator.stats(session.uploadId).puts).toBe(4);
      // The 503'd block was reported alone (ReportBatchItemFailures); the others were deleted.
      expect(sources[0]!.stats.failedRecords - failedBefore).toBe(1);
      // Listed without Prefix: moto's signature check (enforcement on) rejects a prefix with '/'.
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
      expect(listed.Contents?.map((o) => o.Key).filter((k) => k!.startsWith(settings.receiptsPrefix))).toStrictEqual([`${settings.receiptsPrefix}${key}.json`]);
      const created = notifications.filter((n): n is S3Event => Array.isArray((n as S3Event).Records));
      expect(created.map((n) => n.Records[0]!.s3.object.key)).toContain(encodeURIComponent(key).replaceAll('%20', '+'));
    }, 90_000);

    it('ends a clip with a bad ticket in a failed receipt that says why', async () => {
      const key = 'incoming/moto/bad-ticket.mp4';
      const session = emulator.openSession({ expectedBlocks: 2, fileSize: 1000 });
      await dropClip(key, Buffer.alloc(1000, 1), { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': 'two' });

      const receipt = await waitForReceipt(key, 30_000);

      expect(receipt).toMatchObject({ status: 'failed', key, reason: { code: 'TICKET_INVALID' } });
      expect(receipt.reason.message).toContain('expected-blocks');
      expect(emulator.stats(session.uploadId).puts).toBe(0);
    }, 60_000);

    it('replaces the failed receipt when a new version of that clip arrives with a good ticket (a conditional write moto enforces)', async () => {
      const key = 'incoming/moto/bad-ticket.mp4';
      const failed = await readReceipt(key);
      expect(failed?.status).toBe('failed');
      // moto answers 412 to a conditional PUT that loses (fauxqs ignores the condition): the
      // finalizer's guard is live here.
      const conflict = await s3
        .send(new PutObjectCommand({ Bucket: bucket, Key: `${settings.receiptsPrefix}${key}.json`, Body: '{}', IfNoneMatch: '*' }))
        .then(() => undefined, (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode);
      expect(conflict).toBe(412);
      const body = Buffer.alloc(2000, 3);
      const session = emulator.openSession({ expectedBlocks: 2, fileSize: body.length });
      const etag = await dropClip(key, body, { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': '2' });

      const deadline = Date.now() + 30_000;
      let receipt = await readReceipt(key);
      while (receipt?.etag !== etag && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        receipt = await readReceipt(key);
      }

      expect(receipt).toMatchObject({ status: 'committed', key, etag, expectedBlocks: 2 });
      expect(emulator.committed(session.uploadId)?.equals(body)).toBe(true);
    }, 60_000);

    it('gets ObjectCreated events from moto that differ from S3\'s documented ones only where the splitter does not look', () => {
      const created = notifications.filter((n): n is S3Event => Array.isArray((n as S3Event).Records)).map((n) => n.Records[0]!);
      const record = created.find((r) => decodeS3EventKey(r.s3.object.key) === MULTI_KEY)!;
      expect(record).toBeDefined();
      // local/event-source builds S3's documented structure 2.1 (the local stack's events).
      const local = s3ObjectCreatedEvent({ bucket, key: MULTI_KEY, size: 300_000, eTag: record.s3.object.eTag }).Records[0]!;
      const paths = (o: unknown, at = ''): string[] =>
        o !== null && typeof o === 'object' ? Object.entries(o).flatMap(([k, v]) => [`${at}${k}`, ...paths(v, `${at}${k}.`)]) : [];
      expect(paths(local).filter((p) => !paths(record).includes(p)).sort()).toStrictEqual(
        ['requestParameters', 'requestParameters.sourceIPAddress', 'responseElements', 'responseElements.x-amz-id-2', 'responseElements.x-amz-request-id', 's3.bucket.ownerIdentity', 's3.bucket.ownerIdentity.principalId', 's3.object.sequencer', 'userIdentity', 'userIdentity.principalId'].sort(),
      );
      expect(paths(record).filter((p) => !paths(local).includes(p))).toStrictEqual([]);
      // Keys: both form-encoded (space '+', '+' '%2B'); moto also escapes '/' (Python's quote_plus).
      // e.g. 'incoming%2Fmoto%2Fmulti+block+%C3%BC%2B1.mp4' (moto) and 'incoming/moto/multi+block+%C3%BC%2B1.mp4'.
      expect(record.s3.object.key).toBe(encodeURIComponent(MULTI_KEY).replaceAll('%20', '+'));
      expect(local.s3.object.key).toBe(encodeS3EventKey(MULTI_KEY));
      expect(local.s3.object.key).toBe(encodeURIComponent(MULTI_KEY).replaceAll('%20', '+').replaceAll('%2F', '/'));
      // eventTime: S3 documents ISO-8601 in UTC with a Z; moto leaves the zone out.
      expect(local.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(record.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    });

    it('moves a block whose fan-out dies on every receive to BlocksDLQ after maxReceiveCount, and the dead-letter bundle fails the clip', async () => {
      const key = 'incoming/moto/dies-every-time.mp4';
      const session = emulator.openSession({
        expectedBlocks: 1,
        fileSize: 5000,
        // Held long enough that the environment is always killed before an answer.
        faults: { blocks: { 0: { answers: Array.from({ length: 10 }, () => ({ stallMs: 20_000 })) } } },
      });
      crashFanOutFor.set(key, 0);
      const coldStartsBefore = sandboxes.get('fan-out')!.coldStarts;
      await dropClip(key, Buffer.alloc(5000, 2), { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': '1' });

      const receipt = await waitForReceipt(key, 90_000);

      expect(receipt).toMatchObject({ status: 'failed', key, blockNum: 0, attempts: settings.blocksQueue.maxReceiveCount, reason: { code: 'DEAD_LETTERED' } });
      // moto carries the source queue's receive count into the DLQ: the dead-letter bundle saw 9.
      expect(logs.some((line) => line.includes('block dead-lettered') && line.includes(`"receiveCount":${settings.blocksQueue.maxReceiveCount + 1}`))).toBe(true);
      expect(emulator.committed(session.uploadId)).toBeUndefined();
      // Delivered exactly maxReceiveCount times, each invocation dying, then redriven by moto.
      expect(crashFanOutFor.get(key)).toBe(settings.blocksQueue.maxReceiveCount);
      expect(fastForwards).toBe(settings.blocksQueue.maxReceiveCount);
      // The first delivery found the environment warm; each later one started a new one.
      expect(sandboxes.get('fan-out')!.coldStarts - coldStartsBefore).toBe(settings.blocksQueue.maxReceiveCount - 1);
    }, 120_000);

    // Root run only: moto's S3 signature check (enforcement on) rejects a ListObjectsV2 whose
    // prefix holds a '/', and stuck-clips lists under the incoming prefix.
    if (mode === 'root') it('runs the stuck-clips bundle on its schedule event: three clips, all too young to be stuck', async () => {
      const configuration = configurations.get('stuck-clips')!;
      const result = await sandboxes.get('stuck-clips')!.invoke(
        { version: '0', id: 'moto', 'detail-type': 'Scheduled Event', source: 'aws.events', account: '123456789012', time: new Date().toISOString(), region: REGION, resources: [], detail: {} },
        createLambdaContext({ functionName: configuration.FunctionName!, timeoutSeconds: configuration.Timeout!, accountId: '123456789012' }),
      );
      // All three clips are younger than stuckAfterSeconds: none can be stuck, no receipt is read.
      expect(result).toStrictEqual({ clips: 3, committed: 0, failed: 0, unconfirmed: 0, young: 3, unreadableReceipts: 0, stuck: [] });
    }, 60_000);

    if (mode === 'per-role') {
      it('refuses a role what the stack does not grant it: the splitter may not read receipts, the finalizer may', async () => {
        const key = `${settings.receiptsPrefix}${MULTI_KEY}.json`;
        const readAs = (name: FunctionName) =>
          new S3Client({ ...aws, credentials: credentialsOf(name), endpoint: moto.endpoint, forcePathStyle: true })
            .send(new GetObjectCommand({ Bucket: bucket, Key: key }))
            .then(() => 'read', (error: Error) => error.name);
        expect(await readAs('splitter')).toBe('AccessDenied');
        expect(await readAs('finalizer')).toBe('read');
        const sendAs = (name: FunctionName) =>
          sqsAs(name)
            .send(new SendMessageCommand({ QueueUrl: queueUrls.BlocksQueue!.replace(/^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com/, moto.endpoint), MessageBody: '{}' }))
            .then(() => 200, (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode);
        expect(await sendAs('finalizer')).toBe(403);
        // Nothing a bundle did was refused.
        expect(logs.filter((line) => /AccessDenied|not authorized|InvalidClientTokenId|Deserialization error/i.test(line))).toStrictEqual([]);
      });
    }

    it('leaves the stack\'s queues empty and no token in any log line', async () => {
      const deadline = Date.now() + 15_000;
      for (const queue of Object.keys(queueUrls)) {
        while ((await queueDepth(queue)) > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
        expect(await queueDepth(queue), queue).toBe(0);
      }
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.filter((line) => line.includes('moto-token-that-must-never-leak'))).toStrictEqual([]);
    }, 30_000);
  });
});
