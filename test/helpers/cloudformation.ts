/**
 * A small CloudFormation evaluator for the template `osls package` writes: packaging, resource
 * lookups, IAM grants as one line each, the Conditions and Fn::If left in a template (none
 * should be: parameters are resolved at package time, see deployTimeTests),
 * alarms and the dashboard as deployed, and a zip reader for the function artifacts.
 * test/integration/template.test.ts asserts on what these return.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { expect } from 'vitest';

export const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'node_modules', '.bin');
// Node 24 from node_modules/.bin must come first: osls and the bundle checks need it.
export const CHILD_ENV = {
  ...process.env,
  PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
  SLS_TELEMETRY_DISABLED: '1',
  SLS_NOTIFICATIONS_MODE: 'off',
};
export const PACKAGE_TIMEOUT_MS = 60_000;
export const MiB = 1024 * 1024;

// CloudFormation is untyped JSON; `any` keeps property access readable in assertions.
export type Props = Record<string, any>;
export interface Resource {
  Type: string;
  Properties: Props;
  DependsOn?: string | string[];
}
export interface Template {
  Conditions?: Record<string, unknown>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
}

export interface Packaged {
  dir: string;
  output: string;
  template: Template;
}

/** Runs `osls package` from the repository root into a fresh temporary directory. */
export async function packageService(extraArgs: string[] = []): Promise<Packaged> {
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

export function resourcesOfType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

/** The one AWS::Lambda::Function with this handler, as [logicalId, resource]. */
export function functionByHandler(template: Template, handler: string): [string, Resource] {
  const found = resourcesOfType(template, 'AWS::Lambda::Function').filter(([, r]) => r.Properties.Handler === handler);
  expect(found, `functions with handler ${handler}`).toHaveLength(1);
  return found[0]!;
}

export function mappingsOf(template: Template, functionLogicalId: string): Props[] {
  return resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')
    .filter(([, r]) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ 'Fn::GetAtt': [functionLogicalId, 'Arn'] }))
    .map(([, r]) => r.Properties);
}

/** The one event source mapping of a function (of a function with several: the one on `queueId`). */
export function mappingFor(template: Template, functionLogicalId: string, queueId?: string): Props {
  const found = mappingsOf(template, functionLogicalId).filter(
    (m) => queueId === undefined || JSON.stringify(m.EventSourceArn) === JSON.stringify({ 'Fn::GetAtt': [queueId, 'Arn'] }),
  );
  expect(found, `event source mappings of ${functionLogicalId}${queueId === undefined ? '' : ` on ${queueId}`}`).toHaveLength(1);
  return found[0]!;
}

export function queue(template: Template, logicalId: string): Props {
  const r = template.Resources[logicalId];
  expect(r?.Type, logicalId).toBe('AWS::SQS::Queue');
  return r!.Properties;
}

/** The schema problems osls printed (configValidationMode: warn). */
export function schemaProblems(output: string): string[] {
  const block = /Invalid configuration encountered\n((?:[ \t]+at .*\n?)+)/.exec(output);
  return block ? block[1]!.split('\n').map((l) => l.trim()).filter(Boolean) : [];
}

/** Every Fn::If or Condition left in a template (none should be: parameters are resolved at package time). */
export function deployTimeTests(template: Template): string[] {
  const found: string[] = Object.keys(template.Conditions ?? {}).map((name) => `Conditions.${name}`);
  const walk = (value: unknown, at: string): void => {
    if (value === null || typeof value !== 'object') return;
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Fn::If' || (k === 'Condition' && typeof v === 'string')) found.push(`${at}.${k}`);
      walk(v, `${at}.${k}`);
    }
  };
  walk(template.Resources, 'Resources');
  walk(template.Outputs, 'Outputs');
  return found;
}

/** A policy Resource as a readable string: Fn::Sub text, `Logical.Attr` for GetAtt, or the literal. */
export function resourceText(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const r = resource as Props;
  if (typeof r['Fn::Sub'] === 'string') return r['Fn::Sub'] as string;
  if (Array.isArray(r['Fn::GetAtt'])) return (r['Fn::GetAtt'] as string[]).join('.');
  throw new Error(`unexpected policy resource ${JSON.stringify(resource)}`);
}

