import { describe, expect, it } from 'vitest';
import type { OutcomeMessage } from '../../../lib/protocol/messages.ts';
import { ReceiptError, ReceiptTooNewError, RetryLaterError } from '../../../lib/protocol/errors.ts';
import { claimsCommitted, nextReceipt, parseReceipt, receiptFromOutcome, receiptKey, sameUpload } from '../../../lib/protocol/receipt.ts';

const outcome = (status: OutcomeMessage['status'], at: string, extra: Partial<OutcomeMessage> = {}): OutcomeMessage => ({
  v: 1,
  status,
  clip: { bucket: 'b', key: 'incoming/a.mp4', etag: 'e1', size: 10 },
  uploadUri: 'https://x.xboxlive.com/clips/1',
  at,
  ...extra,
});

describe('Function: nextReceipt', () => {
  it('Should make the first receipt from the first outcome', () => {
    expect(nextReceipt(undefined, outcome('committed', '2026-01-01T00:00:00Z'))).toStrictEqual({
      receiptVersion: 1,
      status: 'committed',
      bucket: 'b',
      key: 'incoming/a.mp4',
      etag: 'e1',
      size: 10,
      uploadUri: 'https://x.xboxlive.com/clips/1',
      decidedAt: '2026-01-01T00:00:00Z',
    });
  });

  it.each([
    ['committed', 'failed'],
    ['committed', 'unconfirmed'],
    ['committed', 'committed'],
    ['failed', 'failed'],
    ['failed', 'unconfirmed'],
    ['unconfirmed', 'failed'],
  ] as const)('Should keep a %s receipt when %s arrives', (before, after) => {
    const existing = receiptFromOutcome(outcome(before, '2026-01-01T00:00:00Z'));
    expect(nextReceipt(existing, outcome(after, '2026-01-01T00:01:00Z'))).toBeUndefined();
  });

  it.each(['failed', 'unconfirmed'] as const)('Should upgrade a %s receipt to committed and keep what it replaced', (before) => {
    const existing = receiptFromOutcome(outcome(before, '2026-01-01T00:00:00Z', { reason: { code: 'SERVICE_REJECTED', message: 'y' } }));
    const next = nextReceipt(existing, outcome('committed', '2026-01-01T00:05:00Z'));
    expect(next?.status).toBe('committed');
    expect(next?.reason).toBeUndefined();
    expect(next?.supersedes).toStrictEqual([{ status: before, decidedAt: '2026-01-01T00:00:00Z', reason: { code: 'SERVICE_REJECTED', message: 'y' } }]);
  });

  it('Should let a later outcome of a new version of the key replace the receipt, and not an older one', () => {
    const existing = receiptFromOutcome(outcome('committed', '2026-01-01T00:00:00Z'));
    const newer = outcome('failed', '2026-01-01T00:01:00Z', { clip: { bucket: 'b', key: 'incoming/a.mp4', etag: 'e2', size: 3 } });
    const older = { ...newer, at: '2025-12-31T00:00:00Z' };
    expect(nextReceipt(existing, newer)?.etag).toBe('e2');
    expect(nextReceipt(existing, older)).toBeUndefined();
  });
});

describe('Function: nextReceipt across versions of a key', () => {
  const version = (etag: string) => ({ bucket: 'b', key: 'incoming/a.mp4', etag, size: 10 });
  it('Should never let a late outcome of an older version replace the newer version\'s receipt', () => {
    const newer = receiptFromOutcome(outcome('committed', '2026-01-01T00:10:00Z', { clip: version('new'), droppedAt: '2026-01-01T00:05:00Z' }));
    const lateOld = outcome('failed', '2026-01-01T00:20:00Z', { clip: version('old'), droppedAt: '2026-01-01T00:00:00Z' });
    expect(nextReceipt(newer, lateOld)).toBeUndefined();
  });

  it('Should let the newer version replace the older version\'s receipt, even when its outcome comes first in time order of decisions', () => {
    const older = receiptFromOutcome(outcome('failed', '2026-01-01T00:30:00Z', { clip: version('old'), droppedAt: '2026-01-01T00:00:00Z' }));
    const newer = outcome('committed', '2026-01-01T00:10:00Z', { clip: version('new'), droppedAt: '2026-01-01T00:05:00Z' });
    expect(nextReceipt(older, newer)?.etag).toBe('new');
  });
});

describe('Function: receiptKey', () => {
  it('Should put receipts under their own prefix', () => {
    expect(receiptKey('receipts/', 'incoming/my clip ü.mp4')).toBe('receipts/incoming/my clip ü.mp4.json');
  });
});

