// The copier baseline: what any S3 -> transfer-service copy has to do, and nothing the relay adds
// (no SQS, splitter or finalizer): ranged GETs of each planned block from S3, with the same
// client, store and If-Match as the fan-out, each streamed into the same undici PUT, the same
// number in flight as the relay's fan-out environments together.
import { createAwsClients } from '../lib/aws/clients.ts';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import { putBlock } from '../lib/http/put-block.ts';
import { createUploadAgent } from '../lib/http/http.ts';
import { planBlocks } from '../lib/protocol/block-plan.ts';
import type { ClipRef } from '../lib/protocol/messages.ts';
import { blockUrl } from '../lib/protocol/upload-target.ts';
import { createLimiter } from '../lib/runtime/concurrency.ts';

export interface CopyInput {
  endpoint: string;
  region: string;
  clip: ClipRef;
  maxBlockBytes: number;
  uploadUri: string;
  uploadId: string;
  expectedBlocks: number;
  authorization: string;
  concurrency: number;
}

/**
 * Builds the copier's clients (as a fan-out environment has built its own before its first block)
 * and returns the copy: block by block, `concurrency` blocks at once, resolving to the elapsed ms.
 */
export function prepareCopy(input: CopyInput): () => Promise<number> {
  const { s3 } = createAwsClients({ region: input.region, endpoint: input.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const clips = s3ClipStore(s3);
  const plan = planBlocks({ fileSize: input.clip.size, expectedBlocks: input.expectedBlocks, maxBlockBytes: input.maxBlockBytes });
  const dispatcher = createUploadAgent({ putTimeoutMs: 30_000, connections: input.concurrency });
  const limited = createLimiter(input.concurrency);
  return async function copy() {
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
              body: await clips.openRange(input.clip, block.start, block.end),
              contentLength: block.end - block.start,
            });
            if (answer.kind !== 'response' || (answer.status !== 202 && answer.status !== 201)) {
              throw new Error(`copier: block ${block.blockNum} got ${JSON.stringify(answer)}`);
            }
          }),
        ),
      );
      return performance.now() - started;
    } finally {
      await dispatcher.close();
      s3.destroy();
    }
  };
}
