import { describe, expect, it } from 'vitest';
import { MessageError, MessageTooNewError, RetryLaterError } from '../../../lib/protocol/errors.ts';
import { oneBlockMessage } from '../../helpers/block-message.ts';
import { BLOCK_MESSAGE_VERSION, parseBlockMessage, parseOutcomeMessage, salvageClipRef, type BlockMessage, type OutcomeMessage } from '../../../lib/protocol/messages.ts';

const clip = { bucket: 'clips', key: 'incoming/a.mp4', etag: 'e1', size: 10 };
const block: BlockMessage = oneBlockMessage(clip.bucket, clip.key, 'https://a.xboxlive.com/clips/1', {
  clip,
  ticket: { uploadId: 'a+b/c==', expectedBlocks: 2, tokenRef: 'user_1' },
  blockSize: 5,
  blockNum: 1,
  start: 5,
});

describe('Function: parseBlockMessage', () => {
  it('Should read back a block message as the splitter writes it', () => {
    expect(parseBlockMessage(JSON.stringify(block))).toStrictEqual(block);
  });

  it('Should lift a version-1 message (ticket fields at the top, as still queued after a deploy) to the current version', () => {
    const { ticket, ...rest } = block;
    expect(parseBlockMessage(JSON.stringify({ ...rest, ...ticket, v: 1 }))).toStrictEqual(block);
  });

  it('Should leave absent fields absent when lifting a version-1 single-PUT message', () => {
    const v1 = { v: 1, clip, uploadUri: 'https://a.xboxlive.com/clips/1', uploadId: 'id', blockSize: 10, start: 0, end: 10, droppedAt: 'd', plannedAt: 'p' };
    expect(parseBlockMessage(JSON.stringify(v1))).toStrictEqual({
      v: BLOCK_MESSAGE_VERSION,
      clip,
      ticket: { uploadUri: 'https://a.xboxlive.com/clips/1', uploadId: 'id' },
      blockSize: 10,
      start: 0,
      end: 10,
      droppedAt: 'd',
      plannedAt: 'p',
    });
  });

  it.each<[name: string, body: string, problem: RegExp]>([
    ['not JSON', '{"v":2', /^message body is not JSON$/],
    ['an unknown version below 1 (v: 0)', JSON.stringify({ ...block, v: 0 }), /^block message \(version 2\): .*\bv\b/],
    ['a version that is not a number (v: "3")', JSON.stringify({ ...block, v: '3' }), /^block message \(version 2\): .*\bv\b/],
    ['a ticket with CR/LF in its uploadId', JSON.stringify({ ...block, ticket: { ...block.ticket, uploadId: 'a\r\nX: 1' } }), /control characters/],
    ['an unknown ticket field', JSON.stringify({ ...block, ticket: { ...block.ticket, authorization: 'XBL3.0 x=1;t' } }), /authorization/],
    ['ticket fields at the top of a version-2 message', JSON.stringify({ ...block, uploadId: 'id' }), /uploadId/],
    ['a version-1 message without its uploadUri', JSON.stringify({ v: 1, clip, uploadId: 'id', blockSize: 10, start: 0, end: 10, droppedAt: 'd', plannedAt: 'p' }), /^block message \(version 1\): .*uploadUri/],
    ['a range past the clip', JSON.stringify({ ...block, end: 11 }), /range \[5, 11\) is outside the 10-byte clip/],
    ['an empty range', JSON.stringify({ ...block, start: 10 }), /range \[10, 10\) is outside the 10-byte clip/],
    ['a blockNum past 2^32 - 1', JSON.stringify({ ...block, blockNum: 2 ** 32 }), /blockNum/],
  ])('Should refuse %s with a MessageError naming the problem', (_name, body, problem) => {
    const act = () => parseBlockMessage(body);
    expect(act).toThrow(MessageError);
    expect(act).toThrow(problem);
  });
});

describe('Function: parseBlockMessage, a message newer than this build', () => {
  it.each([3, 4.5, 1000])('Should report version %s as newer than this build, to retry later, not as invalid', (v) => {
    const act = () => parseBlockMessage(JSON.stringify({ ...block, v, ticket: { nestedDifferently: true } }));
    expect(act).toThrow(MessageTooNewError);
    expect(act).toThrow(RetryLaterError);
    expect(act).not.toThrow(MessageError);
    expect(act).toThrow(`block message version ${v} is newer than this build (it reads versions 1 to 2): retry later`);
  });
});

describe('Function: salvageClipRef', () => {
  it.each<[name: string, body: string, expected: unknown]>([
    ['an intact clip in a broken message', JSON.stringify({ v: 9, clip }), clip],
    ['no clip', JSON.stringify({ v: 2 }), undefined],
    ['a clip with a string size', JSON.stringify({ clip: { ...clip, size: '10' } }), undefined],
    ['JSON null', 'null', undefined],
    ['not JSON', '{"clip":', undefined],
  ])('Should salvage %s as %j', (_name, body, expected) => {
    expect(salvageClipRef(body)).toStrictEqual(expected);
  });
});

describe('Function: parseOutcomeMessage', () => {
  const outcome: OutcomeMessage = {
    v: 1,
    status: 'failed',
    clip,
    uploadUri: 'https://a.xboxlive.com/clips/1',
    blockNum: 1,
    attempts: 8,
    reason: { code: 'RETRIES_EXHAUSTED', message: 'gave up' },
    answer: { status: 503 },
    at: '2026-11-25T10:05:00.000Z',
  };

  it('Should read back an outcome as the fan-out writes it', () => {
    expect(parseOutcomeMessage(JSON.stringify(outcome))).toStrictEqual(outcome);
  });

  it('Should read a reason code a newer build added, so an older finalizer still records the clip', () => {
    const newer = { ...outcome, reason: { code: 'SOMETHING_NEWER', message: 'x' } };
    expect(parseOutcomeMessage(JSON.stringify(newer))).toStrictEqual(newer);
  });

  it('Should ask for redelivery, not drop, an outcome of a newer version', () => {
    const act = () => parseOutcomeMessage(JSON.stringify({ ...outcome, v: 2 }));
    expect(act).toThrow(MessageTooNewError);
    expect(act).toThrow(RetryLaterError);
    expect(act).toThrow(/outcome message version 2 is newer than this build \(it reads version 1\): retry later/);
    expect(act).not.toThrow(MessageError);
  });

  it.each<[name: string, value: unknown, problem: RegExp]>([
    ['an unknown status', { ...outcome, status: 'done' }, /status/],
    ['a reason code that is no code', { ...outcome, reason: { code: 'oops, lower case', message: 'x' } }, /failure code.*reason\.code/],
    ['version 0', { ...outcome, v: 0 }, /\bv\b/],
    ['an uploadId', { ...outcome, uploadId: 'secret' }, /uploadId/],
  ])('Should refuse %s', (_name, value, problem) => {
    const act = () => parseOutcomeMessage(JSON.stringify(value));
    expect(act).toThrow(MessageError);
    expect(act).toThrow(problem);
  });
});
