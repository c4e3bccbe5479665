import { describe, expect, it } from 'vitest';
import type { ClipStore } from '../../../lib/aws/clip-store.ts';
import { recordOutcome, type FinalizerDeps } from '../../../lib/finalize/finalize.ts';
import { ReceiptTooNewError, RetryLaterError } from '../../../lib/protocol/errors.ts';
import type { OutcomeMessage } from '../../../lib/protocol/messages.ts';
import { parseReceipt, receiptFromOutcome } from '../../../lib/protocol/receipt.ts';
import type { MetricName } from '../../../lib/runtime/metrics.ts';

const RECEIPT_KEY = 'receipts/incoming/a.mp4.json';

const outcome = (status: OutcomeMessage['status'], at: string): OutcomeMessage => ({
  v: 1,
  status,
  clip: { bucket: 'clips', key: 'incoming/a.mp4', etag: 'e1', size: 10 },
  uploadUri: 'https://a.xboxlive.com/clips/1',
  ...(status === 'failed' && { reason: { code: 'SERVICE_REJECTED' as const, message: 'the transfer service answered 400' } }),
  droppedAt: '2026-11-25T10:00:00.000Z',
  at,
});

/** A one-bucket store that keeps documents with an ETag each and honours the write conditions as S3 does. */
function memoryStore(initial: Record<string, string> = {}) {
  const documents = new Map(Object.entries(initial).map(([key, body], i) => [key, { body, etag: `etag-${i}` }]));
  const writes: Array<{ key: string; condition: unknown }> = [];
  let version = 100;
  const clips: ClipStore = {
    list: async () => [],
    head: async () => undefined,
    openRange: async () => {
      throw new Error('the finalizer reads no clip');
    },
    read: async (_bucket, key) => documents.get(key),
    writeIf: async (_bucket, key, body, condition) => {
      writes.push({ key, condition });
      const current = documents.get(key);
      const holds = 'ifNoneMatch' in condition ? current === undefined : current?.etag === condition.ifMatch;
      if (holds) documents.set(key, { body, etag: `etag-${version++}` });
      return holds;
    },
  };
  return { clips, documents, writes };
}

function recorders() {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
  const log = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const metrics: Array<[MetricName, number]> = [];
  return {
    lines,
    metrics,
    logger: { debug: log('DEBUG'), info: log('INFO'), warn: log('WARN'), error: log('ERROR') },
    recorder: { addMetric: (name: MetricName, _unit: string, value: number) => void metrics.push([name, value]) },
  };
}

function deps(clips: ClipStore): { deps: FinalizerDeps } & ReturnType<typeof recorders> {
  const r = recorders();
  return { ...r, deps: { clips, config: { receiptsPrefix: 'receipts/' }, logger: r.logger, metrics: r.recorder } };
}

