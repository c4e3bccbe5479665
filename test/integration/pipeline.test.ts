import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForEmptyQueue } from '../helpers/queue-watch.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const BLOCK = 64 * 1024;

describe('Pipeline: splitter → SQS → fan-out → finalizer on the embedded stack', () => {
  let relay: RelayFixture;
  beforeAll(async () => {
    relay = await startRelayFixture({ maxBlockBytes: BLOCK });
  });
  afterAll(async () => relay?.stop());

  async function relayClip(key: string, size: number, expectedBlocks: number | undefined) {
    const body = clipBytes(size);
    const session = relay.emulator.openSession({ fileSize: size, ...(expectedBlocks !== undefined && { expectedBlocks }) });
    await relay.stack.putClip({
      key,
      body,
      ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, gameClipId: session.gameClipId, ...(expectedBlocks !== undefined && { expectedBlocks }) },
    });
    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 30_000 });
    return { body, session, receipt };
  }

  it.each([
    ['a clip without expectedBlocks (one PUT)', 'incoming/single.mp4', 100_000, undefined, 100_000],
    ['a clip of one block', 'incoming/one-block.mp4', 1000, 1, 1000],
    ['an exact multiple of the block size', 'incoming/exact.mp4', 4 * BLOCK, 4, BLOCK],
    ['a last block of 1 byte', 'incoming/last-byte.mp4', 3 * BLOCK + 1, 4, BLOCK],
    ['300 blocks', 'incoming/three-hundred.mp4', 299 * BLOCK + 777, 300, BLOCK],
    ['a key with spaces and non-ASCII', 'incoming/my clips/Ünïcødé clip 日本 +1.mp4', 2 * BLOCK + 5, 3, BLOCK],
  ])('Should commit %s with its exact bytes', async (_name, key, size, expectedBlocks, blockSize) => {
    const { body, session, receipt } = await relayClip(key, size, expectedBlocks);

    expect(receipt).toMatchObject({
      receiptVersion: 1,
      status: 'committed',
      bucket: relay.stack.bucket,
      key,
      size,
      blockSize,
      uploadUri: session.uploadUri,
      gameClipId: session.gameClipId,
      ...(expectedBlocks !== undefined && { expectedBlocks }),
    });
    expect(receipt.reason).toBeUndefined();
    expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
    const stats = relay.emulator.stats(session.uploadId);
    expect(stats.puts).toBe(expectedBlocks ?? 1);
  });

  // Relays clips of its own, so it passes alone (-t) as well as after the table above.
  it('Should leave one receipt per clip, empty queues, and no token anywhere', async () => {
    const keys = ['incoming/own/single.mp4', 'incoming/own/blocks.mp4'];
    await relayClip(keys[0]!, 1000, undefined);
    await relayClip(keys[1]!, 3 * BLOCK + 9, 4);
    const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: relay.stack.bucket, Prefix: `${relay.stack.config.receiptsPrefix}incoming/own/` }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toStrictEqual(keys.map((key) => `receipts/${key}.json`).sort());
    for (const queue of Object.values(relay.stack.queues)) await waitForEmptyQueue(relay.stack, queue, 20_000);
    for (const queue of Object.values(relay.stack.queues)) {
      expect(relay.stack.queueCounts(queue), queue.name).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    }
    expect(relay.logs.length).toBeGreaterThan(0);
    expect(relay.logs.filter((line) => line.includes(TEST_AUTHORIZATION) || line.includes('test-token-that'))).toStrictEqual([]);
  });
});
