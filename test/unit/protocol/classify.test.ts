import { describe, expect, it } from 'vitest';
import { classifyAnswer, classifyFailure, parseRetryAfter, type FailureVerdict, type Verdict } from '../../../lib/protocol/classify.ts';
import {
  BlockLayoutError,
  ClipChangedError,
  ClipRelayError,
  ClipSizeError,
  FAILURE_CODES,
  MessageError,
  RetryLaterError,
  TicketError,
  TokenError,
  UploadTargetRefusedError,
} from '../../../lib/protocol/errors.ts';
import type { PutAnswer } from '../../../lib/protocol/put-answer.ts';
import { MAX_REDELIVERY_DELAY_MS } from '../../../lib/protocol/limits.ts';

const now = Date.parse('2026-11-25T10:00:00Z');
const response = (status: number, extra: Partial<Extract<PutAnswer, { kind: 'response' }>> = {}): PutAnswer => ({ kind: 'response', status, ...extra });

describe('Function: classifyAnswer', () => {
  const rows: Array<[string, PutAnswer, boolean, Verdict]> = [
    ['202 accepted', response(202), false, { kind: 'accepted' }],
    ['201 committed', response(201), false, { kind: 'committed' }],
    ['200 committed', response(200), false, { kind: 'committed' }],
    ['201 on a retry', response(201), true, { kind: 'committed' }],
    ['301 with Location', response(301, { location: '/x' }), false, { kind: 'redirect', location: '/x' }],
    ['302 with Location', response(302, { location: '/x' }), false, { kind: 'redirect', location: '/x' }],
    ['307 with Location', response(307, { location: 'https://a.xboxlive.com/y' }), false, { kind: 'redirect', location: 'https://a.xboxlive.com/y' }],
    ['308 with Location', response(308, { location: '/x' }), false, { kind: 'redirect', location: '/x' }],
    ['307 without Location', response(307), false, { kind: 'permanent' }],
    ['401', response(401), false, { kind: 'refresh-token' }],
    ['408', response(408), false, { kind: 'recoverable' }],
    ['429 Retry-After 7', response(429, { retryAfter: '7' }), false, { kind: 'recoverable', retryAfterMs: 7000, holdClip: true }],
    ['429 without Retry-After', response(429), false, { kind: 'recoverable', holdClip: true }],
    ['500', response(500), false, { kind: 'recoverable' }],
    ['502', response(502), false, { kind: 'recoverable' }],
    ['503 Retry-After date', response(503, { retryAfter: 'Wed, 25 Nov 2026 10:00:30 GMT' }), false, { kind: 'recoverable', retryAfterMs: 30_000 }],
    ['504', response(504), false, { kind: 'recoverable' }],
    ['507', response(507), false, { kind: 'recoverable' }],
    ['501', response(501), false, { kind: 'permanent' }],
    ['505', response(505), false, { kind: 'permanent' }],
    ['connection reset', { kind: 'transport', code: 'ECONNRESET', message: 'reset' }, false, { kind: 'recoverable' }],
    ['headers timeout', { kind: 'transport', code: 'UND_ERR_HEADERS_TIMEOUT', message: 't' }, true, { kind: 'recoverable' }],
    ['400', response(400), false, { kind: 'permanent' }],
    ['403', response(403), false, { kind: 'permanent' }],
    ['404', response(404), false, { kind: 'permanent' }],
    ['406', response(406), false, { kind: 'permanent' }],
    ['409 first try', response(409), false, { kind: 'permanent' }],
    ['410 first try', response(410), false, { kind: 'permanent' }],
    ['409 after an unanswered try', response(409), true, { kind: 'ambiguous-after-commit' }],
    ['410 after an unanswered try', response(410), true, { kind: 'ambiguous-after-commit' }],
    ['411', response(411), false, { kind: 'permanent' }],
    ['412', response(412), false, { kind: 'permanent' }],
    ['413', response(413), false, { kind: 'permanent' }],
    ['416', response(416), false, { kind: 'permanent' }],
    ['204 unexpected', response(204), false, { kind: 'permanent' }],
  ];
  it.each(rows)('Should classify %s', (_name, answer, retried, verdict) => {
    expect(classifyAnswer(answer, { retried, now })).toStrictEqual(verdict);
  });
});