describe('Function: recordOutcome', () => {
  it('Should write the first receipt only if none exists yet, and count its status and drop-to-receipt time', async () => {
    const store = memoryStore();
    const { deps: d, metrics } = deps(store.clips);

    await expect(recordOutcome(outcome('committed', '2026-11-25T10:00:04.000Z'), d)).resolves.toBe('written');

    expect(store.writes).toStrictEqual([{ key: RECEIPT_KEY, condition: { ifNoneMatch: '*' } }]);
    expect(parseReceipt(store.documents.get(RECEIPT_KEY)!.body)).toStrictEqual(receiptFromOutcome(outcome('committed', '2026-11-25T10:00:04.000Z')));
    expect(metrics).toStrictEqual([['ClipsCommitted', 1], ['DropToReceipt', 4000]]);
  });

  it('Should keep a committed receipt when a late failure arrives, writing nothing', async () => {
    const committed = receiptFromOutcome(outcome('committed', '2026-11-25T10:00:04.000Z'));
    const store = memoryStore({ [RECEIPT_KEY]: JSON.stringify(committed) });
    const { deps: d, metrics } = deps(store.clips);

    await expect(recordOutcome(outcome('failed', '2026-11-25T10:00:09.000Z'), d)).resolves.toBe('kept');

    expect(store.writes).toStrictEqual([]);
    expect(metrics).toStrictEqual([]);
  });

  it('Should upgrade a failed receipt to committed, conditional on the receipt it read', async () => {
    const store = memoryStore({ [RECEIPT_KEY]: JSON.stringify(receiptFromOutcome(outcome('failed', '2026-11-25T10:00:04.000Z'))) });
    const { deps: d } = deps(store.clips);

    await expect(recordOutcome(outcome('committed', '2026-11-25T10:10:00.000Z'), d)).resolves.toBe('written');

    expect(store.writes).toStrictEqual([{ key: RECEIPT_KEY, condition: { ifMatch: 'etag-0' } }]);
    expect(parseReceipt(store.documents.get(RECEIPT_KEY)!.body).supersedes).toStrictEqual([
      { status: 'failed', decidedAt: '2026-11-25T10:00:04.000Z', reason: { code: 'SERVICE_REJECTED', message: 'the transfer service answered 400' } },
    ]);
  });

  it.each([
    ['truncated JSON', '{"receiptVersion":1,"status":"commi', /^receipt is not JSON: /],
    ['JSON of another shape', JSON.stringify({ hello: 'world' }), /^receipt: /],
    ['a receipt with an unknown status', JSON.stringify({ ...receiptFromOutcome(outcome('committed', 'x')), status: 'done' }), /status/],
  ])('Should log, count and replace a corrupt receipt (%s) instead of failing every delivery of the clip', async (_name, body, problem) => {
    const store = memoryStore({ [RECEIPT_KEY]: body });
    const { deps: d, metrics, lines } = deps(store.clips);

    await expect(recordOutcome(outcome('failed', '2026-11-25T10:00:04.000Z'), d)).resolves.toBe('written');

    // Replaced by the rules as if there were none, but only if it is still the corrupt one read.
    expect(store.writes).toStrictEqual([{ key: RECEIPT_KEY, condition: { ifMatch: 'etag-0' } }]);
    expect(parseReceipt(store.documents.get(RECEIPT_KEY)!.body)).toStrictEqual(receiptFromOutcome(outcome('failed', '2026-11-25T10:00:04.000Z')));
    expect(metrics).toContainEqual(['CorruptReceipts', 1]);
    expect(metrics).toContainEqual(['ClipsFailed', 1]);
    expect(lines.filter((l) => l.level === 'ERROR')).toStrictEqual([
      {
        level: 'ERROR',
        message: 'receipt corrupt: replacing it',
        fields: { clipId: expect.any(String), key: 'incoming/a.mp4', receiptKey: RECEIPT_KEY, reason: { code: 'RECEIPT_INVALID', message: expect.stringMatching(problem) } },
      },
    ]);
  });

  it('Should keep, not replace, a corrupt receipt that still says committed for this version, and count it', async () => {
    const body = JSON.stringify({ ...receiptFromOutcome(outcome('committed', '2026-11-25T10:00:03.000Z')), size: 'big' });
    const store = memoryStore({ [RECEIPT_KEY]: body });
    const { deps: d, metrics, lines } = deps(store.clips);

    await expect(recordOutcome(outcome('failed', '2026-11-25T10:00:04.000Z'), d)).resolves.toBe('kept');

    expect(store.writes).toStrictEqual([]);
    expect(store.documents.get(RECEIPT_KEY)!.body).toBe(body);
    expect(metrics).toStrictEqual([['CorruptReceipts', 1]]);
    expect(lines.filter((l) => l.level === 'ERROR').map((l) => l.message)).toStrictEqual(['receipt corrupt but says committed: kept']);
  });

  it('Should replace a corrupt receipt that says committed for an older version of the key', async () => {
    const body = JSON.stringify({ ...receiptFromOutcome(outcome('committed', '2026-11-25T10:00:03.000Z')), etag: 'e0', size: 'big' });
    const store = memoryStore({ [RECEIPT_KEY]: body });
    const { deps: d } = deps(store.clips);

    await expect(recordOutcome(outcome('failed', '2026-11-25T10:00:04.000Z'), d)).resolves.toBe('written');
    expect(parseReceipt(store.documents.get(RECEIPT_KEY)!.body)).toStrictEqual(receiptFromOutcome(outcome('failed', '2026-11-25T10:00:04.000Z')));
  });

  it('Should leave a newer build\'s receipt alone and ask for redelivery of the outcome', async () => {
    const body = JSON.stringify({ ...receiptFromOutcome(outcome('failed', '2026-11-25T10:00:03.000Z')), receiptVersion: 2 });
    const store = memoryStore({ [RECEIPT_KEY]: body });
    const { deps: d, metrics } = deps(store.clips);

    await expect(recordOutcome(outcome('committed', '2026-11-25T10:00:04.000Z'), d)).rejects.toThrow(ReceiptTooNewError);

    expect(store.writes).toStrictEqual([]);
    expect(metrics).toStrictEqual([]);
  });

  it('Should ask for redelivery when the receipt changed between its read and its write', async () => {
    const store = memoryStore();
    const { clips } = store;
    const racing: ClipStore = { ...clips, read: async () => undefined, writeIf: async () => false };
    const { deps: d, metrics } = deps(racing);

    await expect(recordOutcome(outcome('committed', '2026-11-25T10:00:04.000Z'), d)).rejects.toThrow(RetryLaterError);
    expect(metrics).toStrictEqual([]);
  });
});
