import { Agent } from 'undici';
import { describe, expect, it } from 'vitest';
import type { ClipStore } from '../../../lib/aws/clip-store.ts';
import type { RelayQueues } from '../../../lib/aws/queues.ts';
import { clipId } from '../../../lib/protocol/correlation.ts';
import { RetryLaterError } from '../../../lib/protocol/errors.ts';
import type { BlockMessage, OutcomeMessage } from '../../../lib/protocol/messages.ts';
import { sendBlock, type FanOutDeps } from '../../../lib/fan-out/send-block.ts';

const message: BlockMessage = {
  v: 1,
  clip: { bucket: 'b', key: 'incoming/a.mp4', etag: 'e', size: 10 },
  uploadUri: 'https://a.xboxlive.com/clips/1',
  uploadId: 'id',
  expectedBlocks: 2,
  blockSize: 5,
  blockNum: 1,
  start: 5,
  end: 10,
  droppedAt: '2026-11-25T10:00:00.000Z',
  plannedAt: '2026-11-25T10:00:01.000Z',
};

/** Collaborators that record what they are asked and never touch a network. */
function fakes(now: number) {
  const calls = { opened: 0, delays: [] as number[], outcomes: [] as OutcomeMessage[] };
  const clips: ClipStore = {
    head: async () => undefined,
    openRange: async () => {
      calls.opened += 1;
      throw new Error('no block should be read');
    },
    read: async () => undefined,
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
    tokens: { authorization: async () => 'XBL3.0 x=1;t' },
    dispatcher: new Agent(),
    config: { allowedHosts: ['*.xboxlive.com'], serviceVersion: '1', maxAttempts: 8, backoffBaseMs: 2000, backoffCapMs: 900_000, receiptsPrefix: 'receipts/', defaultTokenRef: 'default' },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    now: () => now,
  };
  return { deps, calls };
}

describe('Function: sendBlock', () => {
  it('Should hold a block of a clip that got a 429 in this invocation until the clip may send again, without reading it', async () => {
    const now = Date.parse('2026-11-25T10:00:05Z');
    const { deps, calls } = fakes(now);
    deps.clipBackoff = new Map([[clipId('b', 'incoming/a.mp4'), now + 7000]]);

    await expect(sendBlock(message, { receiveCount: 1, receiptHandle: 'h' }, deps)).rejects.toThrow(RetryLaterError);

    expect(calls.delays).toStrictEqual([7]);
    expect(calls.opened).toBe(0);
    expect(calls.outcomes).toStrictEqual([]);
  });

  it('Should give a block back untouched once the invocation reached its deadline', async () => {
    const { deps, calls } = fakes(Date.now());
    const deadline = new AbortController();
    deadline.abort();

    await expect(sendBlock(message, { receiveCount: 8, receiptHandle: 'h', signal: deadline.signal }, deps)).rejects.toThrow(/deadline/);

    expect(calls).toStrictEqual({ opened: 0, delays: [], outcomes: [] });
  });
});