describe('Function: parseReceipt', () => {
  const written = nextReceipt(
    receiptFromOutcome(outcome('failed', '2026-01-01T00:00:00Z', { reason: { code: 'RETRIES_EXHAUSTED', message: 'gave up' }, attempts: 8, droppedAt: '2025-12-31T23:59:00Z' })),
    outcome('committed', '2026-01-01T00:05:00Z', { answer: { status: 201 } }),
  );

  it('Should read back every receipt the rules write, field for field', () => {
    expect(written).toBeDefined();
    expect(parseReceipt(`${JSON.stringify(written, null, 2)}\n`)).toStrictEqual(written);
  });

  it.each<[name: string, body: string, problem: RegExp]>([
    ['truncated JSON', '{"receiptVersion":1,"status":"commi', /^receipt is not JSON: /],
    ['JSON null', 'null', /^receipt: .*expected object/],
    ['a JSON array', '[1,2]', /^receipt: .*expected object/],
    ['no etag', JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'now')), etag: undefined }), /etag/],
    ['an unknown status', JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'now')), status: 'done' }), /status/],
    ['version 0', JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'now')), receiptVersion: 0 }), /receiptVersion/],
    ['a reason code that is no code', JSON.stringify({ ...receiptFromOutcome(outcome('failed', 'now')), reason: { code: 'not a code', message: 'x' } }), /failure code.*reason\.code/],
    ['an unknown field', JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'now')), uploadId: 'secret' }), /uploadId/],
  ])('Should refuse %s with a ReceiptError naming the problem', (_name, body, problem) => {
    const act = () => parseReceipt(body);
    expect(act).toThrow(ReceiptError);
    expect(act).toThrow(problem);
  });
});

describe('Function: parseReceipt across builds (a rollout runs two side by side)', () => {
  it('Should read a reason code a newer build added, as written', () => {
    const failed = { ...receiptFromOutcome(outcome('failed', 'now')), reason: { code: 'SOMETHING_NEWER', message: 'x' } };
    expect(parseReceipt(JSON.stringify(failed)).reason).toStrictEqual({ code: 'SOMETHING_NEWER', message: 'x' });
  });

  it('Should throw ReceiptTooNewError, a RetryLaterError and no ReceiptError, for a newer receipt version', () => {
    const act = () => parseReceipt(JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'now')), receiptVersion: 2, newField: true }));
    expect(act).toThrow(ReceiptTooNewError);
    expect(act).toThrow(RetryLaterError);
    expect(act).toThrow(/receipt version 2 is newer than this build \(it reads version 1\)/);
    expect(act).not.toThrow(ReceiptError);
  });
});

describe('Function: claimsCommitted', () => {
  it.each<[name: string, body: string, claims: boolean]>([
    ['yes for an unreadable receipt that says committed for this version', JSON.stringify({ status: 'committed', etag: 'e1', size: 'big' }), true],
    ['no for one that says committed for another version', JSON.stringify({ status: 'committed', etag: 'e0' }), false],
    ['no for one that says failed', JSON.stringify({ status: 'failed', etag: 'e1' }), false],
    ['no for truncated JSON', '{"status":"committed","etag":"e1"', false],
    ['no for JSON null', 'null', false],
  ])('Should answer %s', (_name, body, claims) => {
    expect(claimsCommitted(body, 'e1')).toBe(claims);
  });
});

