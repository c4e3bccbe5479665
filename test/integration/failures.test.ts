import { DeleteObjectCommand as DeleteS3ObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenProvider } from '../../lib/aws/token-provider.ts';
import { SINGLE_PUT_BLOCK, type UploadFaults } from '../../local/emulator/transfer-service.ts';
import { s3ObjectCreatedEvent } from '../../local/event-source/s3-event.ts';
import { createLambdaContext } from '../../local/event-source/lambda-context.ts';
import { oneBlockMessage } from '../helpers/block-message.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const BLOCK = 64 * 1024;
const MAX_ATTEMPTS = 4;

// Counts the token fetches, and which of them bypassed the cache.
const tokenCalls: Array<{ forceFetch: boolean }> = [];
const countingTokens: TokenProvider = {
  async authorization(_ref, options) {
    tokenCalls.push({ forceFetch: options?.forceFetch ?? false });
    return TEST_AUTHORIZATION;
  },
};

describe('Failure semantics through the real pipeline', () => {
  let relay: RelayFixture;
  let counter = 0;
  beforeAll(async () => {
    relay = await startRelayFixture({
      maxBlockBytes: BLOCK,
      tokens: countingTokens,
      adjustSettings: (settings) => {
        settings.blocksQueue.maxReceiveCount = MAX_ATTEMPTS;
      },
    });
  });
  afterAll(async () => relay?.stop());

  /** Relays a 3-block clip (or one PUT when blocks is undefined) whose session fails as `faults` say. */
  async function relay3(faults: UploadFaults, options: { blocks?: number | undefined; gameClipId?: string; afterPut?: (key: string) => Promise<void> } = {}) {
    const blocks = 'blocks' in options ? options.blocks : 3;
    const key = `incoming/failure-${++counter}.mp4`;
    const size = blocks === undefined ? 1000 : (blocks - 1) * BLOCK + 100;
    const body = clipBytes(size);
    const session = relay.emulator.openSession({ fileSize: size, faults, ...(blocks !== undefined && { expectedBlocks: blocks }), ...(options.gameClipId !== undefined && { gameClipId: options.gameClipId }) });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, ...(blocks !== undefined && { expectedBlocks: blocks }) } });
    await options.afterPut?.(key);
    const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 30_000 });
    return { key, body, session, receipt, stats: relay.emulator.stats(session.uploadId) };
  }

  describe('recoverable answers are retried through SQS and commit', () => {
    it.each([408, 500, 502, 503, 504])('Should commit after a %i', async (status) => {
      const { receipt, body, session, stats } = await relay3({ blocks: { 1: { answers: [{ status }] } } });
      expect(receipt.status).toBe('committed');
      expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
      expect(stats.putsByBlock.get(1)).toBe(2);
    });

    it('Should honour Retry-After on a 429 before the next attempt', async () => {
      const { receipt, session } = await relay3({ blocks: { 0: { answers: [{ status: 429, retryAfter: '2' }] } } });
      expect(receipt.status).toBe('committed');
      const puts = relay.emulator.requests.filter((r) => r.path === new URL(session.uploadUri).pathname && r.blockNum === 0);
      expect(puts.map((r) => r.status)).toStrictEqual([429, puts[1]!.status]);
      expect([201, 202]).toContain(puts[1]!.status);
      expect(puts[1]!.at - puts[0]!.at).toBeGreaterThanOrEqual(2000);
    });

    it('Should commit after a dropped connection', async () => {
      const { receipt, stats } = await relay3({ blocks: { 2: { answers: [{ drop: true, afterBytes: 10 }] } } });
      expect(receipt.status).toBe('committed');
      expect(stats.putsByBlock.get(2)).toBe(2);
    });

    it('Should give up on a stall longer than the PUT timeout and commit on the retry', async () => {
      const { receipt, stats } = await relay3({ blocks: { 0: { answers: [{ stallMs: 4000 }] } } });
      expect(receipt.status).toBe('committed');
      expect(stats.putsByBlock.get(0)).toBe(2);
    });

    it('Should fail with the last answer once the attempts run out', async () => {
      const always503 = Array.from({ length: 10 }, () => ({ status: 503, body: { errorCode: 'Busy', errorMessage: 'try later' } }));
      const { receipt, stats } = await relay3({ blocks: { 1: { answers: always503 } } });
      expect(receipt).toMatchObject({
        status: 'failed',
        blockNum: 1,
        attempts: MAX_ATTEMPTS,
        reason: { code: 'RETRIES_EXHAUSTED' },
        answer: { status: 503, errorCode: 'Busy', errorMessage: 'try later' },
      });
      expect(stats.putsByBlock.get(1)).toBe(MAX_ATTEMPTS);
    });
  });

  describe('permanent answers fail at once', () => {
    it.each([400, 403, 404, 406, 411, 413, 422])('Should write a failed receipt after exactly one PUT answered %i', async (status) => {
      const { receipt, stats } = await relay3({ blocks: { 0: { answers: [{ status }] } } });
      expect(receipt).toMatchObject({
        status: 'failed',
        blockNum: 0,
        attempts: 1,
        reason: { code: 'SERVICE_REJECTED' },
        answer: { status, errorCode: 'InjectedFault' },
      });
      expect(stats.putsByBlock.get(0)).toBe(1);
    });

    it('Should fail a session that is gone after one PUT per block at most', async () => {
      const { receipt, session } = await relay3({ gone: true });
      expect(receipt).toMatchObject({ status: 'failed', answer: { status: 410, errorCode: 'UploadGone' } });
      const puts = relay.emulator.requests.filter((r) => r.path === new URL(session.uploadUri).pathname);
      expect(puts.length).toBeGreaterThanOrEqual(1);
      expect(puts.length).toBeLessThanOrEqual(3);
      expect(puts.every((r) => r.status === 410)).toBe(true);
    });
  });

  describe('redirects and tokens', () => {
    it.each([301, 302, 307, 308] as const)('Should re-send a block to the Location of a %i and commit', async (status) => {
      const gameClipId = `moved-${status}`;
      const { receipt, body, session } = await relay3(
        { blocks: { 1: { answers: [{ redirectTo: `/moved/clips/${gameClipId}`, status }] } } },
        { gameClipId },
      );
      expect(receipt.status).toBe('committed');
      expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
      const block1 = relay.emulator.requests.filter((r) => r.blockNum === 1 && r.path.endsWith(`/clips/${gameClipId}`));
      expect(block1.map((r) => r.path)).toStrictEqual([`/clips/${gameClipId}`, `/moved/clips/${gameClipId}`]);
      expect(block1[0]!.status).toBe(status);
      expect([201, 202]).toContain(block1[1]!.status);
    });

    it('Should refuse a redirect to a host outside the allowlist without contacting it', async () => {
      const { receipt } = await relay3({ blocks: { 0: { answers: [{ redirectTo: 'https://evil.example/steal' }] } } });
      expect(receipt).toMatchObject({ status: 'failed', blockNum: 0, reason: { code: 'UPLOAD_TARGET_REFUSED' } });
      expect(receipt.reason?.message).toMatch(/evil\.example is not in the allowlist/);
    });

    it('Should stop after 3 redirect hops', async () => {
      const gameClipId = 'loop';
      const hop = { redirectTo: `/moved/clips/${gameClipId}` };
      const { receipt } = await relay3({ blocks: { 0: { answers: [hop, hop, hop, hop] } } }, { gameClipId });
      expect(receipt).toMatchObject({ status: 'failed', blockNum: 0, reason: { code: 'TOO_MANY_REDIRECTS' } });
    });

    it('Should refresh the token once after a 401 and commit in the same delivery', async () => {
      tokenCalls.length = 0;
      const { receipt, stats } = await relay3({ blocks: { 0: { answers: [{ status: 401 }] } } });
      expect(receipt).toMatchObject({ status: 'committed' });
      expect(stats.putsByBlock.get(0)).toBe(2);
      expect(tokenCalls.filter((call) => call.forceFetch)).toHaveLength(1);
    });

    it('Should end the clip TOKEN_REJECTED at once when the refreshed token is refused too (2 PUTs, no redelivery)', async () => {
      const { receipt, stats } = await relay3({ blocks: { 2: { answers: [{ status: 401 }, { status: 401 }] } } });
      expect(receipt).toMatchObject({ status: 'failed', blockNum: 2, attempts: 1, reason: { code: 'TOKEN_REJECTED' } });
      expect(stats.putsByBlock.get(2)).toBe(2);
    });
  });

  describe('ambiguity, vanished clips, dead letters and duplicates', () => {
    it('Should record unconfirmed when the commit answer is lost and the retry gets 409', async () => {
      const { receipt, body, session } = await relay3({ blocks: { [SINGLE_PUT_BLOCK]: { answers: [{ drop: true, processFirst: true }] } }, afterCommit: 409 }, { blocks: undefined });
      expect(receipt).toMatchObject({ status: 'unconfirmed', attempts: 2, reason: { code: 'COMMIT_UNCONFIRMED' }, answer: { status: 409 } });
      expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
    });

    it('Should record committed when the commit answer is lost and the retry gets 201', async () => {
      const { receipt } = await relay3({ blocks: { [SINGLE_PUT_BLOCK]: { answers: [{ drop: true, processFirst: true }] } }, afterCommit: 201 }, { blocks: undefined });
      expect(receipt).toMatchObject({ status: 'committed', attempts: 2 });
    });

    it('Should fail with CLIP_MISSING when the clip vanishes between attempts', async () => {
      const { receipt } = await relay3(
        { blocks: { [SINGLE_PUT_BLOCK]: { answers: [{ status: 503, retryAfter: '2' }] } } },
        {
          blocks: undefined,
          afterPut: async (key) => {
            const deadline = Date.now() + 10_000;
            while (!relay.emulator.requests.some((r) => r.status === 503 && r.blockNum === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
            await relay.stack.s3.send(new DeleteS3ObjectCommand({ Bucket: relay.stack.bucket, Key: key }));
          },
        },
      );
      expect(receipt).toMatchObject({ status: 'failed', reason: { code: 'CLIP_MISSING' } });
    });

    it('Should turn a block that reached the DLQ into a failed receipt', async () => {
      const key = 'incoming/dead-lettered.mp4';
      const message = oneBlockMessage(relay.stack.bucket, key, 'http://127.0.0.1:9/clips/x');
      await relay.stack.sqs.send(new SendMessageCommand({ QueueUrl: relay.stack.queues.blocksDlq.url, MessageBody: JSON.stringify(message) }));
      const receipt = await relay.stack.waitForReceipt(key, { timeoutMs: 15_000 });
      expect(receipt).toMatchObject({ status: 'failed', blockNum: 0, reason: { code: 'DEAD_LETTERED' } });
    });

    it('Should keep one committed receipt when the S3 event is delivered again, without PUTting again', async () => {
      const { key, body, receipt, session, stats } = await relay3({});
      expect(receipt.status).toBe('committed');
      const putsBefore = stats.puts;
      expect(putsBefore).toBe(3);
      const event = s3ObjectCreatedEvent({ bucket: relay.stack.bucket, key, size: body.length, eTag: receipt.etag });
      await relay.stack.handlers.splitter(event, createLambdaContext({ functionName: 'splitter', timeoutSeconds: 30 }));
      await waitForEmptyBlocksQueue();
      expect(await relay.stack.readReceipt(key)).toStrictEqual(receipt);
      expect(relay.emulator.stats(session.uploadId).puts).toBe(putsBefore);
    });

    it('Should upgrade a failed receipt to committed after a redrive', async () => {
      const { key, body, receipt, session } = await relay3({ blocks: { 0: { answers: [{ status: 400 }] } } });
      expect(receipt.status).toBe('failed');
      const event = s3ObjectCreatedEvent({ bucket: relay.stack.bucket, key, size: body.length, eTag: receipt.etag });
      await relay.stack.handlers.splitter(event, createLambdaContext({ functionName: 'splitter', timeoutSeconds: 30 }));
      const deadline = Date.now() + 20_000;
      let upgraded = await relay.stack.readReceipt(key);
      while (upgraded?.status !== 'committed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        upgraded = await relay.stack.readReceipt(key);
      }
      expect(upgraded).toMatchObject({ status: 'committed', supersedes: [{ status: 'failed', reason: { code: 'SERVICE_REJECTED' } }] });
      expect(relay.emulator.committed(session.uploadId)?.equals(body)).toBe(true);
    });
  });

  async function waitForEmptyBlocksQueue() {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const counts = relay.stack.queueCounts(relay.stack.queues.blocks);
      if (counts.ready + counts.inflight + counts.delayed === 0) return;
      if (Date.now() > deadline) throw new Error(`blocks queue not empty: ${JSON.stringify(counts)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('Should leave every queue and DLQ empty after all of the above', async () => {
    await waitForEmptyBlocksQueue();
    await new Promise((r) => setTimeout(r, 500));
    for (const queue of Object.values(relay.stack.queues)) {
      expect(relay.stack.queueCounts(queue), queue.name).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    }
    expect(relay.logs.filter((line) => line.includes('test-token-that-must-never-leak'))).toStrictEqual([]);
  });
});
