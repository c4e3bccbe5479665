import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../../local/emulator/prng.ts';
import {
  movedClipPath,
  startTransferEmulator,
  type TransferEmulator,
  type UploadSession,
} from '../../../local/emulator/transfer-service.ts';
import { emulatorClient, putUrl, type Answer } from '../../helpers/emulator-client.ts';

// A block takes at most 5 s unless a test says otherwise, so a dropped connection fails the test rather than hanging it.
const { put } = emulatorClient({ authorization: 'XBL3.0 x=1;token', timeoutMs: 5_000 });

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('Function: startTransferEmulator', () => {
  let emulator: TransferEmulator;

  beforeEach(async () => {
    emulator = await startTransferEmulator();
  });

  afterEach(async () => {
    await emulator.close();
  });

  describe('scripted answers', () => {
    it('Should answer a block its scripted statuses in order, then handle it normally', async () => {
      // Prepare
      const session = emulator.openSession({
        expectedBlocks: 2,
        faults: {
          blocks: {
            0: {
              answers: [
                { status: 503, retryAfter: '2' },
                { status: 429, retryAfter: '15', body: { currentRequests: 31, maxRequests: 30 } },
              ],
            },
          },
        },
      });

      // Act
      const first = await put(putUrl(session, 0), Buffer.alloc(10, 1));
      const second = await put(putUrl(session, 0), Buffer.alloc(10, 1));
      const third = await put(putUrl(session, 0), Buffer.alloc(10, 1));

      // Assess
      expect([first.status, first.headers['retry-after'], JSON.parse(first.text)]).toStrictEqual([
        503,
        '2',
        { errorCode: 'InjectedFault', errorMessage: 'Scripted 503 answer.' },
      ]);
      expect([second.status, second.headers['retry-after'], JSON.parse(second.text)]).toStrictEqual([
        429,
        '15',
        { currentRequests: 31, maxRequests: 30 },
      ]);
      expect(third.status).toBe(202);
      expect(emulator.stats(session.uploadId).statuses).toStrictEqual([503, 429, 202]);
    });

    it('Should script a single-PUT upload under key -1', async () => {
      // Prepare
      const session = emulator.openSession({ faults: { blocks: { [-1]: { answers: [{ status: 500 }] } } } });

      // Act
      const first = await put(putUrl(session), Buffer.alloc(10, 1));
      const second = await put(putUrl(session), Buffer.alloc(10, 1));

      // Assess
      expect([first.status, second.status]).toStrictEqual([500, 201]);
    });

    it('Should answer every PUT 410 UploadGone when the session is gone', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2, faults: { gone: true } });

      // Act
      const answers = [await put(putUrl(session, 0), Buffer.alloc(10, 1)), await put(putUrl(session, 1), Buffer.alloc(5, 1))];

      // Assess
      expect(answers.map((answer) => [answer.status, JSON.parse(answer.text).errorCode])).toStrictEqual([
        [410, 'UploadGone'],
        [410, 'UploadGone'],
      ]);
    });
  });

  describe('drops', () => {
    it('Should destroy the socket without answering, then handle the next PUT normally', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1, faults: { blocks: { 0: { answers: [{ drop: true }] } } } });

      // Act
      const dropped = put(putUrl(session, 0), Buffer.alloc(10, 1));
      await expect(dropped).rejects.toThrow();
      const retried = await put(putUrl(session, 0), Buffer.alloc(10, 1));

      // Assess
      expect(retried.status).toBe(201);
      expect(emulator.requests.map(({ status, bytes }) => ({ status, bytes }))).toStrictEqual([
        { status: 0, bytes: 0 },
        { status: 201, bytes: 10 },
      ]);
      expect(emulator.stats(session.uploadId).statuses).toStrictEqual([201]);
    });

    it('Should drop after part of the body without storing the block', async () => {
      // Prepare
      const session = emulator.openSession({
        expectedBlocks: 1,
        faults: { blocks: { 0: { answers: [{ drop: true, afterBytes: 1 }] } } },
      });

      // Act
      await expect(put(putUrl(session, 0), Buffer.alloc(1_000_000, 1))).rejects.toThrow();

      // Assess
      await until(() => emulator.requests.length === 1);
      expect(emulator.requests[0]?.status).toBe(0);
      expect(emulator.requests[0]?.bytes).toBeGreaterThanOrEqual(1);
      expect(emulator.requests[0]?.bytes).toBeLessThan(1_000_000);
      expect(emulator.committed(session.uploadId)).toBeUndefined();
    });

    it('Should commit and then drop with processFirst, losing the 201', async () => {
      // Prepare
      const session = emulator.openSession({
        expectedBlocks: 1,
        faults: { blocks: { 0: { answers: [{ drop: true, processFirst: true }] } }, afterCommit: 409 },
      });

      // Act
      await expect(put(putUrl(session, 0), Buffer.alloc(10, 1))).rejects.toThrow();
      const retried = await put(putUrl(session, 0), Buffer.alloc(10, 1));

      // Assess
      expect(emulator.committed(session.uploadId)).toStrictEqual(Buffer.alloc(10, 1));
      expect(retried.status).toBe(409);
      expect(emulator.stats(session.uploadId).statuses).toStrictEqual([409]);
    });

    it('Should drop every PUT mid-body at dropRate 1', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2, faults: { dropRate: 1, seed: 7 } });

      // Act
      await expect(put(putUrl(session, 0), Buffer.alloc(1_000_000, 1))).rejects.toThrow();

      // Assess
      await until(() => emulator.requests.length === 1);
      expect(emulator.requests[0]?.status).toBe(0);
      expect(emulator.requests[0]?.bytes).toBeGreaterThanOrEqual(500_000);
      expect(emulator.requests[0]?.bytes).toBeLessThan(1_000_000);
    });
  });

  describe('stalls', () => {
    it('Should hold the answer for stallMs, then answer normally', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1, faults: { blocks: { 0: { answers: [{ stallMs: 150 }] } } } });
      const started = Date.now();

      // Act
      const answer = await put(putUrl(session, 0), Buffer.alloc(10, 1));

      // Assess
      expect(answer.status).toBe(201);
      expect(Date.now() - started).toBeGreaterThanOrEqual(145);
    });

    it('Should never answer and store nothing when the client leaves during the stall', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1, faults: { blocks: { 0: { answers: [{ stallMs: 60_000 }] } } } });

      // Act
      await expect(put(putUrl(session, 0), Buffer.alloc(10, 1), { timeoutMs: 100 })).rejects.toMatchObject({ name: 'TimeoutError' });

      // Assess
      await until(() => emulator.requests.length === 1);
      expect(emulator.requests.map(({ status, bytes }) => ({ status, bytes }))).toStrictEqual([{ status: 0, bytes: 10 }]);
      expect(emulator.committed(session.uploadId)).toBeUndefined();
    });

    it('Should commit at once and hold only the answer with processFirst', async () => {
      // Prepare
      const session = emulator.openSession({
        expectedBlocks: 1,
        faults: { blocks: { 0: { answers: [{ stallMs: 60_000, processFirst: true }] } } },
      });

      // Act
      await expect(put(putUrl(session, 0), Buffer.alloc(10, 1), { timeoutMs: 100 })).rejects.toMatchObject({ name: 'TimeoutError' });

      // Assess
      expect(emulator.committed(session.uploadId)).toStrictEqual(Buffer.alloc(10, 1));
    });

    it('Should end a stalled request when the emulator closes', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1, faults: { blocks: { 0: { answers: [{ stallMs: 60_000 }] } } } });
      const pending = put(putUrl(session, 0), Buffer.alloc(10, 1), { timeoutMs: 10_000 });
      await until(() => emulator.stats(session.uploadId).puts === 1);

      // Act
      await emulator.close();

      // Assess
      await expect(pending).rejects.toThrow();
    });
  });

  describe('redirects', () => {
    it('Should answer 307 to the moved path with the same query, and serve the session there', async () => {
      // Prepare
      const session = emulator.openSession({
        expectedBlocks: 1,
        gameClipId: 'clip-r',
        faults: { blocks: { 0: { answers: [{ redirectTo: movedClipPath('clip-r') }] } } },
      });
      const url = putUrl(session, 0);

      // Act
      const redirected = await put(url, Buffer.alloc(10, 1));
      const followed = await put(new URL(redirected.headers.location as string, url).href, Buffer.alloc(10, 1));

      // Assess
      expect(redirected.status).toBe(307);
      expect(redirected.headers.location).toBe(`/moved/clips/clip-r${new URL(url).search}`);
      expect(followed.status).toBe(201);
      expect(emulator.requests.map(({ path, status }) => ({ path, status }))).toStrictEqual([
        { path: '/clips/clip-r', status: 307 },
        { path: '/moved/clips/clip-r', status: 201 },
      ]);
    });

    it('Should answer the given status and Location as is without keepQuery', async () => {
      // Prepare
      const target = 'https://gameclipstransfer.example/elsewhere?uploadId=x';
      const session = emulator.openSession({
        expectedBlocks: 1,
        faults: { blocks: { 0: { answers: [{ redirectTo: target, status: 301, keepQuery: false }] } } },
      });

      // Act
      const answer = await put(putUrl(session, 0), Buffer.alloc(10, 1));

      // Assess
      expect([answer.status, answer.headers.location, answer.text]).toStrictEqual([301, target, '']);
    });
  });

  describe('failureRate', () => {
    it('Should fail the same PUTs with 503 and Retry-After: 0 for the same seed', async () => {
      // Prepare
      const sessions = [0, 1].map(() =>
        emulator.openSession({ expectedBlocks: 1, faults: { failureRate: 0.5, seed: 42 } }),
      );
      const random = mulberry32(42);
      const expected = Array.from({ length: 20 }, () => random() < 0.5);

      // Act
      const answers: Answer[][] = [[], []];
      for (let attempt = 0; attempt < 20; attempt += 1) {
        for (const [index, session] of sessions.entries()) {
          answers[index]?.push(await put(putUrl(session, 0), Buffer.alloc(10, 1)));
        }
      }

      // Assess
      const failed = answers.map((list) => list.map((answer) => answer.status === 503));
      expect(failed[0]).toStrictEqual(expected);
      expect(failed[1]).toStrictEqual(expected);
      expect(expected).toContain(true);
      expect(expected).toContain(false);
      const firstFailure = answers[0]?.find((answer) => answer.status === 503);
      expect(firstFailure?.headers['retry-after']).toBe('0');
      expect(JSON.parse(firstFailure?.text ?? '{}').errorCode).toBe('ServiceUnavailable');
      expect(answers[0]?.filter((answer) => answer.status !== 503).map((answer) => answer.status)).toContain(201);
    });

    it('Should fail every PUT at failureRate 1 and none at 0', async () => {
      // Prepare
      const always = emulator.openSession({ expectedBlocks: 1, faults: { failureRate: 1 } });
      const never = emulator.openSession({ expectedBlocks: 1, faults: { failureRate: 0 } });

      // Act
      const statuses = [
        (await put(putUrl(always, 0), Buffer.alloc(10, 1))).status,
        (await put(putUrl(always, 0), Buffer.alloc(10, 1))).status,
        (await put(putUrl(never, 0), Buffer.alloc(10, 1))).status,
      ];

      // Assess
      expect(statuses).toStrictEqual([503, 503, 201]);
    });

    it('Should refuse a rate outside 0..1', () => {
      // Act
      const opening = (): UploadSession => emulator.openSession({ faults: { failureRate: 1.5 } });

      // Assess
      expect(opening).toThrow(new RangeError('faults.failureRate must be in 0..1, got 1.5'));
    });
  });
});