describe('Function: nextReceipt with upload sessions (retakes)', () => {
  const first = { uploadIdHash: 'aaaaaaaaaaaa', droppedAt: '2026-01-01T00:00:00Z' };
  const retake = { uploadIdHash: 'bbbbbbbbbbbb', droppedAt: '2026-01-01T00:10:00Z' };

  it.each([
    ['a retake\'s commit replaces a committed receipt, recording it', 'committed', first, 'committed', retake, 'replaced'],
    ['a retake\'s failure replaces a committed receipt', 'committed', first, 'failed', retake, 'replaced'],
    ['a late outcome of the first session leaves the retake\'s receipt', 'committed', retake, 'failed', first, 'kept'],
    ['a duplicate of the same session is kept once', 'committed', first, 'committed', first, 'kept'],
    ['an outcome without a session (before sessions were recorded) of the same drop counts as the same upload', 'committed', first, 'committed', { droppedAt: first.droppedAt }, 'kept'],
  ] as const)('Should decide: %s', (_name, beforeStatus, beforeSession, afterStatus, afterSession, expected) => {
    const existing = receiptFromOutcome(outcome(beforeStatus, '2026-01-01T00:05:00Z', beforeSession));
    const next = nextReceipt(existing, outcome(afterStatus, '2026-01-01T00:15:00Z', afterSession));
    if (expected === 'kept') expect(next).toBeUndefined();
    else {
      expect(next).toMatchObject({ status: afterStatus, uploadIdHash: retake.uploadIdHash });
      expect(next?.supersedes).toStrictEqual([{ status: beforeStatus, decidedAt: '2026-01-01T00:05:00Z', uploadIdHash: first.uploadIdHash }]);
    }
  });

  it('Should let a later drop\'s sessionless failure (a bad ticket, a failed split) replace a committed receipt, recording it', () => {
    const existing = receiptFromOutcome(outcome('committed', '2026-01-01T00:05:00Z', first));
    const badTicket = outcome('failed', '2026-01-01T00:15:00Z', { droppedAt: retake.droppedAt, reason: { code: 'TICKET_INVALID', message: 'metadata upload-id is missing' } });

    expect(nextReceipt(existing, badTicket)).toMatchObject({ status: 'failed', reason: { code: 'TICKET_INVALID' }, supersedes: [{ status: 'committed', uploadIdHash: first.uploadIdHash }] });
    // The same drop's duplicate event changes nothing.
    expect(nextReceipt(existing, outcome('failed', '2026-01-01T00:15:00Z', { droppedAt: first.droppedAt, reason: { code: 'SPLIT_FAILED', message: 'x' } }))).toBeUndefined();
  });

  it.each([
    [{ etag: 'e1', uploadIdHash: 'a' }, { etag: 'e1', uploadIdHash: 'a' }, true],
    [{ etag: 'e1', uploadIdHash: 'a' }, { etag: 'e1', uploadIdHash: 'b' }, false],
    [{ etag: 'e1', uploadIdHash: 'a' }, { etag: 'e2', uploadIdHash: 'a' }, false],
    [{ etag: 'e1' }, { etag: 'e1', uploadIdHash: 'b' }, true],
    [{ etag: 'e1', droppedAt: 't1' }, { etag: 'e1', uploadIdHash: 'b', droppedAt: 't1' }, true],
    [{ etag: 'e1', uploadIdHash: 'a', droppedAt: 't1' }, { etag: 'e1', droppedAt: 't2' }, false],
    [{ etag: 'e1', droppedAt: 't1' }, { etag: 'e1', uploadIdHash: 'b', droppedAt: 't2' }, false],
  ])('Should tell whether receipt %o is about upload %o: %s', (receipt, upload, same) => {
    expect(sameUpload(receipt, upload)).toBe(same);
  });
});

describe('Function: receiptKey near S3\'s 1024-byte key limit', () => {
  const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
  it.each([
    ['a short key', 'incoming/a.mp4'],
    ['a 1024-byte ASCII key', `incoming/${'a'.repeat(1015)}`],
    ['a key of 340 three-byte characters', `incoming/${'é'.repeat(200)}${'鍵'.repeat(200)}`.slice(0, 340)],
    ['a key just short of the plain limit', `incoming/${'b'.repeat(1024 - 64 - 'receipts/'.length - '.json'.length - 'incoming/'.length)}`],
    ['a key one byte over it', `incoming/${'b'.repeat(1024 - 64 - 'receipts/'.length - '.json'.length - 'incoming/'.length + 1)}`],
  ])('Should give %s a receipt key that S3 takes, with room for the records beside it', (_name, clipKey) => {
    const key = receiptKey('receipts/', clipKey);
    expect(bytes(`${key}.redrive-2026-12-04T16:35:19.123Z.json`)).toBeLessThanOrEqual(1024);
    expect(key.startsWith('receipts/')).toBe(true);
    expect(key.endsWith('.json')).toBe(true);
  });

  it('Should keep short keys readable and give long ones distinct hashed keys', () => {
    expect(receiptKey('receipts/', 'incoming/a.mp4')).toBe('receipts/incoming/a.mp4.json');
    const long = (c: string) => `incoming/${c.repeat(1015)}`;
    expect(receiptKey('receipts/', long('a'))).toMatch(/^receipts\/by-hash\/[0-9a-f]{64}\.json$/);
    expect(receiptKey('receipts/', long('a'))).not.toBe(receiptKey('receipts/', long('b')));
  });
});
