import { describe, expect, it } from 'vitest';
import { TicketError } from '../../../lib/protocol/errors.ts';
import { parseTicket } from '../../../lib/protocol/ticket.ts';

const base = { 'upload-uri': 'https://gameclipstransfer.xboxlive.com/clips/1', 'upload-id': 'a+b/c==' };

describe('Function: parseTicket', () => {
  it('Should read every field', () => {
    expect(parseTicket({ ...base, 'expected-blocks': '10', 'game-clip-id': 'gc-1', 'token-ref': 'user_1' })).toStrictEqual({
      uploadUri: base['upload-uri'],
      uploadId: 'a+b/c==',
      expectedBlocks: 10,
      gameClipId: 'gc-1',
      tokenRef: 'user_1',
    });
  });

  it('Should leave optional fields out when absent', () => {
    expect(parseTicket(base)).toStrictEqual({ uploadUri: base['upload-uri'], uploadId: 'a+b/c==' });
  });

  it.each([
    ['no metadata', undefined, /upload-uri/],
    ['missing upload-id', { 'upload-uri': base['upload-uri'] }, /upload-id/],
    ['empty upload-uri', { ...base, 'upload-uri': '' }, /upload-uri/],
    ['oversized upload-id', { ...base, 'upload-id': 'x'.repeat(1025) }, /upload-id/],
    ['CR/LF in upload-id', { ...base, 'upload-id': 'a\r\nX-Evil: 1' }, /control characters/],
    ['zero expected-blocks', { ...base, 'expected-blocks': '0' }, /expected-blocks/],
    ['negative expected-blocks', { ...base, 'expected-blocks': '-3' }, /expected-blocks/],
    ['non-numeric expected-blocks', { ...base, 'expected-blocks': 'ten' }, /expected-blocks/],
    ['expected-blocks over 2^32-1', { ...base, 'expected-blocks': '4294967296' }, /over 4294967295/],
    ['token-ref climbing out', { ...base, 'token-ref': '../other' }, /token-ref/],
    ['game-clip-id with spaces', { ...base, 'game-clip-id': 'a b' }, /game-clip-id/],
  ])('Should refuse %s', (_name, metadata, message) => {
    const act = () => parseTicket(metadata as Record<string, string> | undefined);
    expect(act).toThrow(TicketError);
    expect(act).toThrow(message);
  });

  it.each([
    ['no metadata', undefined, 'metadata upload-uri is missing; metadata upload-id is missing'],
    ['missing upload-id', { 'upload-uri': base['upload-uri'] }, 'metadata upload-id is missing'],
    ['empty upload-uri', { ...base, 'upload-uri': '' }, 'metadata upload-uri is empty'],
    ['oversized upload-id', { ...base, 'upload-id': 'x'.repeat(1025) }, 'metadata upload-id is longer than 1024 characters'],
    ['CR/LF in upload-id', { ...base, 'upload-id': 'a\r\nX-Evil: 1' }, 'metadata upload-id has control characters'],
    ['non-numeric expected-blocks', { ...base, 'expected-blocks': 'ten' }, 'metadata expected-blocks must be a whole number from 1 to 4294967295'],
    ['expected-blocks over 2^32-1', { ...base, 'expected-blocks': '4294967296' }, 'metadata expected-blocks is 4294967296, over 4294967295'],
    ['token-ref climbing out', { ...base, 'token-ref': '../other' }, 'metadata token-ref must be 1-128 letters, digits, ".", "_" or "-"'],
  ])('Should say what is wrong with %s as a person would', (_name, metadata, message) => {
    expect(() => parseTicket(metadata as Record<string, string> | undefined)).toThrow(new TicketError(message));
  });
});
