import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startFauxqs } from 'fauxqs';
import { afterAll, describe, expect, it } from 'vitest';
import { uploadIdHash } from '../../lib/protocol/correlation.ts';
import { holdKey, parseHold } from '../../lib/protocol/upload-hold.ts';
import { startTransferEmulator, type TransferEmulator } from '../../local/emulator/transfer-service.ts';
import { createLambdaContext } from '../../local/event-source/lambda-context.ts';
import { s3ObjectCreatedEvent } from '../../local/event-source/s3-event.ts';
import { parseLogLines } from '../helpers/log-lines.ts';
import { freePort } from '../helpers/free-port.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const run = promisify(execFile);
const BIN = resolve('bin/clip-relay.js');
const NODE = resolve('node_modules/.bin/node');
const MiB = 1024 * 1024;

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Hardening (issue 13)', () => {
  const fixtures: RelayFixture[] = [];
  afterAll(async () => {
    await Promise.all(fixtures.map((fixture) => fixture.stop()));
  });

  it('Should upload a retake (same bytes, same key, new session) to the new session, and settle a duplicate event once', { timeout: 60_000 }, async () => {
    const relay = await startRelayFixture({ maxBlockBytes: 64 * 1024 });
    fixtures.push(relay);
    const key = 'incoming/retake.mp4';
    const body = clipBytes(3 * 64 * 1024 - 100);
    const first = relay.emulator.openSession({ fileSize: body.length, expectedBlocks: 3 });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: first.uploadUri, uploadId: first.uploadId, expectedBlocks: 3, gameClipId: first.gameClipId } });
    const firstReceipt = await relay.stack.waitForReceipt(key);
    expect(firstReceipt).toMatchObject({ status: 'committed', uploadIdHash: uploadIdHash(first.uploadId), gameClipId: first.gameClipId });

    const retake = relay.emulator.openSession({ fileSize: body.length, expectedBlocks: 3 });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: retake.uploadUri, uploadId: retake.uploadId, expectedBlocks: 3, gameClipId: retake.gameClipId } });
    const receipt = await until('the retake\'s receipt', async () => {
      const current = await relay.stack.readReceipt(key);
      return current?.uploadIdHash === uploadIdHash(retake.uploadId) ? current : undefined;
    }, 20_000).catch((error: Error) => {
      const receipts = parseLogLines(relay.logs).filter((line) => line.message.startsWith('receipt') || line.message.startsWith('block') || line.message.startsWith('clip'));
      throw new Error(`${error.message}; the retake's session got ${relay.emulator.stats(retake.uploadId).puts} PUTs; ${JSON.stringify(receipts.map(({ message, status, outcome, blockNum, reason }) => ({ message, status, outcome, blockNum, reason })))}`);
    });
    expect(receipt).toMatchObject({ status: 'committed', etag: firstReceipt.etag, gameClipId: retake.gameClipId, supersedes: [{ status: 'committed', uploadIdHash: uploadIdHash(first.uploadId) }] });
    expect(relay.emulator.committed(retake.uploadId)?.equals(body)).toBe(true);
    expect(relay.emulator.stats(retake.uploadId).puts).toBe(3);
    expect(relay.emulator.stats(first.uploadId).puts).toBe(3);

    // The same object's event again (same ETag, same session): settled, no PUT.
    const invocations = relay.stack.usage.fanOut.invocations;
    await relay.stack.handlers.splitter(
      s3ObjectCreatedEvent({ bucket: relay.stack.bucket, key, size: body.length, eTag: receipt.etag }),
      createLambdaContext({ functionName: 'splitter', timeoutSeconds: 30 }),
    );
    await until('the duplicate blocks to be settled', () => (relay.stack.usage.fanOut.invocations > invocations && relay.stack.queueCounts(relay.stack.queues.blocks).inflight === 0 && relay.stack.queueCounts(relay.stack.queues.blocks).ready === 0 ? true : undefined), 20_000);
    expect(relay.emulator.stats(retake.uploadId).puts).toBe(3);
    expect((await relay.stack.readReceipt(key))?.decidedAt).toBe(receipt.decidedAt);
  });

  it('Should refuse a single PUT above the configured cap with a failed receipt naming expected-blocks, before any PUT', { timeout: 60_000 }, async () => {
    const relay = await startRelayFixture({ env: { CLIP_RELAY_MAX_SINGLE_PUT_BYTES: '100000' } });
    fixtures.push(relay);
    const small = clipBytes(100_000);
    const big = clipBytes(100_001);
    const smallSession = relay.emulator.openSession({ fileSize: small.length });
    const bigSession = relay.emulator.openSession({ fileSize: big.length });
    await relay.stack.putClip({ key: 'incoming/single-small.mp4', body: small, ticket: { uploadUri: smallSession.uploadUri, uploadId: smallSession.uploadId } });
    await relay.stack.putClip({ key: 'incoming/single-big.mp4', body: big, ticket: { uploadUri: bigSession.uploadUri, uploadId: bigSession.uploadId } });
    expect(await relay.stack.waitForReceipt('incoming/single-small.mp4')).toMatchObject({ status: 'committed' });
    const refused = await relay.stack.waitForReceipt('incoming/single-big.mp4');
    expect(refused).toMatchObject({ status: 'failed', reason: { code: 'CLIP_SIZE_UNSUPPORTED', message: expect.stringMatching(/100001 bytes.*over the 100000-byte cap of a single PUT.*expected-blocks/) } });
    expect(relay.emulator.stats(bigSession.uploadId).puts).toBe(0);
  });

  it('Should hold every block of an upload after a 429 with Retry-After, across invocations (--concurrency 2, 16 blocks)', { timeout: 60_000 }, async () => {
    const block = 64 * 1024;
    const relay = await startRelayFixture({ maxBlockBytes: block, env: { CLIP_RELAY_PUT_CONCURRENCY: '2' } });
    fixtures.push(relay);
    const key = 'incoming/held.mp4';
    const body = clipBytes(16 * block);
    // Every block answers after 300 ms, so each invocation of 8 blocks at 2 PUTs at a time is still
    // starting PUTs when block 1 is told 429 with Retry-After: 3, 150 ms in: between two waves of
    // PUT starts, so none of them races the hold's recording.
    const slow = Object.fromEntries(Array.from({ length: 16 }, (_, n) => [n, { answers: [{ stallMs: 300 }] }]));
    const session = relay.emulator.openSession({
      fileSize: body.length,
      expectedBlocks: 16,
      faults: { blocks: { ...slow, 1: { answers: [{ status: 429, retryAfter: '3', afterMs: 150 }] } } },
    });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 16 } });
    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 40_000 });
    expect(receipt.status).toBe('committed');
    expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);

    const puts = relay.emulator.requests.filter((request) => request.method === 'PUT' && request.path === new URL(session.uploadUri).pathname);
    const tooMany = puts.find((request) => request.status === 429)!;
    const startedInRetryAfter = puts.filter((request) => request.startedAt >= tooMany.at && request.startedAt < tooMany.at + 3000);
    const stored = await relay.stack.s3.send(new GetObjectCommand({ Bucket: relay.stack.bucket, Key: holdKey(relay.stack.config.receiptsPrefix, key) })).then(
      async (object) => parseHold(await object.Body!.transformToString()),
      () => undefined,
    );
    expect(stored, `no hold recorded; ${startedInRetryAfter.length} PUTs started within the Retry-After`).toBeDefined();
    const hold = stored!;
    expect(hold.until - hold.since).toBeGreaterThanOrEqual(2900);
    // The hold counts from when it was recorded in S3: a block that checked just before may still start (a few ms).
    const held = parseLogLines(relay.logs).filter((line) => line.message === 'upload held after a 429');
    expect(held).toHaveLength(1);
    const recordedAt = held[0]!.recordedAt as number;
    expect(held[0]).toMatchObject({ heldSince: hold.since, heldUntil: hold.until });
    const inside = puts.filter((request) => request.startedAt >= recordedAt && request.startedAt < hold.until);
    const timeline = puts.map((request) => `${request.blockNum}:${request.status}@${request.startedAt - recordedAt}..${request.at - recordedAt}`).join(' ');
    const figures = `hold of ${hold.until - hold.since} ms recorded ${recordedAt - tooMany.at} ms after the 429 was answered; ${startedInRetryAfter.length} PUTs started within the Retry-After; ms from the recording: ${timeline}`;
    expect(inside.map((request) => request.blockNum), figures).toStrictEqual([]);
    console.info(`hold: ${figures}`);
    expect(puts.length).toBe(17);
  });
});

