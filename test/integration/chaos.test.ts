import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SINGLE_PUT_BLOCK, type FaultAnswer, type UploadFaults, type UploadSession } from '../../local/emulator/transfer-service.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const BLOCK = 64 * 1024;
const CLIPS = 24;
/** The fan-out's attempt budget: at ~15 % faults per PUT, 10 failed attempts in a row are ~1e-8 per block. */
const MAX_ATTEMPTS = 10;
const PUT_TIMEOUT_MS = 2000;
const STALL_MS = 3000;
const FAILURE_RATE = 0.1;
const DROP_RATE = 0.05;
const REDIRECT_STATUSES = [307, 301, 308, 302] as const;
const PREFIX = 'incoming/chaos/';
/** Normally all receipts are in within ~6 s; a clip still without one after this lost a block. */
const RECEIPT_WAIT_MS = 60_000;

/** One clip of the chaos run: its shape and the faults scripted on top of the random ones. */
interface ChaosClip {
  index: number;
  key: string;
  gameClipId: string;
  /** undefined: a single-PUT upload. */
  expectedBlocks: number | undefined;
  size: number;
  /** Scripted answers by blockNum ({@link SINGLE_PUT_BLOCK} for a single PUT). */
  script: Map<number, FaultAnswer[]>;
}

/**
 * 24 clips, every sixth a single PUT (one of them larger than a block), the others 3..12
 * blocks with a last block of 1..BLOCK bytes. Two thirds get a stall longer than the PUT
 * timeout (every fourth of those commits first and loses only the answer), half a redirect,
 * every eighth two redirect hops; a block may get a redirect and then a stall.
 */
function chaosClips(): ChaosClip[] {
  return Array.from({ length: CLIPS }, (_, index): ChaosClip => {
    const single = index % 6 === 5;
    const expectedBlocks = single ? undefined : 3 + ((index * 7) % 10);
    const size = single ? (index === 11 ? 3 * BLOCK + 123 : 20_000 + index * 1000) : (expectedBlocks! - 1) * BLOCK + 1 + ((index * 7919) % BLOCK);
    const blocks = expectedBlocks ?? 1;
    const blockKey = (n: number) => (single ? SINGLE_PUT_BLOCK : n % blocks);
    const gameClipId = `chaos-${index}`;
    const script = new Map<number, FaultAnswer[]>();
    const add = (block: number, answer: FaultAnswer) => script.set(block, [...(script.get(block) ?? []), answer]);
    if (index % 2 === 0 || single) {
      const redirect: FaultAnswer = { redirectTo: `/moved/clips/${gameClipId}`, status: REDIRECT_STATUSES[(index >> 1) % 4]! };
      add(blockKey(index + 1), redirect);
      if (index % 8 === 0) add(blockKey(index + 1), redirect);
    }
    if (index % 3 !== 1) add(blockKey(index), { stallMs: STALL_MS, processFirst: index % 4 === 0 });
    return { index, key: `${PREFIX}clip-${String(index).padStart(2, '0')}.mp4`, gameClipId, expectedBlocks, size, script };
  });
}

