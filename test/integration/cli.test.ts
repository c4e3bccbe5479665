import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SINGLE_PUT_BLOCK, startTransferEmulator, type TransferEmulator } from '../../local/emulator/transfer-service.ts';
import { TEST_AUTHORIZATION } from '../helpers/relay-fixture.ts';

const run = promisify(execFile);
const BIN = resolve('bin/clip-relay.js');
const NODE = resolve('node_modules/.bin/node');
const MiB = 1024 * 1024;

/** Runs the CLI as a user would, in its own process; never throws on a non-zero exit. */
async function clipRelay(args: string[], env: Record<string, string | undefined> = { XBL_AUTHORIZATION: TEST_AUTHORIZATION }) {
  try {
    const { stdout, stderr } = await run(NODE, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('CLI: clip-relay relay', () => {
  let emulator: TransferEmulator;
  let dir: string;
  let file: string;
  let bytes: Buffer;
  beforeAll(async () => {
    emulator = await startTransferEmulator({ authorization: TEST_AUTHORIZATION });
    dir = await mkdtemp(join(tmpdir(), 'clip-relay-cli-'));
    file = join(dir, 'twenty.mp4');
    bytes = randomBytes(20 * MiB);
    await writeFile(file, bytes);
  });
  afterAll(async () => {
    await emulator?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('Should upload a 20 MiB file in 10 blocks to a strict server on 127.0.0.1 and exit 0', async () => {
    const session = emulator.openSession({ expectedBlocks: 10, fileSize: bytes.length });
    const result = await clipRelay([
      'relay', file, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId,
      '--expected-blocks', '10', '--allow-host', '127.0.0.1', '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const receipt = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(receipt).toMatchObject({ status: 'committed', size: 20 * MiB, expectedBlocks: 10, blockSize: 2 * MiB });
    expect(emulator.committed(session.uploadId)?.equals(bytes)).toBe(true);
    expect(emulator.stats(session.uploadId).puts).toBe(10);
    expect(result.stderr).toMatch(/committed incoming\/twenty\.mp4: 20\.0 MiB in 10 block\(s\)/);
    expect(`${result.stdout}${result.stderr}`).not.toContain(TEST_AUTHORIZATION);
  });

  it('Should exit 2 without contacting a host that is not allowed', async () => {
    const session = emulator.openSession({ expectedBlocks: 10, fileSize: bytes.length });
    const before = emulator.requests.length;
    const result = await clipRelay(['relay', file, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId, '--expected-blocks', '10', '--json']);
    expect(result.code).toBe(2);
    const receipt = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
    expect(receipt).toMatchObject({ status: 'failed', reason: { code: 'UPLOAD_TARGET_REFUSED' } });
    expect(receipt.reason.message).toMatch(/IP address not named in the allowlist/);
    expect(emulator.requests.length).toBe(before);
  });

  it('Should exit 2 without contacting a plain-http upload URI', async () => {
    const before = emulator.requests.length;
    const result = await clipRelay(['relay', file, '--upload-uri', 'http://gameclipstransfer.xboxlive.com/clips/1', '--upload-id', 'x', '--expected-blocks', '10', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'failed', reason: { code: 'UPLOAD_TARGET_REFUSED', message: expect.stringMatching(/plain http is refused/) } });
    expect(emulator.requests.length).toBe(before);
  });

  it.each([
    ['exit 0 when a dropped connection and a 503 are retried into a commit', { blocks: { 3: { answers: [{ drop: true } as const, { status: 503, retryAfter: '1' }] } } }, 0, 'committed'],
    ['exit 2 when the service rejects a block with 403', { blocks: { 5: { answers: [{ status: 403 }] } } }, 2, 'failed'],
  ])('Should %s', async (_name, faults, code, status) => {
    const session = emulator.openSession({ expectedBlocks: 10, fileSize: bytes.length, faults });
    const result = await clipRelay(['relay', file, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId, '--expected-blocks', '10', '--allow-host', '127.0.0.1', '--backoff-base-ms', '100', '--json']);
    expect(result.code, result.stderr).toBe(code);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!).status).toBe(status);
  });

  it('Should exit 3 when the commit answer is lost and the retry is answered 409', async () => {
    const small = join(dir, 'small.mp4');
    const smallBytes = randomBytes(100_000);
    await writeFile(small, smallBytes);
    const session = emulator.openSession({ fileSize: smallBytes.length, faults: { blocks: { [SINGLE_PUT_BLOCK]: { answers: [{ drop: true, processFirst: true }] } }, afterCommit: 409 } });
    const result = await clipRelay(['relay', small, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId, '--allow-host', '127.0.0.1', '--backoff-base-ms', '100', '--json']);
    expect(result.code, result.stderr).toBe(3);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'unconfirmed', reason: { code: 'COMMIT_UNCONFIRMED' } });
    expect(emulator.committed(session.uploadId)?.equals(smallBytes)).toBe(true);
  });

  it('Should exit 2 with the layout problem when expectedBlocks fits no layout', async () => {
    const session = emulator.openSession({ fileSize: bytes.length });
    const result = await clipRelay(['relay', file, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId, '--expected-blocks', '3', '--allow-host', '127.0.0.1', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'failed', reason: { code: 'BLOCK_LAYOUT_IMPOSSIBLE' } });
  });

  it.each([
    ['no token', ['relay', 'FILE', '--upload-uri', 'https://a.xboxlive.com/c', '--upload-id', 'x'], {}, /XBL_AUTHORIZATION is not set/],
    ['a missing file', ['relay', '/nonexistent/clip.mp4', '--upload-uri', 'https://a.xboxlive.com/c', '--upload-id', 'x'], undefined, /is not a readable file/],
    ['a missing --upload-id', ['relay', 'FILE', '--upload-uri', 'https://a.xboxlive.com/c'], undefined, /required option '--upload-id <id>'/],
    ['a bad --expected-blocks', ['relay', 'FILE', '--upload-uri', 'https://a.xboxlive.com/c', '--upload-id', 'x', '--expected-blocks', '0'], undefined, /--expected-blocks must be a positive whole number/],
  ])('Should exit 1 with one line naming the problem for %s', async (_name, args, env, message) => {
    const result = await clipRelay(args.map((arg) => (arg === 'FILE' ? file : arg)), env as Record<string, string> | undefined);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
  });
});
