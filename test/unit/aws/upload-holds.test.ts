import { describe, expect, it } from 'vitest';
import { shareHoldReads, type UploadHolds } from '../../../lib/aws/upload-holds.ts';
import type { UploadHold } from '../../../lib/protocol/upload-hold.ts';

/** Holds whose reads answer only when the test says, counting each read. */
function gatedHolds() {
  const reads: string[] = [];
  const pending: Array<(hold: UploadHold | undefined) => void> = [];
  const holds: UploadHolds = {
    read: (bucket, clipKey) => {
      reads.push(`${bucket}/${clipKey}`);
      return new Promise((resolve) => pending.push(resolve));
    },
    hold: async () => {
      throw new Error('not used');
    },
  };
  return { holds, reads, answerAll: (hold: UploadHold | undefined) => pending.splice(0).forEach((resolve) => resolve(hold)) };
}

const hold: UploadHold = { v: 1, uploadIdHash: 'abc', since: 1_000, until: 4_000 };

describe('Function: shareHoldReads', () => {
  it('Should give blocks that check a clip while its read is on its way that one read', async () => {
    const gated = gatedHolds();
    const shared = shareHoldReads(gated.holds);

    const checks = [shared.read('b', 'incoming/a'), shared.read('b', 'incoming/a'), shared.read('b', 'incoming/other')];
    gated.answerAll(hold);

    expect(await Promise.all(checks)).toStrictEqual([hold, hold, hold]);
    expect(gated.reads).toStrictEqual(['b/incoming/a', 'b/incoming/other']);
  });

  it('Should read afresh once the earlier read has answered (a 429 elsewhere may have set a hold since)', async () => {
    const gated = gatedHolds();
    const shared = shareHoldReads(gated.holds);

    const first = shared.read('b', 'incoming/a');
    gated.answerAll(undefined);
    await expect(first).resolves.toBeUndefined();
    const second = shared.read('b', 'incoming/a');
    gated.answerAll(hold);

    await expect(second).resolves.toStrictEqual(hold);
    expect(gated.reads).toStrictEqual(['b/incoming/a', 'b/incoming/a']);
  });
});
