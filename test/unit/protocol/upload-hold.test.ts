import { describe, expect, it } from 'vitest';
import { heldForMs, holdKey, nextHold, parseHold, type UploadHold } from '../../../lib/protocol/upload-hold.ts';
import { receiptKey } from '../../../lib/protocol/receipt.ts';

const hold = (since: number, until: number, uploadIdHash = 's1'): UploadHold => ({ v: 1, uploadIdHash, since, until });

describe('Function: heldForMs', () => {
  it.each([
    ['no hold', undefined, 's1', 1000, undefined],
    ['a hold of this session', hold(500, 4000), 's1', 1000, 3000],
    ['a hold that ended', hold(500, 1000), 's1', 1000, undefined],
    ['a hold of another session (a retake)', hold(500, 4000, 's0'), 's1', 1000, undefined],
  ] as const)('Should answer for %s', (_name, stored, session, now, expected) => {
    expect(heldForMs(stored, session, now)).toBe(expected);
  });
});

describe('Function: nextHold', () => {
  it.each([
    ['starts a hold when there is none', undefined, 1000, 3000, hold(1000, 4000)],
    ['extends a shorter hold, keeping when it began', hold(500, 2000), 1000, 3000, hold(500, 4000)],
    ['keeps a longer hold', hold(500, 9000), 1000, 3000, undefined],
    ['starts afresh after an ended hold', hold(100, 900), 1000, 3000, hold(1000, 4000)],
    ['replaces the hold of another session', hold(500, 9000, 's0'), 1000, 3000, hold(1000, 4000)],
  ] as const)('Should: %s', (_name, existing, now, waitMs, expected) => {
    expect(nextHold(existing, 's1', now, waitMs)).toStrictEqual(expected);
  });
});

describe('Function: parseHold and holdKey', () => {
  it('Should read back what it stores and refuse anything else', () => {
    expect(parseHold(JSON.stringify(hold(1, 2)))).toStrictEqual(hold(1, 2));
    for (const body of ['', 'null', '{"v":2,"uploadIdHash":"s","since":1,"until":2}', '{"v":1,"since":1,"until":2}', '[]']) expect(parseHold(body)).toBeUndefined();
  });

  it('Should never be the receipt key of any clip', () => {
    expect(holdKey('receipts/', 'incoming/a.mp4')).toBe(`${receiptKey('receipts/', 'incoming/a.mp4')}.hold`);
    expect(holdKey('receipts/', 'incoming/a.mp4').endsWith('.json')).toBe(false);
  });
});