describe('Chaos: many clips at once through random and scripted faults', () => {
  let relay: RelayFixture;
  beforeAll(async () => {
    relay = await startRelayFixture({
      maxBlockBytes: BLOCK,
      adjustSettings: (settings) => {
        settings.blocksQueue.maxReceiveCount = MAX_ATTEMPTS;
        settings.fanOut.putTimeoutMs = PUT_TIMEOUT_MS;
      },
    });
  });
  afterAll(async () => relay?.stop());

  it('Should commit every clip with its exact bytes, one receipt each, and leave every queue empty', { timeout: 120_000 }, async () => {
    expect(STALL_MS).toBeGreaterThan(relay.stack.config.putTimeoutMs);
    expect(relay.stack.config.maxAttempts).toBe(MAX_ATTEMPTS);
    const clips = chaosClips();
    const started = performance.now();

    const settled = await Promise.all(
      clips.map(async (clip) => {
        const body = clipBytes(clip.size);
        const faults: UploadFaults = {
          failureRate: FAILURE_RATE,
          dropRate: DROP_RATE,
          seed: 0xc1a0 + clip.index,
          blocks: Object.fromEntries([...clip.script].map(([block, answers]) => [block, { answers }])),
        };
        const session = relay.emulator.openSession({
          fileSize: clip.size,
          gameClipId: clip.gameClipId,
          faults,
          ...(clip.expectedBlocks !== undefined && { expectedBlocks: clip.expectedBlocks }),
        });
        await relay.stack.putClip({
          key: clip.key,
          body,
          ticket: {
            uploadUri: session.uploadUri,
            uploadId: session.uploadId,
            gameClipId: session.gameClipId,
            ...(clip.expectedBlocks !== undefined && { expectedBlocks: clip.expectedBlocks }),
          },
        });
        const receipt = await relay.stack.waitForReceipt(clip.key, { timeoutMs: RECEIPT_WAIT_MS }).catch(() => undefined);
        return { clip, body, session, receipt };
      }),
    );
    const receiptsAfterMs = performance.now() - started;

    // A clip without a receipt: name the blocks the service never took (no 2xx answer).
    const missing = settled
      .filter(({ receipt }) => receipt === undefined)
      .map(({ clip, session }) => ({
        key: clip.key,
        blocksNeverTaken: Array.from({ length: clip.expectedBlocks ?? 1 }, (_, n) => (clip.expectedBlocks === undefined ? SINGLE_PUT_BLOCK : n)).filter(
          (block) => !blockRequests(session, block).some((r) => r.status >= 200 && r.status < 300),
        ),
      }));
    expect(missing, `fan-out ${JSON.stringify(relay.stack.sources.fanOut.stats)}`).toStrictEqual([]);
    const results = settled.map((result) => ({ ...result, receipt: result.receipt! }));
    await waitForQuiescence(20_000);
    const elapsedMs = performance.now() - started;

    // Every clip committed, with exactly its bytes, under its own receipt.
    for (const { clip, body, session, receipt } of results) {
      expect(receipt, clip.key).toMatchObject({
        status: 'committed',
        bucket: relay.stack.bucket,
        key: clip.key,
        size: clip.size,
        gameClipId: clip.gameClipId,
        uploadUri: session.uploadUri,
      });
      expect(receipt.reason, clip.key).toBeUndefined();
      expect(receipt.expectedBlocks, clip.key).toBe(clip.expectedBlocks);
      expect(relay.emulator.committed(session.uploadId)?.equals(body), clip.key).toBe(true);
      expect(await relay.stack.readReceipt(clip.key), clip.key).toStrictEqual(receipt);
    }

    // The scripted faults happened as scripted, and each faulted block was sent again.
    for (const { clip, session } of results) {
      const stats = relay.emulator.stats(session.uploadId);
      for (const [block, answers] of clip.script) {
        const requests = blockRequests(session, block);
        const expectedStatuses = answers.map((answer) => ('redirectTo' in answer ? answer.status! : 0));
        expect(requests.slice(0, answers.length).map((r) => r.status), `${clip.key} block ${block}`).toStrictEqual(expectedStatuses);
        const hops = answers.filter((answer) => 'redirectTo' in answer).length;
        if (hops > 0) expect(requests[1]!.path, `${clip.key} block ${block}`).toBe(`/moved/clips/${clip.gameClipId}`);
        // A block stalled after it was taken (processFirst) may never need sending again: the
        // clip can commit meanwhile and its retry is then skipped. Any other faulted block must.
        const taken = answers.some((answer) => 'stallMs' in answer && answer.processFirst === true);
        if (!taken) {
          expect(requests.length, `${clip.key} block ${block}`).toBeGreaterThan(answers.length);
          expect([200, 201, 202], `${clip.key} block ${block}`).toContain(requests.at(-1)!.status);
        }
        expect(stats.putsByBlock.get(block)).toBe(requests.length);
      }
    }

    // Exactly one receipt object per clip, each written once (no failed receipt later upgraded).
    const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: relay.stack.bucket, Prefix: relay.stack.config.receiptsPrefix }));
    expect(listed.IsTruncated).toBe(false);
    expect(listed.Contents?.map((object) => object.Key).sort()).toStrictEqual(clips.map((clip) => `${relay.stack.config.receiptsPrefix}${clip.key}.json`).sort());
    const parsedLogs = relay.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const written = parsedLogs.filter((log) => log.message === 'receipt written').map((log) => log.key as string);
    expect(written.sort()).toStrictEqual(clips.map((clip) => clip.key).sort());
    expect(parsedLogs.filter((log) => log.message === 'block failed' || log.message === 'block unconfirmed')).toStrictEqual([]);

    // Nothing left anywhere, nothing ever dead-lettered, no token in the logs.
    for (const queue of Object.values(relay.stack.queues)) {
      expect(relay.stack.queueCounts(queue), queue.name).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    }
    expect(relay.stack.sources.deadLetter.stats.records).toBe(0);
    // No invocation failed as a whole (a handler error or an invalid batch response); timeouts are counted below.
    for (const name of ['fanOut', 'finalizer', 'deadLetter'] as const) expect(relay.stack.sources[name].stats.errors, name).toBe(0);
    expect(relay.logs.filter((line) => line.includes(TEST_AUTHORIZATION) || line.includes('test-token-that-must-never-leak'))).toStrictEqual([]);

    // The random faults did strike: some 503s and some dropped connections beyond the scripted stalls.
    const all = results.flatMap(({ clip }) => relay.emulator.requests.filter((r) => r.path.endsWith(`/clips/${clip.gameClipId}`)));
    const scriptedStalls = clips.reduce((sum, clip) => sum + [...clip.script.values()].flat().filter((a) => 'stallMs' in a).length, 0);
    const count = (predicate: (status: number) => boolean) => all.filter((r) => predicate(r.status)).length;
    expect(count((s) => s === 503)).toBeGreaterThan(0);
    expect(count((s) => s === 0)).toBeGreaterThan(scriptedStalls);

    // Figures.
    const blocks = clips.reduce((sum, clip) => sum + (clip.expectedBlocks ?? 1), 0);
    const putsPerBlock = results.flatMap(({ session }) => [...relay.emulator.stats(session.uploadId).putsByBlock.values()]);
    expect(putsPerBlock).toHaveLength(blocks);
    const puts = results.reduce((sum, { session }) => sum + relay.emulator.stats(session.uploadId).puts, 0);
    expect(puts).toBe(all.length);
    const fanOut = relay.stack.sources.fanOut.stats;
    console.log(
      `chaos: clips=${clips.length} (single-PUT ${clips.filter((c) => c.expectedBlocks === undefined).length}) blocks=${blocks} puts=${puts}` +
        ` putsPerBlock avg=${(puts / blocks).toFixed(2)} max=${Math.max(...putsPerBlock)}` +
        ` 503=${count((s) => s === 503)} noAnswer=${count((s) => s === 0)} (scripted stalls ${scriptedStalls}) redirects=${count((s) => s >= 300 && s < 400)}` +
        ` fanOut invocations=${fanOut.invocations} records=${fanOut.records} failedRecords=${fanOut.failedRecords} timeouts=${fanOut.timeouts} errors=${fanOut.errors}` +
        ` receipts=${(receiptsAfterMs / 1000).toFixed(1)}s elapsed=${(elapsedMs / 1000).toFixed(1)}s`,
    );
  });

  /** The PUTs of one block of a session (both paths), in the order they were answered. */
  function blockRequests(session: UploadSession, block: number) {
    return relay.emulator.requests.filter(
      (r) => r.path.endsWith(`/clips/${session.gameClipId}`) && r.blockNum === (block === SINGLE_PUT_BLOCK ? undefined : block),
    );
  }

  /** Waits until every queue (DLQs included) holds nothing, ready, in flight or delayed. */
  async function waitForQuiescence(timeoutMs: number) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const counts = Object.values(relay.stack.queues).map((queue) => ({ queue: queue.name, ...relay.stack.queueCounts(queue) }));
      if (counts.every((c) => c.ready + c.inflight + c.delayed === 0)) return;
      if (Date.now() > deadline) throw new Error(`queues not empty after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
});