describe('Hardening: clip-relay status past a corrupt receipt', () => {
  let relay: RelayFixture | undefined;
  afterAll(async () => relay?.stop());

  it('Should list a clip whose receipt is corrupt as such, go on with the others, and exit 2', { timeout: 60_000 }, async () => {
    relay = await startRelayFixture({ maxBlockBytes: 64 * 1024 });
    const keys = ['incoming/status/a-good.mp4', 'incoming/status/b-corrupt.mp4', 'incoming/status/c-good.mp4'];
    for (const key of keys) {
      const body = clipBytes(1000);
      const session = relay.emulator.openSession({ fileSize: body.length });
      await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId } });
      await relay.stack.waitForReceipt(key);
    }
    await relay.stack.s3.send(new PutObjectCommand({ Bucket: relay.stack.bucket, Key: `receipts/${keys[1]}.json`, Body: '{"receiptVersion": 1, "status": "comm' }));

    const result = await run(NODE, [BIN, 'status', '--endpoint', relay.stack.endpoint, '--prefix', 'status/', '--json'], { env: { PATH: process.env.PATH }, timeout: 30_000 }).then(
      ({ stdout, stderr }) => ({ code: 0 as number | null, stdout, stderr }),
      (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

    expect(result.code, result.stderr).toBe(2);
    const states = (JSON.parse(result.stdout) as Array<{ key: string; state: string; reason?: { code: string; message: string } }>).map(({ key, state, reason }) => ({ key, state, code: reason?.code }));
    expect(states).toStrictEqual([
      { key: keys[0], state: 'committed', code: undefined },
      { key: keys[1], state: 'receipt-unreadable', code: 'RECEIPT_INVALID' },
      { key: keys[2], state: 'committed', code: undefined },
    ]);
  });
});

