// The baseline: a direct parallel uploader, the way a team would write one without a relay:
// the same file from disk, the same PUT (undici, same agent settings), the same concurrency.
import { createReadStream } from 'node:fs';
import { prepareBlockUpload } from './block-uploader.ts';

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
  const upload = prepareBlockUpload({
    ...input,
    label: 'direct upload',
    fileSize: input.size,
    maxBlockBytes: 2_097_152,
    openBody: (block) => createReadStream(input.file, { start: block.start, end: block.end - 1 }),
  });
  return upload();
}