describe('Function: classifyAnswer, a 409/410 once the upload is known committed', () => {
  it.each([
    [409, false, true, { kind: 'already-committed' }],
    [410, false, true, { kind: 'already-committed' }],
    [409, true, true, { kind: 'already-committed' }],
    [409, false, false, { kind: 'permanent' }],
    [410, true, false, { kind: 'ambiguous-after-commit' }],
    [403, false, true, { kind: 'permanent' }],
  ] as const)('Should classify %i (retried %s, committed %s)', (status, retried, committed, verdict) => {
    expect(classifyAnswer(response(status), { retried, committed, now })).toStrictEqual(verdict);
  });
});

describe('Function: parseRetryAfter', () => {
  it.each([
    ['0', 0],
    ['120', 120_000],
    [' 5 ', 5000],
    ['999999', MAX_REDELIVERY_DELAY_MS],
    ['Wed, 25 Nov 2026 09:59:00 GMT', 0],
    ['soon', undefined],
    ['-3', undefined],
    [undefined, undefined],
  ])('Should read %j as %j ms', (value, ms) => {
    expect(parseRetryAfter(value, now)).toBe(ms);
  });
});

describe('Function: classifyFailure', () => {
  const rows: Array<[string, unknown, FailureVerdict]> = [
    ['the clip overwritten', new ClipChangedError('CLIP_CHANGED', 'changed'), { kind: 'superseded' }],
    ['the clip gone', new ClipChangedError('CLIP_MISSING', 'gone'), { kind: 'fail', reason: { code: 'CLIP_MISSING', message: 'gone' } }],
    ['no token yet', new TokenError('no token'), { kind: 'retry', message: 'no token' }],
    ['a retry asked for', new RetryLaterError('later'), { kind: 'retry', message: 'later' }],
    ['a refused target', new UploadTargetRefusedError('scheme', 'not https'), { kind: 'fail', reason: { code: 'UPLOAD_TARGET_REFUSED', message: 'not https' } }],
    ['a bad ticket', new TicketError('ticket: upload-id'), { kind: 'fail', reason: { code: 'TICKET_INVALID', message: 'ticket: upload-id' } }],
    ['an impossible layout', new BlockLayoutError('no B'), { kind: 'fail', reason: { code: 'BLOCK_LAYOUT_IMPOSSIBLE', message: 'no B' } }],
    ['a clip too large', new ClipSizeError('too big'), { kind: 'fail', reason: { code: 'CLIP_SIZE_UNSUPPORTED', message: 'too big' } }],
    ['a redirect loop', new ClipRelayError('TOO_MANY_REDIRECTS', 'loop'), { kind: 'fail', reason: { code: 'TOO_MANY_REDIRECTS', message: 'loop' } }],
    ['a bad message', new MessageError('block message: v'), { kind: 'fail', reason: { code: 'MESSAGE_INVALID', message: 'block message: v' } }],
    ['an S3 throttle', Object.assign(new Error('Slow Down'), { name: 'SlowDown' }), { kind: 'retry', message: 'Slow Down' }],
    ['a socket error', Object.assign(new Error('reset'), { code: 'ECONNRESET' }), { kind: 'retry', message: 'reset' }],
    ['a thrown string', 'boom', { kind: 'retry', message: 'boom' }],
  ];
  it.each(rows)('Should classify %s', (_name, error, verdict) => {
    expect(classifyFailure(error)).toStrictEqual(verdict);
  });

  it('Should give every relay error code exactly one verdict, and only RETRY_LATER, TOKEN_UNAVAILABLE and CLIP_CHANGED do not end the clip', () => {
    const notEnding = FAILURE_CODES.filter((code) => classifyFailure(new ClipRelayError(code, code)).kind !== 'fail');
    expect(notEnding.sort()).toStrictEqual(['CLIP_CHANGED', 'RETRY_LATER', 'TOKEN_UNAVAILABLE']);
  });
});

describe('Function: classifyAnswer after a token refresh', () => {
  it.each([false, true])('Should end the clip TOKEN_REJECTED on a 401 to a refreshed token (retried delivery: %s)', (retried) => {
    expect(classifyAnswer(response(401), { retried, tokenRefreshed: true, now })).toStrictEqual({ kind: 'token-rejected' });
  });
});
