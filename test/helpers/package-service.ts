/**
 * Runs `osls package` (the offline packager of serverless.yml) and reads what it wrote: the
 * CloudFormation templates and the function zips.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const run = promisify(execFile);

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = path.join(ROOT, 'node_modules', '.bin');
/** Node 24 from node_modules/.bin first: osls and the bundle checks need it. */
export const CHILD_ENV = {
  ...process.env,
  PATH: `${BIN}${path.delimiter}${process.env.PATH ?? ''}`,
  SLS_TELEMETRY_DISABLED: '1',
  SLS_NOTIFICATIONS_MODE: 'off',
};
export const PACKAGE_TIMEOUT_MS = 60_000;

/** What one `osls package` run left in its directory. */
export interface PackagedService<T> {
  dir: string;
  /** stdout and stderr, without colour codes. */
  output: string;
  /** cloudformation-template-update-stack.json, parsed. */
  template: T;
}

/** Runs `osls package` from the repository root into a fresh temporary directory. */
export async function packageService<T>(extraArgs: string[] = []): Promise<PackagedService<T>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clip-relay-package-'));
  let stdout: string;
  let stderr: string;
  try {
    ({ stdout, stderr } = await run(path.join(BIN, 'osls'), ['package', '--package', dir, ...extraArgs], {
      cwd: ROOT,
      env: CHILD_ENV,
      timeout: PACKAGE_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`osls package failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
  const template = JSON.parse(fs.readFileSync(path.join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as T;
  return { dir, output: `${stdout}\n${stderr}`.replace(/\u001b\[[0-9;]*m/g, ''), template };
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
