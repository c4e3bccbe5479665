import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipBytes, startRelayFixture, type RelayFixture } from '../helpers/relay-fixture.ts';

const BLOCK = 64 * 1024;

describe('Fan-out near its deadline', () => {
  let relay: RelayFixture;
  beforeAll(async () => {
    relay = await startRelayFixture({
      maxBlockBytes: BLOCK,
      adjustSettings: (settings) => {
        // A PUT may outlive the invocation: the deadline, not the PUT timeout, ends it.
        settings.fanOut.timeoutSeconds = 4;
        settings.fanOut.putTimeoutMs = 20_000;
        settings.blocksQueue.visibilityTimeoutSeconds = 4;
      },
    });
  });
  afterAll(async () => relay?.stop());

  it('Should give back only the unsettled block, so the settled ones are not PUT again', async () => {
    const key = 'incoming/deadline.mp4';
    const body = clipBytes(2 * BLOCK + 10);
    const session = relay.emulator.openSession({ fileSize: body.length, expectedBlocks: 3, faults: { blocks: { 1: { answers: [{ stallMs: 6000 }] } } } });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 3 } });

    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 30_000 });

    expect(receipt.status).toBe('committed');
    expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
    const puts = relay.emulator.stats(session.uploadId).putsByBlock;
    expect([puts.get(0), puts.get(1), puts.get(2)]).toStrictEqual([1, 2, 1]);
    const deadline = relay.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.message === 'deadline reached: unsettled blocks go back to the queue');
    expect(deadline).toHaveLength(1);
    expect(deadline[0]).toMatchObject({ level: 'WARN', settled: 2, unsettled: 1 });
    expect(relay.stack.sources.fanOut.stats.errors).toBe(0);
  });
});