describe('Hardening: clip-relay relay with a refused token', () => {
  let emulator: TransferEmulator;
  let dir: string;
  afterAll(async () => {
    await emulator?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('Should end a 4-block clip TOKEN_REJECTED with exit 2 in well under a minute, at most 2 PUTs per block, with default flags', { timeout: 90_000 }, async () => {
    emulator = await startTransferEmulator({ authorization: TEST_AUTHORIZATION });
    dir = await mkdtemp(join(tmpdir(), 'clip-relay-token-'));
    const file = join(dir, 'four.mp4');
    const bytes = randomBytes(3 * 2 * MiB + 1000);
    await writeFile(file, bytes);
    const session = emulator.openSession({ expectedBlocks: 4, fileSize: bytes.length });
    const wrong = 'XBL3.0 x=1234567890;this-token-is-refused';
    const started = Date.now();
    const result = await run(NODE, [BIN, 'relay', file, '--upload-uri', session.uploadUri, '--upload-id', session.uploadId, '--expected-blocks', '4', '--allow-host', '127.0.0.1', '--json'], {
      env: { PATH: process.env.PATH, XBL_AUTHORIZATION: wrong },
      timeout: 75_000,
    }).then(
      ({ stdout, stderr }) => ({ code: 0 as number | null, stdout, stderr }),
      (error: { code: number | null; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
    );
    const elapsedMs = Date.now() - started;
    // A refused token is answered before the session is looked up: count the PUTs on its path.
    const puts = emulator.requests.filter((request) => request.method === 'PUT' && request.path === new URL(session.uploadUri).pathname);
    const figures = `exit ${result.code} after ${elapsedMs} ms, ${puts.length} PUTs (${puts.filter((p) => p.status === 401).length} answered 401)`;
    expect(result.code, `${figures}\n${result.stderr}`).toBe(2);
    expect(elapsedMs, figures).toBeLessThan(30_000);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'failed', reason: { code: 'TOKEN_REJECTED' } });
    expect(puts.length, figures).toBeGreaterThanOrEqual(4);
    expect(puts.length, `at most 2 PUTs per block; ${figures}`).toBeLessThanOrEqual(8);
    expect(puts.every((put) => put.status === 401)).toBe(true);
    expect(`${result.stdout}${result.stderr}`).not.toContain('this-token-is-refused');
    console.info(`refused token: ${figures}`);
  });
});

/** Starts `clip-relay dev --no-emulator` over `dataDir`, trusting the test's emulator on 127.0.0.1. */
async function startDev(port: number, dataDir: string) {
  const dev = spawn(NODE, [BIN, 'dev', '--port', String(port), '--no-emulator', '--allow-host', '127.0.0.1', '--log-level', 'WARN', '--data-dir', dataDir], {
    env: { PATH: process.env.PATH, XBL_AUTHORIZATION: TEST_AUTHORIZATION },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  dev.stderr.on('data', (chunk) => (stderr += chunk));
  let ready: { endpoint: string; bucket: string } | undefined;
  for await (const line of createInterface({ input: dev.stdout })) {
    if (line.startsWith('ready: ')) {
      ready = JSON.parse(line.slice('ready: '.length)) as { endpoint: string; bucket: string };
      break;
    }
  }
  if (ready === undefined) throw new Error(`clip-relay dev did not start: ${stderr}`);
  return { ready, dev, stderr: () => stderr };
}

describe('Hardening: clip-relay dev --data-dir after a crash', () => {
  it('Should resume a 20-block clip in flight when killed (SIGKILL) and relay a clip dropped while it was down', { timeout: 240_000 }, async () => {
    const emulator = await startTransferEmulator({ authorization: TEST_AUTHORIZATION });
    const dataDir = await mkdtemp(join(tmpdir(), 'clip-relay-crash-'));
    const port = await freePort();
    const s3For = (endpoint: string) => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'any' } });
    const receiptOf = (s3: S3Client, bucket: string, key: string) =>
      s3.send(new GetObjectCommand({ Bucket: bucket, Key: `receipts/${key}.json` })).then(async (o) => JSON.parse(await o.Body!.transformToString()) as { status: string; size: number }, () => undefined);
    const dropClip = async (s3: S3Client, bucket: string, key: string, bytes: Buffer, blocks: number) => {
      const session = emulator.openSession({ fileSize: bytes.length, expectedBlocks: blocks, ...(blocks === 20 && { faults: { blocks: Object.fromEntries(Array.from({ length: 16 }, (_, n) => [n + 4, { answers: [{ stallMs: 5000 }] }])) } }) });
      await new Upload({ client: s3, partSize: 5 * MiB, params: { Bucket: bucket, Key: key, Body: bytes, Metadata: { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': String(blocks) } } }).done();
      return session;
    };
    try {
      const first = await startDev(port, dataDir);
      const s3 = s3For(first.ready.endpoint);
      const bytes = clipBytes(39 * MiB + 12345);
      const session = await dropClip(s3, first.ready.bucket, 'incoming/crash/twenty.bin', bytes, 20);
      // Blocks 0-3 answer at once, the 16 others stall for 5 s: kill while those are in flight.
      await until('4 blocks accepted', () => (emulator.stats(session.uploadId).statuses.filter((s) => s === 202).length >= 4 ? true : undefined), 60_000);
      first.dev.kill('SIGKILL');
      await once(first.dev, 'exit');
      const putsBeforeKill = emulator.stats(session.uploadId).puts;
      s3.destroy();

      // A clip dropped while the relay is down: written straight into its persisted S3.
      const down = await startFauxqs({ port: 0, logger: false, dataDir: join(dataDir, 'sqs'), s3StorageDir: join(dataDir, 's3') });
      const downS3 = s3For(down.address);
      const whileDown = clipBytes(3 * MiB);
      const downSession = await dropClip(downS3, first.ready.bucket, 'incoming/crash/while-down.bin', whileDown, 2);
      downS3.destroy();
      await down.stop();

      const second = await startDev(port, dataDir);
      const restarted = Date.now();
      const s3b = s3For(second.ready.endpoint);
      try {
        const receipt = await until('the 20-block clip\'s receipt', () => receiptOf(s3b, second.ready.bucket, 'incoming/crash/twenty.bin'), 120_000).catch((error: Error) => {
          throw new Error(`${error.message}: ${emulator.stats(session.uploadId).puts} PUTs in all (${putsBeforeKill} before the kill)\n${second.stderr()}`);
        });
        const resumedMs = Date.now() - restarted;
        expect(receipt, `after ${resumedMs} ms`).toMatchObject({ status: 'committed', size: bytes.length });
        expect(emulator.committed(session.uploadId)?.equals(bytes)).toBe(true);
        const downReceipt = await until('the receipt of the clip dropped while down', () => receiptOf(s3b, second.ready.bucket, 'incoming/crash/while-down.bin'), 60_000);
        expect(downReceipt).toMatchObject({ status: 'committed', size: whileDown.length });
        expect(emulator.committed(downSession.uploadId)?.equals(whileDown)).toBe(true);
        console.info(`crash resume: ${putsBeforeKill} PUTs before the kill, ${emulator.stats(session.uploadId).puts} in all, committed ${resumedMs} ms after the restart`);
      } finally {
        s3b.destroy();
        second.dev.kill('SIGINT');
        await once(second.dev, 'exit');
      }
    } finally {
      await emulator.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
