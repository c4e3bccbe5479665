// The copier baseline: what any S3 -> transfer-service copy has to do, and nothing the relay adds
// (no SQS, splitter or finalizer): ranged GETs of each planned block from S3, with the same
// client, store and If-Match as the fan-out, each streamed into the same undici PUT, the same
// number in flight as the relay's fan-out environments together.
import { createAwsClients } from '../lib/aws/clients.ts';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import type { ClipRef } from '../lib/protocol/messages.ts';
import { prepareBlockUpload } from './block-uploader.ts';

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
  const upload = prepareBlockUpload({
    ...input,
    label: 'copier',
    fileSize: input.clip.size,
    openBody: (block) => clips.openRange(input.clip, block.start, block.end),
  });
  return async function copy() {
    try {
      return await upload();
    } finally {
      s3.destroy();
    }
  };
}
