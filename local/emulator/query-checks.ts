import { errorReply, type Reply } from './reply.ts';

/** Outcome of reading one query parameter: its value, or the rejection. */
export type QueryCheck<T> = { value: T } | { reply: Reply };

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Reads the required, single `uploadId` parameter (already percent-decoded). */
export function readUploadId(query: URLSearchParams): QueryCheck<string> {
  const values = query.getAll('uploadId');
  if (values.length === 0 || values[0] === '') {
    return { reply: errorReply(400, 'MissingUploadId', 'The uploadId query parameter is required.') };
  }
  if (values.length > 1) {
    return { reply: errorReply(400, 'InvalidUploadId', 'uploadId must be given once.') };
  }
  return { value: values[0] as string };
}

/**
 * Reads `blockNum` against the session: required, plain decimal (no sign, no leading zeros) and
 * in `0 .. expectedBlocks-1` when the session has expectedBlocks; absent otherwise (the value is
 * then undefined: a single-PUT upload).
 */
export function readBlockNum(
  query: URLSearchParams,
  expectedBlocks: number | undefined,
): QueryCheck<number | undefined> {
  const values = query.getAll('blockNum');
  if (expectedBlocks === undefined) {
    return values.length === 0
      ? { value: undefined }
      : {
          reply: errorReply(
            400,
            'UnexpectedBlockNum',
            'This upload has no expectedBlocks: send the whole file in one PUT without blockNum.',
          ),
        };
  }
  if (values.length === 0) {
    return { reply: errorReply(400, 'MissingBlockNum', 'The blockNum query parameter is required.') };
  }
  const raw = values[0] as string;
  if (values.length > 1 || !DECIMAL.test(raw)) {
    return { reply: errorReply(400, 'InvalidBlockNum', 'blockNum must be one unsigned decimal integer.') };
  }
  const blockNum = Number(raw);
  if (blockNum >= expectedBlocks) {
    return {
      reply: errorReply(400, 'InvalidBlockNum', `blockNum must be in 0..${expectedBlocks - 1}.`),
    };
  }
  return { value: blockNum };
}
