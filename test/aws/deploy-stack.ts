/**
 * Deploys a packaged service the way the framework's `deploy` does (deploymentMethod: direct):
 * CreateStack with the create template (the deployment bucket), the zips and the compiled
 * template uploaded under the artifact directory the update template names, ValidateTemplate,
 * then UpdateStack from the template's S3 URL; each step waited for to its *_COMPLETE.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  ValidateTemplateCommand,
  type Stack,
} from '@aws-sdk/client-cloudformation';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** What the deploy produced. */
export interface DeployedStack {
  stack: Stack;
  deploymentBucket: string;
  /** e.g. serverless/clip-relay/dev/1700000000000-2026-01-01T00:00:00.000Z */
  artifactDirectory: string;
  /** 'valid', or the (W3005) warning moto's ValidateTemplate answered with. */
  validateTemplateAnswer: string;
}

// The framework's stack settings (get-shared-stack-action-params.js).
const CAPABILITIES = ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'] as const;
const COMPILED_TEMPLATE = 'compiled-cloudformation-template.json';

async function waitForStack(cfn: CloudFormationClient, stackName: string, done: string, timeoutMs: number): Promise<Stack> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const stack = Stacks![0]!;
    if (stack.StackStatus === done) return stack;
    if (!stack.StackStatus!.endsWith('_IN_PROGRESS') || Date.now() > deadline) {
      const { StackEvents } = await cfn.send(new DescribeStackEventsCommand({ StackName: stackName }));
      const failed = (StackEvents ?? []).filter((e) => e.ResourceStatus?.endsWith('FAILED')).map((e) => `${e.LogicalResourceId}: ${e.ResourceStatusReason}`);
      throw new Error(`stack ${stackName} is ${stack.StackStatus} (${stack.StackStatusReason ?? ''}), expected ${done}\n${failed.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Deploys the package in `packageDir` as stack `stackName` (stage `stage`). */
export async function deployPackage(options: {
  cfn: CloudFormationClient;
  s3: S3Client;
  packageDir: string;
  stackName: string;
  stage: string;
  timeoutMs?: number;
}): Promise<DeployedStack> {
  const { cfn, s3, packageDir, stackName } = options;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const shared = { StackName: stackName, Capabilities: [...CAPABILITIES], Parameters: [], Tags: [{ Key: 'STAGE', Value: options.stage }], NotificationARNs: [] };

  const createTemplate = fs.readFileSync(path.join(packageDir, 'cloudformation-template-create-stack.json'), 'utf8');
  await cfn.send(new CreateStackCommand({ ...shared, TemplateBody: createTemplate }));
  const created = await waitForStack(cfn, stackName, 'CREATE_COMPLETE', timeoutMs);
  const deploymentBucket = created.Outputs?.find((o) => o.OutputKey === 'ServerlessDeploymentBucketName')?.OutputValue;
  if (deploymentBucket === undefined) throw new Error('the create stack has no ServerlessDeploymentBucketName output');

  const updateTemplate = fs.readFileSync(path.join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8');
  const codeKeys = [...updateTemplate.matchAll(/"S3Key":\s*"([^"]+)"/g)].map((m) => m[1]!);
  const artifactDirectory = path.posix.dirname(codeKeys[0]!);
  if (codeKeys.some((key) => path.posix.dirname(key) !== artifactDirectory)) throw new Error(`artifacts in more than one directory: ${codeKeys.join(', ')}`);
  for (const key of new Set(codeKeys)) {
    const body = fs.readFileSync(path.join(packageDir, path.posix.basename(key)));
    await s3.send(new PutObjectCommand({ Bucket: deploymentBucket, Key: key, Body: body, ContentType: 'application/zip' }));
  }
  const templateKey = `${artifactDirectory}/${COMPILED_TEMPLATE}`;
  await s3.send(new PutObjectCommand({ Bucket: deploymentBucket, Key: templateKey, Body: updateTemplate, ContentType: 'application/json' }));
  // As the framework builds it (getS3EndpointForRegion: s3.amazonaws.com outside GovCloud/China/ISO).
  const templateUrl = `https://s3.amazonaws.com/${deploymentBucket}/${templateKey}`;
  // moto's ValidateTemplate runs cfn-lint and answers its first finding, a warning included, as
  // a ValidationError; AWS's checks syntax only. W3005 (the framework's DependsOn on each role)
  // is the one finding scripts/cfn-lint.sh allows, so it is the one accepted here.
  let validateTemplateAnswer = 'valid';
  try {
    await cfn.send(new ValidateTemplateCommand({ TemplateURL: templateUrl }));
  } catch (error) {
    const message = (error as Error).message;
    if (!/dependency already enforced by a 'GetAtt'/.test(message)) throw error;
    validateTemplateAnswer = message;
  }
  await cfn.send(new UpdateStackCommand({ ...shared, TemplateURL: templateUrl }));
  const stack = await waitForStack(cfn, stackName, 'UPDATE_COMPLETE', timeoutMs);
  return { stack, deploymentBucket, artifactDirectory, validateTemplateAnswer };
}
