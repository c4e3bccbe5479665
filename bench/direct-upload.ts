// The baseline: a direct parallel uploader, the way a team would write one without a relay:
// the same file from disk, the same PUT (undici, same agent settings), the same concurrency.
import { createReadStream } from 'node:fs';
import { createLimiter } from '../lib/runtime/concurrency.ts';
import { planBlocks } from '../lib/protocol/block-plan.ts';
import { createUploadAgent } from '../lib/http/http.ts';
import { putBlock } from '../lib/http/put-block.ts';
import { blockUrl } from '../lib/protocol/upload-target.ts';

/** Uploads `file` block by block, `concurrency` PUTs at once; returns the elapsed milliseconds. */
export async function directUpload(input: {
  file: string;
  size: number;
  uploadUri: string;
  uploadId: string;
  expectedBlocks: number;
  authorization: string;
  concurrency: number;
}): Promise<number> {
  const plan = planBlocks({ fileSize: input.size, expectedBlocks: input.expectedBlocks, maxBlockBytes: 2_097_152 });
  const dispatcher = createUploadAgent({ putTimeoutMs: 30_000, connections: input.concurrency });
  const limited = createLimiter(input.concurrency);
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
            body: createReadStream(input.file, { start: block.start, end: block.end - 1 }),
            contentLength: block.end - block.start,
          });
          if (answer.kind !== 'response' || (answer.status !== 202 && answer.status !== 201)) {
            throw new Error(`direct upload: block ${block.blockNum} got ${JSON.stringify(answer)}`);
          }
        }),
      ),
    );
    return performance.now() - started;
  } finally {
    await dispatcher.close();
  }
}
