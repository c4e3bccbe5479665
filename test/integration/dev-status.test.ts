import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenProvider } from '../../lib/aws/token-provider.ts';
import { freePort } from '../helpers/free-port.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const run = promisify(execFile);
const NODE = resolve('node_modules/.bin/node');
const BIN = resolve('bin/clip-relay.js');
const MiB = 1024 * 1024;

/** Runs the CLI in its own process; never throws on a non-zero exit. */
async function clipRelay(args: string[]) {
  try {
    const { stdout, stderr } = await run(NODE, [BIN, ...args], { env: { PATH: process.env.PATH, XBL_AUTHORIZATION: TEST_AUTHORIZATION }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface DevReady {
  endpoint: string;
  bucket: string;
  sessions: string;
}

/** Starts `clip-relay dev` as a user would and waits for its ready line. */
async function startDev(port: number, dataDir?: string) {
  const dev = spawn(NODE, [BIN, 'dev', '--port', String(port), '--log-level', 'WARN', ...(dataDir === undefined ? [] : ['--data-dir', dataDir])], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  dev.stderr.on('data', (chunk) => (stderr += chunk));
  let ready: DevReady | undefined;
  for await (const line of createInterface({ input: dev.stdout })) {
    if (line.startsWith('ready: ')) {
      ready = JSON.parse(line.slice('ready: '.length)) as DevReady;
      break;
    }
  }
  if (ready === undefined) throw new Error(`clip-relay dev did not start: ${stderr}`);
  return {
    ready,
    dev,
    stderr: () => stderr,
    async stop() {
      dev.kill('SIGINT');
      const [code] = await once(dev, 'exit');
      expect(code, stderr).toBe(0);
    },
  };
}

/** Opens a session at the dev stack's broker, drops a clip for it, and waits for its committed receipt. */
async function dropAndWait(s3: S3Client, ready: DevReady, key: string, bytes = clipBytes(3 * MiB), expectedBlocks = 2) {
  const response = await fetch(ready.sessions, { method: 'POST', body: JSON.stringify({ fileSize: bytes.length, expectedBlocks }) });
  const session = (await response.json()) as { uploadUri: string; uploadId: string };
  await new Upload({
    client: s3,
    partSize: 5 * MiB,
    params: { Bucket: ready.bucket, Key: key, Body: bytes, Metadata: { 'upload-uri': session.uploadUri, 'upload-id': session.uploadId, 'expected-blocks': String(expectedBlocks) } },
  }).done();
  const receipt = await until(`receipt of ${key}`, async () =>
    s3.send(new GetObjectCommand({ Bucket: ready.bucket, Key: `receipts/${key}.json` })).then(async (o) => JSON.parse(await o.Body!.transformToString()), () => undefined),
  );
  expect(receipt).toMatchObject({ status: 'committed', key, size: bytes.length, expectedBlocks });
}

describe('CLI: clip-relay dev', () => {
  it('Should relay clips a separate S3 client drops over its port, multipart included, and stop on SIGINT', async () => {
    const port = await freePort();
    const dev = await startDev(port);
    expect(dev.ready.endpoint).toBe(`http://127.0.0.1:${port}`);
    const s3 = new S3Client({ endpoint: dev.ready.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'any' } });
    try {
      await dropAndWait(s3, dev.ready, 'incoming/from-pipeline.bin');
      // 13 MiB in 5 MiB parts: a multipart upload, which fauxqs also needs above ~11 MiB.
      await dropAndWait(s3, dev.ready, 'incoming/multipart clip.bin', clipBytes(13 * MiB), 7);
    } finally {
      s3.destroy();
      await dev.stop();
    }
    expect(dev.stderr()).toContain('clip-relay dev: stopping');
  });
});

describe('CLI: clip-relay dev --data-dir', () => {
  it('Should keep clips and receipts across a restart, and relay new clips after it', async () => {
    const port = await freePort();
    const dataDir = await mkdtemp(join(tmpdir(), 'clip-relay-dev-data-'));
    try {
      const first = await startDev(port, dataDir);
      const s3 = new S3Client({ endpoint: first.ready.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'any', secretAccessKey: 'any' } });
      await dropAndWait(s3, first.ready, 'incoming/before-restart.bin');
      await first.stop();

      const second = await startDev(port, dataDir);
      try {
        const status = await clipRelay(['status', '--endpoint', second.ready.endpoint, '--json']);
        expect(status.code, status.stderr).toBe(0);
        expect(JSON.parse(status.stdout)).toMatchObject([{ key: 'incoming/before-restart.bin', state: 'committed' }]);
        await dropAndWait(s3, second.ready, 'incoming/after-restart.bin');
      } finally {
        s3.destroy();
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('CLI: clip-relay status and redrive', () => {
  // Tickets with token-ref "hang" get no token while `hanging` is set: their fan-out invocations
  // time out, so those clips stay without a receipt (in flight, then stuck, then dead-lettered).
  let hanging = true;
  const tokens: TokenProvider = {
    authorization: (tokenRef) => (tokenRef === 'hang' && hanging ? new Promise<string>(() => {}) : Promise.resolve(TEST_AUTHORIZATION)),
  };
  const hangingRelay = (maxReceiveCount: number) => startRelayFixture({
    tokens,
    adjustSettings: (settings) => {
      settings.fanOut.timeoutSeconds = 2;
      settings.blocksQueue.visibilityTimeoutSeconds = 2;
      settings.blocksQueue.maxReceiveCount = maxReceiveCount;
    },
  });
  // `relay` dead-letters a hanging block after 2 receives (~4-6 s); the status test's stuck clip
  // must stay without a receipt however slow the machine is, so it gets a relay of its own.
  let relay: RelayFixture;
  let statusRelay: RelayFixture;
  beforeAll(async () => {
    [relay, statusRelay] = await Promise.all([hangingRelay(2), hangingRelay(1000)]);
  });
  afterAll(async () => Promise.all([relay?.stop(), statusRelay?.stop()]));

  async function put(key: string, faults: Parameters<RelayFixture['emulator']['openSession']>[0] = {}, tokenRef?: string, on: RelayFixture = relay) {
    const bytes = clipBytes(3 * MiB);
    const session = on.emulator.openSession({ fileSize: bytes.length, expectedBlocks: 2, ...faults });
    await on.stack.putClip({ key, body: bytes, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 2, ...(tokenRef !== undefined && { tokenRef }) } });
    return { bytes, session };
  }

  it('Should report committed, failed, in-flight and stuck clips, and exit 2', async () => {
    // The stuck clip is aged past STUCK_AFTER by waiting (measured from after its PUT, so its
    // LastModified is no later); the in-flight clip is dropped just before the CLI runs and has
    // STUCK_AFTER seconds, not a few, for the CLI to start and list it.
    const STUCK_AFTER = 15;
    await put('incoming/status/stuck.bin', {}, 'hang', statusRelay);
    const stuckPutDone = Date.now();
    await put('incoming/status/committed.bin', {}, undefined, statusRelay);
    await put('incoming/status/failed.bin', { faults: { blocks: { 0: { answers: [{ status: 403 }] } } } }, undefined, statusRelay);
    await statusRelay.stack.waitForReceipt('incoming/status/committed.bin');
    await statusRelay.stack.waitForReceipt('incoming/status/failed.bin');
    await new Promise((r) => setTimeout(r, Math.max(0, stuckPutDone + (STUCK_AFTER + 1) * 1000 - Date.now())));
    await put('incoming/status/in-flight.bin', {}, 'hang', statusRelay);

    const result = await clipRelay(['status', '--endpoint', statusRelay.stack.endpoint, '--prefix', 'status/', '--stuck-after', String(STUCK_AFTER), '--json']);
    expect(result.code, result.stderr).toBe(2);
    const states = Object.fromEntries((JSON.parse(result.stdout) as Array<{ key: string; state: string; reason?: { code: string } }>).map((s) => [s.key, s]));
    expect(states['incoming/status/committed.bin']?.state).toBe('committed');
    expect(states['incoming/status/failed.bin']).toMatchObject({ state: 'failed', reason: { code: 'SERVICE_REJECTED' } });
    expect(states['incoming/status/in-flight.bin']?.state).toBe('in-flight');
    expect(states['incoming/status/stuck.bin'], JSON.stringify(states['incoming/status/stuck.bin'])).toMatchObject({ state: 'stuck' });
    expect(Object.keys(states)).toHaveLength(4);

    const table = await clipRelay(['status', '--endpoint', statusRelay.stack.endpoint, '--prefix', 'status/', '--stuck-after', String(STUCK_AFTER), '--state', 'committed']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('committed');
    expect(table.stdout).toContain('incoming/status/committed.bin');
    expect(table.stdout).not.toContain('failed.bin');
    expect(table.stdout).toMatch(/1 clips: 0 failed, 0 stuck, 0 receipt-unreadable, 0 unconfirmed, 0 in-flight, 1 committed/);
  });

  it('Should commit a clip whose block was dead-lettered once it is re-driven, and record the re-drive', async () => {
    const key = 'incoming/redrive/dead-lettered.bin';
    const { bytes, session } = await put(key, {}, 'hang');
    const failed = await relay.stack.waitForReceipt(key, { timeoutMs: 30_000 });
    expect(failed).toMatchObject({ status: 'failed', reason: { code: 'DEAD_LETTERED' } });

    hanging = false;
    const result = await clipRelay(['redrive', key, '--endpoint', relay.stack.endpoint]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^redriven incoming\/redrive\/dead-lettered\.bin \(recorded in receipts\/incoming\/redrive\/dead-lettered\.bin\.json\.redrive-/m);

    const committed = await until('the committed receipt', async () => {
      const receipt = await relay.stack.readReceipt(key);
      return receipt?.status === 'committed' ? receipt : undefined;
    });
    expect(committed.supersedes?.[0]).toMatchObject({ status: 'failed', reason: { code: 'DEAD_LETTERED' } });
    expect(relay.emulator.committed(session.uploadId)?.equals(bytes)).toBe(true);
    const records = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: relay.stack.bucket, Prefix: `receipts/${key}.json.redrive-` }));
    expect(records.Contents).toHaveLength(1);
  });

  it('Should refuse to guess which relay to talk to', async () => {
    const result = await clipRelay(['status']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/say which relay: --endpoint URL for a dev stack, or --stage/);
  });
});
