import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFauxqs } from 'fauxqs';
import { createAwsClients } from '../../lib/aws/clients.ts';
import type { ClipStore } from '../../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../../lib/aws/queues.ts';
import { parseBlockMessage } from '../../lib/protocol/messages.ts';
import { MAX_CLIP_BYTES } from '../../lib/protocol/block-plan.ts';
import { splitClip } from '../../lib/split/split-clip.ts';
import { ticketMetadata } from '../../lib/protocol/ticket.ts';

type Fauxqs = Awaited<ReturnType<typeof startFauxqs>>;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

describe('Function: splitClip on a 4 GiB - 1 clip', () => {
  let fauxqs: Fauxqs;
  beforeAll(async () => {
    fauxqs = await startFauxqs({ port: 0, logger: false });
  });
  afterAll(async () => fauxqs?.stop());

  it('Should plan 2048 blocks and enqueue them all on real SQS in one call', async () => {
    // Only HeadObject is stood in for: fauxqs cannot hold a 4 GiB object in a test.
    const head: ClipStore['head'] = async () => ({
      size: MAX_CLIP_BYTES,
      etag: 'big-etag',
      metadata: ticketMetadata({ uploadUri: 'https://gameclipstransfer.xboxlive.com/clips/big', uploadId: 'id+/=', expectedBlocks: 2048 }),
    });
    const clips = { head } as ClipStore;
    const blocks = fauxqs.createQueue('blocks-4gib');
    const outcomes = fauxqs.createQueue('outcomes-4gib.fifo', { attributes: { FifoQueue: 'true' } });
    const { sqs } = createAwsClients({ region: 'us-east-1', endpoint: fauxqs.address, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const queues = sqsRelayQueues(sqs, { blocksQueueUrl: blocks.queueUrl, outcomesQueueUrl: outcomes.queueUrl });

    const result = await splitClip(
      { bucket: 'clips', key: 'incoming/huge.mp4', etag: 'big-etag', size: MAX_CLIP_BYTES, eventTime: '2026-11-25T10:00:00.000Z' },
      { clips, queues, config: { incomingPrefix: 'incoming/', maxBlockBytes: 2_097_152, maxSinglePutBytes: MAX_CLIP_BYTES, allowedHosts: ['*.xboxlive.com'] }, logger: silent },
    );

    expect(result).toStrictEqual({ kind: 'enqueued', blocks: 2048 });
    const ready = fauxqs.inspectQueue('blocks-4gib')!.messages.ready.map((m: { body: string }) => parseBlockMessage(m.body));
    expect(ready).toHaveLength(2048);
    const byNum = ready.sort((a, b) => a.blockNum! - b.blockNum!);
    expect(byNum.map((m) => m.blockNum)).toStrictEqual(Array.from({ length: 2048 }, (_, i) => i));
    expect(byNum.at(-1)).toMatchObject({ start: 2047 * 2_097_152, end: MAX_CLIP_BYTES, blockSize: 2_097_152 });
    expect(fauxqs.inspectQueue('outcomes-4gib.fifo')!.messages.ready).toHaveLength(0);
    sqs.destroy();
  });
});
