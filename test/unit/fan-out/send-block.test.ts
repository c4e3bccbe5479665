import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClipStore } from '../../../lib/aws/clip-store.ts';
import type { RelayQueues } from '../../../lib/aws/queues.ts';
import { sendBlock, uploadRef, type FanOutDeps } from '../../../lib/fan-out/send-block.ts';
import { createUploadAgent, type UploadDispatcher } from '../../../lib/http/http.ts';
import { clipId, uploadIdHash } from '../../../lib/protocol/correlation.ts';
import { ClipChangedError, RetryLaterError } from '../../../lib/protocol/errors.ts';
import { MAX_REDIRECTS } from '../../../lib/protocol/limits.ts';
import type { BlockMessage, OutcomeMessage } from '../../../lib/protocol/messages.ts';
import { oneBlockMessage } from '../../helpers/block-message.ts';
import { receiptFromOutcome } from '../../../lib/protocol/receipt.ts';

const NOW = Date.parse('2026-11-25T10:00:05Z');

/** What the loopback transfer service saw, and what it answers next (one function per request, the last repeats). */
const service = {
  url: '',
  seen: [] as Array<{ url: string; authorization: string | undefined; body: string }>,
  answers: [] as Array<(res: ServerResponse) => void>,
};
const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  service.seen.push({ url: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks).toString() });
  const answer = service.answers.length > 1 ? service.answers.shift()! : service.answers[0]!;
  answer(res);
});
let dispatcher: UploadDispatcher;

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  service.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dispatcher = createUploadAgent({ putTimeoutMs: 5_000, connections: 2 });
});
afterAll(async () => {
  await dispatcher.close();
  server.close();
  await once(server, 'close');
});

const answer = (status: number, headers: Record<string, string> = {}) => (res: ServerResponse) => void res.writeHead(status, headers).end();

/** Block 1 of 2 (bytes 5-9) of a 10-byte clip, planned at a fixed time, uploading to the loopback service. */
function blockMessage(): BlockMessage {
  return oneBlockMessage('b', 'incoming/a.mp4', `${service.url}/clips/1`, {
    clip: { bucket: 'b', key: 'incoming/a.mp4', etag: 'e', size: 10 },
    ticket: { uploadId: 'id', expectedBlocks: 2, tokenRef: 'user_1' },
    blockSize: 5,
    blockNum: 1,
    start: 5,
    droppedAt: '2026-11-25T10:00:00.000Z',
    plannedAt: '2026-11-25T10:00:01.000Z',
  });
}

/** Collaborators that record what they are asked; the PUTs go to the loopback service. */
function fakes(options: { receipt?: string; answers?: Array<(res: ServerResponse) => void>; openRange?: ClipStore['openRange'] } = {}) {
  service.seen = [];
  service.answers = options.answers ?? [answer(202)];
  const calls = { opened: 0, delays: [] as number[], outcomes: [] as OutcomeMessage[], tokenFetches: [] as Array<boolean | undefined> };
  const clips: ClipStore = {
    list: async () => [],
    head: async () => undefined,
    openRange:
      options.openRange ??
      (async (_clip, start, end) => {
        calls.opened += 1;
        return Readable.from([Buffer.from('0123456789'.slice(start, end))]);
      }),
    read: async () => (options.receipt === undefined ? undefined : { body: options.receipt, etag: 'r' }),
    writeIf: async () => true,
  };
  const queues: RelayQueues = {
    sendBlocks: async () => undefined,
    sendOutcome: async (outcome) => void calls.outcomes.push(outcome),
    delayRedelivery: async (_handle, seconds) => void calls.delays.push(seconds),
  };
  const deps: FanOutDeps = {
    clips,
    queues,
    tokens: {
      authorization: async (_ref, opts) => {
        calls.tokenFetches.push(opts?.forceFetch);
        return opts?.forceFetch ? 'XBL3.0 x=1;fresh' : 'XBL3.0 x=1;stale';
      },
    },
    dispatcher,
    config: { allowedHosts: ['127.0.0.1'], serviceVersion: '1', maxAttempts: 8, backoffBaseMs: 2000, backoffCapMs: 900_000, receiptsPrefix: 'receipts/', defaultTokenRef: 'default' },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    clipBackoff: new Map(),
    now: () => NOW,
    random: () => 0.5,
  };
  return { deps, calls };
}

const delivery = (receiveCount = 1) => ({ receiveCount, receiptHandle: 'h' });

