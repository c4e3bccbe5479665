// What both baselines do with a clip's blocks: PUT each (undici, the relay's agent settings),
// `concurrency` at once, every answer checked. They differ only in where a block's bytes come from.
import type { Readable } from 'node:stream';
import { putBlock } from '../lib/http/put-block.ts';
import { createUploadAgent } from '../lib/http/http.ts';
import { planBlocks, type Block } from '../lib/protocol/block-plan.ts';
import { blockUrl } from '../lib/protocol/upload-target.ts';
import { createLimiter } from '../lib/runtime/concurrency.ts';

export interface BlockUploadInput {
  /** Names the uploader in errors. */
  label: string;
  fileSize: number;
  expectedBlocks: number;
  maxBlockBytes: number;
  uploadUri: string;
  uploadId: string;
  authorization: string;
  concurrency: number;
  /** The bytes of one planned block. */
  openBody(block: Block): Readable | Promise<Readable>;
}

/** Plans the blocks and opens the HTTP pool; the returned upload resolves to its elapsed milliseconds. */
export function prepareBlockUpload(input: BlockUploadInput): () => Promise<number> {
  const plan = planBlocks({ fileSize: input.fileSize, expectedBlocks: input.expectedBlocks, maxBlockBytes: input.maxBlockBytes });
  const dispatcher = createUploadAgent({ putTimeoutMs: 30_000, connections: input.concurrency });
  const limited = createLimiter(input.concurrency);
  return async function upload() {
    const started = performance.now();
    try {
      await Promise.all(
        plan.blocks.map((block) =>
          limited(async () => {
            const answer = await putBlock({
              dispatcher,
              url: blockUrl(new URL(input.uploadUri), input.uploadId, block.blockNum),
              authorization: input.authorization,
              serviceVersion: '1',
              body: await input.openBody(block),
              contentLength: block.end - block.start,
            });
            if (answer.kind !== 'response' || (answer.status !== 202 && answer.status !== 201)) {
              throw new Error(`${input.label}: block ${block.blockNum} got ${JSON.stringify(answer)}`);
            }
          }),
        ),
      );
      return performance.now() - started;
    } finally {
      await dispatcher.close();
    }
  };
}
