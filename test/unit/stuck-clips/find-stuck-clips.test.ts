import { ListObjectsV2Command, type ListObjectsV2CommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { readReceipts } from '../../../lib/aws/clip-listing.ts';
import { s3ClipStore, type ClipStore } from '../../../lib/aws/clip-store.ts';
import { findStuckClips, MAX_LOGGED_STUCK_CLIPS } from '../../../lib/stuck-clips/find-stuck-clips.ts';
import type { LogFields, RelayLogger } from '../../../lib/runtime/log.ts';
import type { Receipt } from '../../../lib/protocol/receipt.ts';
import { recordingMetrics } from '../../../local/local-metrics.ts';

const NOW = new Date('2026-05-01T12:00:00Z');
const BUCKET = 'clips';

interface FakeObject {
  key: string;
  etag: string;
  ageSeconds: number;
}

/** An S3 client that answers ListObjectsV2 from `objects`, 1000 keys a page, and counts the pages. */
function fakeS3(objects: FakeObject[]) {
  const lists: string[] = [];
  const s3 = {
    async send(command: unknown): Promise<Partial<ListObjectsV2CommandOutput>> {
      if (!(command instanceof ListObjectsV2Command)) throw new Error('unexpected command');
      const { Bucket, Prefix = '', ContinuationToken } = command.input;
      expect(Bucket).toBe(BUCKET);
      lists.push(Prefix);
      const matching = objects.filter((o) => o.key.startsWith(Prefix));
      const start = Number(ContinuationToken ?? 0);
      const page = matching.slice(start, start + 1000);
      const more = start + 1000 < matching.length;
      return {
        Contents: page.map((o) => ({ Key: o.key, ETag: `"${o.etag}"`, Size: 10, LastModified: new Date(NOW.getTime() - o.ageSeconds * 1000) })),
        IsTruncated: more,
        ...(more && { NextContinuationToken: String(start + 1000) }),
      };
    },
  };
  return { s3: s3 as unknown as S3Client, lists };
}

/** A ClipStore that only reads receipts (a string is a raw body), and counts the reads. */
function fakeReceipts(receipts: Record<string, Receipt | string>) {
  const reads: string[] = [];
  const store: Pick<ClipStore, 'read'> = {
    async read(bucket, key) {
      expect(bucket).toBe(BUCKET);
      reads.push(key);
      const receipt = receipts[key];
      if (receipt === undefined) return undefined;
      return { body: typeof receipt === 'string' ? receipt : JSON.stringify(receipt), etag: 'r' };
    },
  };
  return { clips: store as ClipStore, reads };
}

function recordingLogger() {
  const lines: Array<{ level: string; message: string; fields: LogFields }> = [];
  const at = (level: string) => (message: string, ...fields: LogFields[]) => lines.push({ level, message, fields: Object.assign({}, ...fields) });
  const logger: RelayLogger = { debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
  return { logger, lines };
}

const receipt = (key: string, status: Receipt['status'], etag = 'e'): Receipt => ({ receiptVersion: 1, status, bucket: BUCKET, key, etag, size: 10, decidedAt: NOW.toISOString() });

describe('Function: findStuckClips', () => {
  it('Should count every state of the clips old enough to be stuck over all pages, and log the first 100 stuck clips then how many more', async () => {
    const old = Array.from({ length: 1500 }, (_, i) => ({ key: `incoming/c-${String(i).padStart(4, '0')}.bin`, etag: 'e', ageSeconds: 7200 }));
    const objects: FakeObject[] = [
      ...old,
      { key: 'incoming/young.bin', etag: 'e', ageSeconds: 10 },
      // Exactly at the threshold is not past it.
      { key: 'incoming/at-threshold.bin', etag: 'e', ageSeconds: 3600 },
      // A folder placeholder is no clip.
      { key: 'incoming/folder/', etag: 'e', ageSeconds: 7200 },
    ];
    const receipts = {
      'receipts/incoming/c-0000.bin.json': receipt('incoming/c-0000.bin', 'committed'),
      'receipts/incoming/c-0001.bin.json': receipt('incoming/c-0001.bin', 'failed'),
      'receipts/incoming/c-0002.bin.json': receipt('incoming/c-0002.bin', 'unconfirmed'),
      // The receipt of an earlier version: this version has none, so it is stuck.
      'receipts/incoming/c-0003.bin.json': receipt('incoming/c-0003.bin', 'committed', 'older-version'),
      // Young clips are not read, whatever their receipt says.
      'receipts/incoming/young.bin.json': receipt('incoming/young.bin', 'committed'),
    };
    const { s3, lists } = fakeS3(objects);
    const { clips, reads } = fakeReceipts(receipts);
    const { logger, lines } = recordingLogger();
    const metrics = recordingMetrics();

    const result = await findStuckClips({ clips: { ...s3ClipStore(s3), read: clips.read }, bucket: BUCKET, incomingPrefix: 'incoming/', receiptsPrefix: 'receipts/', stuckAfterSeconds: 3600, metrics, logger, now: () => NOW });

    const stuck = old.slice(3).map((o) => o.key);
    expect(result).toStrictEqual({ clips: 1502, committed: 1, failed: 1, unconfirmed: 1, young: 2, unreadableReceipts: 0, stuck });
    expect(lists).toEqual(['incoming/', 'incoming/']);
    // One GET per clip past the threshold; none for the young one or the one exactly at it.
    expect(reads.sort()).toEqual(old.map((o) => `receipts/${o.key}.json`).sort());
    expect(metrics.totals.get('StuckClips')).toStrictEqual({ sum: 1497, count: 1, max: 1497, unit: 'Count' });

    const warnings = lines.filter((l) => l.level === 'WARN');
    expect(warnings).toHaveLength(MAX_LOGGED_STUCK_CLIPS + 1);
    expect(warnings.slice(0, MAX_LOGGED_STUCK_CLIPS).map((l) => l.fields.key)).toEqual(stuck.slice(0, MAX_LOGGED_STUCK_CLIPS));
    expect(warnings[0]).toMatchObject({ message: 'clip stuck: no receipt', fields: { bucket: BUCKET, key: 'incoming/c-0003.bin', size: 10, ageSeconds: 7200, stuckAfterSeconds: 3600 } });
    expect(warnings.at(-1)).toStrictEqual({ level: 'WARN', message: 'more clips stuck, not logged one by one', fields: { notLogged: 1397, stuck: 1497 } });
    expect(lines.filter((l) => l.level === 'INFO')).toStrictEqual([
      {
        level: 'INFO',
        message: 'stuck-clip check done',
        fields: { bucket: BUCKET, prefix: 'incoming/', clips: 1502, committed: 1, failed: 1, unconfirmed: 1, young: 2, unreadableReceipts: 0, stuck: 1497, stuckAfterSeconds: 3600 },
      },
    ]);
  });

  it('Should emit 0 and log no warning when nothing is stuck', async () => {
    const { s3 } = fakeS3([{ key: 'incoming/a.bin', etag: 'e', ageSeconds: 99_999 }]);
    const { clips } = fakeReceipts({ 'receipts/incoming/a.bin.json': receipt('incoming/a.bin', 'committed') });
    const { logger, lines } = recordingLogger();
    const metrics = recordingMetrics();
    const result = await findStuckClips({ clips: { ...s3ClipStore(s3), read: clips.read }, bucket: BUCKET, incomingPrefix: 'incoming/', receiptsPrefix: 'receipts/', stuckAfterSeconds: 3600, metrics, logger, now: () => NOW });
    expect(result).toStrictEqual({ clips: 1, committed: 1, failed: 0, unconfirmed: 0, young: 0, unreadableReceipts: 0, stuck: [] });
    expect(metrics.totals.get('StuckClips')).toStrictEqual({ sum: 0, count: 1, max: 0, unit: 'Count' });
    expect(lines.filter((l) => l.level !== 'INFO')).toEqual([]);
  });

  it('Should read no receipt at all when every clip is younger than the threshold', async () => {
    const { s3 } = fakeS3([
      { key: 'incoming/a.bin', etag: 'e', ageSeconds: 0 },
      { key: 'incoming/b.bin', etag: 'e', ageSeconds: 3599 },
    ]);
    const { clips, reads } = fakeReceipts({ 'receipts/incoming/a.bin.json': receipt('incoming/a.bin', 'committed') });
    const { logger } = recordingLogger();
    const metrics = recordingMetrics();
    const result = await findStuckClips({ clips: { ...s3ClipStore(s3), read: clips.read }, bucket: BUCKET, incomingPrefix: 'incoming/', receiptsPrefix: 'receipts/', stuckAfterSeconds: 3600, metrics, logger, now: () => NOW });
    expect(result).toStrictEqual({ clips: 2, committed: 0, failed: 0, unconfirmed: 0, young: 2, unreadableReceipts: 0, stuck: [] });
    expect(reads).toEqual([]);
    expect(metrics.totals.get('StuckClips')).toStrictEqual({ sum: 0, count: 1, max: 0, unit: 'Count' });
  });

  it('Should log and count unreadable receipts, judge their clips as having none, and carry on with the rest', async () => {
    const { s3 } = fakeS3([
      { key: 'incoming/corrupt.bin', etag: 'e', ageSeconds: 7200 },
      { key: 'incoming/null.bin', etag: 'e', ageSeconds: 7200 },
      { key: 'incoming/good.bin', etag: 'e', ageSeconds: 7200 },
      { key: 'incoming/none.bin', etag: 'e', ageSeconds: 7200 },
    ]);
    const { clips, reads } = fakeReceipts({
      'receipts/incoming/corrupt.bin.json': '{"receiptVersion":1,"status":"commi',
      'receipts/incoming/null.bin.json': 'null',
      'receipts/incoming/good.bin.json': receipt('incoming/good.bin', 'committed'),
    });
    const { logger, lines } = recordingLogger();
    const metrics = recordingMetrics();
    const result = await findStuckClips({ clips: { ...s3ClipStore(s3), read: clips.read }, bucket: BUCKET, incomingPrefix: 'incoming/', receiptsPrefix: 'receipts/', stuckAfterSeconds: 3600, metrics, logger, now: () => NOW });

    expect(result).toStrictEqual({
      clips: 4,
      committed: 1,
      failed: 0,
      unconfirmed: 0,
      young: 0,
      unreadableReceipts: 2,
      stuck: ['incoming/corrupt.bin', 'incoming/none.bin', 'incoming/null.bin'],
    });
    expect(reads).toHaveLength(4);
    expect(metrics.totals.get('StuckClips')).toStrictEqual({ sum: 3, count: 1, max: 3, unit: 'Count' });
    const errors = lines.filter((l) => l.level === 'ERROR').sort((a, b) => String(a.fields.key).localeCompare(String(b.fields.key)));
    expect(errors).toStrictEqual([
      {
        level: 'ERROR',
        message: 'receipt unreadable: clip judged as having none',
        fields: { clipId: expect.any(String), bucket: BUCKET, key: 'incoming/corrupt.bin', receiptKey: 'receipts/incoming/corrupt.bin.json', problem: expect.stringMatching(/^receipt is not JSON: /) },
      },
      {
        level: 'ERROR',
        message: 'receipt unreadable: clip judged as having none',
        fields: { clipId: expect.any(String), bucket: BUCKET, key: 'incoming/null.bin', receiptKey: 'receipts/incoming/null.bin.json', problem: expect.stringMatching(/^receipt: .*expected object, received null/) },
      },
    ]);
    expect(lines.find((l) => l.message === 'stuck-clip check done')?.fields).toMatchObject({ unreadableReceipts: 2, stuck: 3 });
  });
});

describe('Function: readReceipts', () => {
  it('Should read every key it is given, and throw naming an unreadable receipt when no handler is given (clip-relay status)', async () => {
    const { clips } = fakeReceipts({
      'receipts/incoming/a.bin.json': receipt('incoming/a.bin', 'committed'),
      'receipts/incoming/b.bin.json': 'not json',
    });
    await expect(readReceipts(clips, BUCKET, 'receipts/', ['incoming/a.bin'])).resolves.toStrictEqual(new Map([['incoming/a.bin', receipt('incoming/a.bin', 'committed')]]));
    await expect(readReceipts(clips, BUCKET, 'receipts/', ['incoming/a.bin', 'incoming/b.bin'])).rejects.toThrow(
      `receipt s3://${BUCKET}/receipts/incoming/b.bin.json is unreadable: receipt is not JSON: `,
    );
  });

  it('Should hand unreadable receipts to onUnreadable and return the readable ones', async () => {
    const { clips } = fakeReceipts({
      'receipts/incoming/a.bin.json': receipt('incoming/a.bin', 'failed'),
      'receipts/incoming/b.bin.json': '[1, 2]',
    });
    const unreadable: unknown[] = [];
    const receipts = await readReceipts(clips, BUCKET, 'receipts/', ['incoming/a.bin', 'incoming/b.bin', 'incoming/c.bin'], { onUnreadable: (u) => unreadable.push(u) });
    expect([...receipts.keys()]).toEqual(['incoming/a.bin']);
    expect(unreadable).toStrictEqual([{ key: 'incoming/b.bin', receiptKey: 'receipts/incoming/b.bin.json', problem: expect.stringMatching(/^receipt: .*expected object, received array/) }]);
  });
});