describe('Function: sendBlock', () => {
  it('Should PUT the block bytes with the uploadId and blockNum and report it accepted on a 202', async () => {
    const { deps, calls } = fakes();

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('accepted');

    expect(service.seen).toStrictEqual([{ url: '/clips/1?uploadId=id&blockNum=1', authorization: 'XBL3.0 x=1;stale', body: '56789' }]);
    expect(calls.outcomes).toStrictEqual([]);
  });

  it('Should send the committed outcome on a 201, with the ticket the outcome may keep and never the uploadId or tokenRef', async () => {
    const { deps, calls } = fakes({ answers: [answer(201)] });

    await expect(sendBlock(blockMessage(), delivery(2), deps)).resolves.toBe('committed');

    expect(calls.outcomes).toStrictEqual([
      {
        v: 1,
        status: 'committed',
        clip: blockMessage().clip,
        uploadUri: `${service.url}/clips/1`,
        uploadIdHash: uploadIdHash('id'),
        expectedBlocks: 2,
        blockSize: 5,
        blockNum: 1,
        attempts: 2,
        answer: { status: 201 },
        droppedAt: '2026-11-25T10:00:00.000Z',
        at: new Date(NOW).toISOString(),
      },
    ]);
  });

  it('Should fetch the token again after a 401 and send the block once more with it', async () => {
    const { deps, calls } = fakes({ answers: [answer(401), answer(202)] });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('accepted');

    expect(calls.tokenFetches).toStrictEqual([undefined, true]);
    expect(service.seen.map((s) => s.authorization)).toStrictEqual(['XBL3.0 x=1;stale', 'XBL3.0 x=1;fresh']);
    expect(calls.opened).toBe(2);
  });

  it('Should end the clip TOKEN_REJECTED when the refreshed token is refused too: 2 PUTs, no redelivery, the clip\'s other blocks stop', async () => {
    const { deps, calls } = fakes({ answers: [answer(401)] });
    deps.rejectedClips = new Set();

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('failed');
    await expect(sendBlock({ ...blockMessage(), blockNum: 0, start: 0, end: 5 }, delivery(), deps)).resolves.toBe('skipped');

    expect(service.seen).toHaveLength(2);
    expect(calls.tokenFetches).toStrictEqual([undefined, true]);
    expect(calls.delays).toStrictEqual([]);
    expect(calls.outcomes).toMatchObject([{ status: 'failed', blockNum: 1, attempts: 1, reason: { code: 'TOKEN_REJECTED', message: expect.stringMatching(/401 to the token of token-ref user_1, and again after a refresh$/) } }]);
    expect(JSON.stringify(calls.outcomes)).not.toMatch(/x=1;/);
  });

  it('Should say when the refresh returned the same token', async () => {
    const { deps, calls } = fakes({ answers: [answer(401)] });
    deps.tokens = { authorization: async () => 'XBL3.0 x=1;same' };

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('failed');

    expect(service.seen).toHaveLength(2);
    expect(calls.outcomes[0]?.reason?.message).toMatch(/after a refresh that returned the same token/);
  });

  it('Should not PUT while another invocation holds the upload, and come back when the hold ends', async () => {
    const { deps, calls } = fakes();
    const holds: Array<{ waitMs: number }> = [];
    deps.holds = {
      read: async () => ({ v: 1, uploadIdHash: uploadIdHash('id'), since: NOW - 1000, until: NOW + 4000 }),
      hold: async (_b, _k, hash, now, waitMs) => (holds.push({ waitMs }), { v: 1, uploadIdHash: hash, since: now, until: now + waitMs }),
    };

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(/held for 4000 ms/);

    expect(service.seen).toStrictEqual([]);
    expect(calls.delays).toStrictEqual([4]);
    expect(holds).toStrictEqual([]);
  });

  it('Should PUT under a hold of another session (a retake), and record a hold for every invocation after a 429', async () => {
    const { deps, calls } = fakes({ answers: [answer(429, { 'retry-after': '7' })] });
    const holds: Array<{ hash: string; waitMs: number }> = [];
    deps.holds = {
      read: async () => ({ v: 1, uploadIdHash: uploadIdHash('an-older-session'), since: NOW - 1000, until: NOW + 4000 }),
      hold: async (_b, _k, hash, now, waitMs) => (holds.push({ hash, waitMs }), { v: 1, uploadIdHash: hash, since: now, until: now + waitMs }),
    };

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(/retry in 7000 ms/);

    expect(service.seen).toHaveLength(1);
    expect(holds).toStrictEqual([{ hash: uploadIdHash('id'), waitMs: 7000 }]);
    expect(calls.delays).toStrictEqual([7]);
  });

  it('Should still back off for the Retry-After when the hold cannot be recorded (e.g. AccessDenied), and log why', async () => {
    const { deps, calls } = fakes({ answers: [answer(429, { 'retry-after': '7' })] });
    const errors: Array<{ message: string; fields: unknown }> = [];
    deps.logger = { ...deps.logger, error: (message: string, fields?: unknown) => void errors.push({ message, fields }) };
    deps.holds = {
      read: async () => undefined,
      hold: async () => {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied' });
      },
    };

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(/retry in 7000 ms/);

    expect(calls.delays).toStrictEqual([7]);
    expect(errors).toStrictEqual([{ message: 'upload hold not recorded', fields: expect.objectContaining({ reason: expect.objectContaining({ message: 'Access Denied' }) }) }]);
  });

  it('Should send a block of a later drop when the committed receipt predates sessions (no uploadIdHash), and skip one of the same drop', async () => {
    const legacy = { v: 1, status: 'committed', clip: blockMessage().clip, droppedAt: '2026-11-24T10:00:00.000Z', at: '2026-11-24T10:00:05.000Z' } as const;
    const later = fakes({ receipt: JSON.stringify(receiptFromOutcome(legacy)) });
    await expect(sendBlock(blockMessage(), delivery(), later.deps)).resolves.toBe('accepted');
    expect(service.seen).toHaveLength(1);

    const sameDrop = fakes({ receipt: JSON.stringify(receiptFromOutcome({ ...legacy, droppedAt: blockMessage().droppedAt })) });
    await expect(sendBlock(blockMessage(), delivery(), sameDrop.deps)).resolves.toBe('skipped');
    expect(service.seen).toHaveLength(0);
  });

  it('Should send a block of a retake: the committed receipt of the same bytes is for another session', async () => {
    const committed = { v: 1, status: 'committed', clip: blockMessage().clip, uploadIdHash: uploadIdHash('an-older-session'), at: '2026-11-25T09:00:00.000Z' } as const;
    const { deps } = fakes({ receipt: JSON.stringify(receiptFromOutcome(committed)) });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('accepted');
    expect(service.seen).toHaveLength(1);

    const same = fakes({ receipt: JSON.stringify(receiptFromOutcome({ ...committed, uploadIdHash: uploadIdHash('id') })) });
    await expect(sendBlock(blockMessage(), delivery(), same.deps)).resolves.toBe('skipped');
    expect(service.seen).toHaveLength(0);
  });

  it.each([409, 410])('Should settle a block answered %i on its first delivery once the receipt (read afresh) says the upload committed', async (status) => {
    const { deps, calls } = fakes({ answers: [answer(status)] });
    const committed = receiptFromOutcome({ v: 1, status: 'committed', clip: blockMessage().clip, uploadIdHash: uploadIdHash('id'), at: '2026-11-25T10:00:04.000Z' });
    deps.uncachedClips = { ...deps.clips, read: async () => ({ body: JSON.stringify(committed), etag: 'r2' }) };

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('skipped');

    expect(service.seen).toHaveLength(1);
    expect(calls.outcomes).toStrictEqual([]);
    expect(calls.delays).toStrictEqual([]);
  });

  it('Should settle a 409 after another block of the same invocation got the commit, and still fail a 409 with no sign of a commit', async () => {
    const { deps, calls } = fakes({ answers: [answer(201), answer(409)] });
    deps.committedClips = new Set();

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('committed');
    await expect(sendBlock({ ...blockMessage(), blockNum: 0, start: 0, end: 5 }, delivery(), deps)).resolves.toBe('skipped');
    expect(calls.outcomes.map((outcome) => outcome.status)).toStrictEqual(['committed']);

    const fresh = fakes({ answers: [answer(409)] });
    await expect(sendBlock(blockMessage(), delivery(), fresh.deps)).resolves.toBe('failed');
    expect(fresh.calls.outcomes).toMatchObject([{ status: 'failed', reason: { code: 'SERVICE_REJECTED' } }]);
  });

  it('Should hold the whole clip after a 429, for the Retry-After it was told', async () => {
    const { deps, calls } = fakes({ answers: [answer(429, { 'retry-after': '7' })] });

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(/retry in 7000 ms/);

    expect(calls.delays).toStrictEqual([7]);
    expect(deps.clipBackoff?.get(uploadRef(blockMessage()))).toBe(NOW + 7000);
  });

  it('Should retry a 503 without holding the clip, and fail the block with RETRIES_EXHAUSTED on its last attempt', async () => {
    const first = fakes({ answers: [answer(503)] });
    await expect(sendBlock(blockMessage(), delivery(1), first.deps)).rejects.toThrow(RetryLaterError);
    expect(first.deps.clipBackoff?.size).toBe(0);

    const last = fakes({ answers: [answer(503)] });
    await expect(sendBlock(blockMessage(), delivery(8), last.deps)).resolves.toBe('failed');
    expect(last.calls.outcomes[0]).toMatchObject({ status: 'failed', attempts: 8, reason: { code: 'RETRIES_EXHAUSTED' }, answer: { status: 503 } });
  });

  it("Should fail the block with SERVICE_REJECTED and the answer, with the service's errorCode and errorMessage, on a 400", async () => {
    const { deps, calls } = fakes({
      // The protocol's casing (docs/protocol.md): errorCode, errorMessage.
      answers: [(res) => void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errorCode: 'BadBlock', errorMessage: 'block 1 is larger than blockSize' }))],
    });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('failed');

    expect(calls.outcomes[0]).toMatchObject({
      status: 'failed',
      reason: { code: 'SERVICE_REJECTED' },
      answer: { status: 400, errorCode: 'BadBlock', errorMessage: 'block 1 is larger than blockSize' },
    });
  });

  it('Should end the block unconfirmed when a retried block gets 409', async () => {
    const { deps, calls } = fakes({ answers: [answer(409)] });

    await expect(sendBlock(blockMessage(), delivery(2), deps)).resolves.toBe('unconfirmed');

    expect(calls.outcomes[0]).toMatchObject({ status: 'unconfirmed', reason: { code: 'COMMIT_UNCONFIRMED' } });
  });

  it(`Should follow ${MAX_REDIRECTS} redirects and fail the block with TOO_MANY_REDIRECTS on one more`, async () => {
    const { deps, calls } = fakes({ answers: [answer(307, { location: '/clips/again' })] });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('failed');

    expect(service.seen).toHaveLength(MAX_REDIRECTS + 1);
    expect(calls.outcomes[0]).toMatchObject({ status: 'failed', reason: { code: 'TOO_MANY_REDIRECTS' } });
  });

  it('Should skip a block whose clip was overwritten since it was planned, sending no outcome', async () => {
    const { deps, calls } = fakes({
      openRange: async () => {
        throw new ClipChangedError('CLIP_CHANGED', 'changed');
      },
    });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('skipped');

    expect(calls.outcomes).toStrictEqual([]);
    expect(service.seen).toStrictEqual([]);
  });

  it('Should skip a block whose clip is already committed, without a PUT', async () => {
    const receipt = receiptFromOutcome({ v: 1, status: 'committed', clip: blockMessage().clip, at: '2026-11-25T10:00:03.000Z' });
    const { deps } = fakes({ receipt: JSON.stringify(receipt) });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('skipped');

    expect(service.seen).toStrictEqual([]);
  });

  it('Should send the block when the stored receipt is corrupt, instead of failing on it', async () => {
    const { deps } = fakes({ receipt: '{"receiptVersion":1,"status":"comm' });

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('accepted');

    expect(service.seen).toHaveLength(1);
  });

  it('Should hold a block of a clip that got a 429 in this invocation until the clip may send again, without reading it', async () => {
    const { deps, calls } = fakes();
    deps.clipBackoff = new Map([[uploadRef(blockMessage()), NOW + 7000]]);

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(RetryLaterError);

    expect(calls.delays).toStrictEqual([7]);
    expect(calls.opened).toBe(0);
    expect(calls.outcomes).toStrictEqual([]);
  });

  it('Should not drop a block of a retake (same clip, new session) because the older session\'s token was refused in this invocation', async () => {
    const retake: BlockMessage = { ...blockMessage(), ticket: { ...blockMessage().ticket, uploadId: 'a-new-session' } };
    const { deps, calls } = fakes({ answers: [answer(401), answer(401), answer(202)] });
    deps.rejectedClips = new Set(); // per invocation, as the handler makes it

    await expect(sendBlock(blockMessage(), delivery(), deps)).resolves.toBe('failed');
    expect(calls.outcomes.map((o) => o.reason?.code)).toStrictEqual(['TOKEN_REJECTED']);
    await expect(sendBlock(retake, delivery(), deps)).resolves.toBe('accepted');
    expect(service.seen).toHaveLength(3);
  });

  it('Should not hold a block of a retake for the older session\'s 429 in this invocation', async () => {
    const retake: BlockMessage = { ...blockMessage(), ticket: { ...blockMessage().ticket, uploadId: 'a-new-session' } };
    const { deps, calls } = fakes({ answers: [answer(429, { 'retry-after': '7' }), answer(202)] });

    await expect(sendBlock(blockMessage(), delivery(), deps)).rejects.toThrow(/retry in 7000 ms/);
    await expect(sendBlock(retake, delivery(), deps)).resolves.toBe('accepted');
    expect(calls.delays).toStrictEqual([7]);
  });

  it('Should give a block back untouched once the invocation reached its deadline', async () => {
    const { deps, calls } = fakes();
    const deadline = new AbortController();
    deadline.abort();

    await expect(sendBlock(blockMessage(), { ...delivery(8), signal: deadline.signal }, deps)).rejects.toThrow(/deadline/);

    expect(calls).toStrictEqual({ opened: 0, delays: [], outcomes: [], tokenFetches: [] });
  });
});