/** The role a function runs with, as [logicalId, resource]. */
export function roleOf(template: Template, handler: string): [string, Resource] {
  const [, fn] = functionByHandler(template, handler);
  const ref = fn.Properties.Role as { 'Fn::GetAtt': [string, string] };
  expect(ref['Fn::GetAtt']?.[1], `${handler} role`).toBe('Arn');
  const roleId = ref['Fn::GetAtt'][0];
  const role = template.Resources[roleId];
  expect(role?.Type, roleId).toBe('AWS::IAM::Role');
  return [roleId, role!];
}

/**
 * Every permission a role grants, one `action resource[ if condition]` line each, sorted: exact
 * regardless of how the statements are grouped, in the role's own Policies or in an
 * AWS::IAM::RolePolicy attached to it.
 */
export function grantsOf(template: Template, [roleId, role]: [string, Resource]): string[] {
  const attached = resourcesOfType(template, 'AWS::IAM::RolePolicy')
    .filter(([, r]) => JSON.stringify(r.Properties.RoleName) === JSON.stringify({ Ref: roleId }))
    .map(([, r]) => r.Properties);
  const statements = [...(role.Properties.Policies as Props[]), ...attached].flatMap((p) => p.PolicyDocument.Statement as Props[]);
  const lines: string[] = [];
  for (const s of statements) {
    expect(s.Effect).toBe('Allow');
    expect(s.NotAction ?? s.NotResource).toBeUndefined();
    const condition = s.Condition === undefined ? '' : ` if ${JSON.stringify(s.Condition)}`;
    for (const action of [s.Action].flat() as string[]) {
      for (const resource of [s.Resource].flat()) lines.push(`${action} ${resourceText(resource)}${condition}`);
    }
  }
  return lines.sort();
}

export const actionsOf = (grants: string[]): string[] => [...new Set(grants.map((g) => g.split(' ')[0]!))].sort();

/** An alarm's properties minus its description. */
export function alarmAsDeployed(alarm: Resource): Props {
  const { AlarmDescription, ...rest } = alarm.Properties;
  expect(typeof AlarmDescription).toBe('string');
  return rest;
}

/** Every metric name the code may emit (the MetricName union in lib/runtime/metrics.ts). */
export function emittedMetricNames(): string[] {
  const source = fs.readFileSync(path.join(ROOT, 'lib', 'runtime', 'metrics.ts'), 'utf8');
  const union = /export type MetricName =([^;]+);/.exec(source);
  expect(union, 'MetricName union in lib/runtime/metrics.ts').not.toBeNull();
  return [...union![1]!.matchAll(/'(\w+)'/g)].map((m) => m[1]!).sort();
}

export interface DashboardMetric {
  namespace: string;
  metric: string;
  /** Name, value, name, value… */
  dimension: string[];
  stat: string;
}

/** The dashboard's body with Fn::Sub applied (region us-east-1), parsed. */
export function dashboardBody(template: Template): { widgets: { type: string; properties: Props }[] } {
  const dashboards = resourcesOfType(template, 'AWS::CloudWatch::Dashboard');
  expect(dashboards).toHaveLength(1);
  const [body, vars] = dashboards[0]![1].Properties.DashboardBody['Fn::Sub'] as [string, Record<string, unknown>];
  const text = body.replace(/\$\{([\w:.]+)\}/g, (_, name: string) => {
    if (name === 'AWS::Region') return 'us-east-1';
    const v = vars[name];
    if (typeof v === 'string') return v;
    // References stay symbolic so the test can check what they point at.
    return `<${JSON.stringify(v).replaceAll('"', "'")}>`;
  });
  return JSON.parse(text) as { widgets: { type: string; properties: Props }[] };
}

export function dashboardMetrics(template: Template): Record<string, DashboardMetric[]> {
  const out: Record<string, DashboardMetric[]> = {};
  for (const w of dashboardBody(template).widgets) {
    expect(w.type).toBe('metric');
    expect(w.properties.region).toBe('us-east-1');
    out[w.properties.title as string] = (w.properties.metrics as unknown[][]).map((m) => {
      const [namespace, metric, ...rest] = m as [string, string, ...unknown[]];
      const options = rest.pop() as Props;
      expect(rest.length % 2, JSON.stringify(m)).toBe(0);
      return { namespace, metric, dimension: rest as string[], stat: options.stat as string };
    });
  }
  return out;
}

/** Minimal zip reader (stored + deflate, no zip64): entry name -> content. Directory entries skipped. */
export function readZip(file: string): Map<string, Buffer> {
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

/** Writes a zip's entries under `dir`. */
export function unzipTo(file: string, dir: string): void {
  for (const [name, data] of readZip(file)) {
    const target = path.join(dir, name);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, data);
  }
}
