import { describe, expect, it } from 'vitest';
import { decodeS3EventKey, readS3Notification, type ClipEvent, type UnusableRecord } from '../../../lib/protocol/s3-event.ts';

const recordsOf = (event: unknown): Array<ClipEvent | UnusableRecord> => {
  const notification = readS3Notification(event);
  if (notification.kind !== 'records') throw new Error(`not records: ${JSON.stringify(notification)}`);
  return notification.records;
};

const record = (key: string, eventName = 'ObjectCreated:Put') => ({
  eventName,
  eventTime: '2026-11-25T10:00:00.000Z',
  s3: { bucket: { name: 'clips' }, object: { key, size: 3, eTag: 'abc' } },
});

describe('Function: readS3Notification', () => {
  it('Should decode keys the way S3 encodes them', () => {
    expect(recordsOf({ Records: [record('incoming/my+clip%2B1/%C3%BC.mp4')] })).toStrictEqual([
      { bucket: 'clips', key: 'incoming/my clip+1/ü.mp4', etag: 'abc', size: 3, eventTime: '2026-11-25T10:00:00.000Z' },
    ]);
  });

  it('Should recognise the s3:TestEvent', () => {
    expect(readS3Notification({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'clips' })).toStrictEqual({ kind: 'test', bucket: 'clips' });
  });

  it.each([
    ['no Records', { hello: 1 }, 'an object with keys [hello]'],
    ['an EventBridge event', { 'detail-type': 'Object Created', source: 'aws.s3' }, 'an object with keys [detail-type, source]'],
    ['a string', 'x', 'string'],
    ['null', null, 'null'],
  ])('Should say what arrived for %s', (_name, event, shape) => {
    expect(readS3Notification(event)).toStrictEqual({ kind: 'not-s3', problem: `event is not an S3 notification (no Records array): ${shape}` });
  });

  it.each([
    ['a bad escape', record('incoming/%E0%A4%A'), /not a valid URL-encoded UTF-8 key/],
    ['a non-UTF-8 escape', record('incoming/%FF.mp4'), /not a valid URL-encoded UTF-8 key/],
    ['a delete event', record('incoming/a', 'ObjectRemoved:Delete'), /is not ObjectCreated/],
    ['a record without s3', { eventName: 'ObjectCreated:Put' }, /no s3.bucket/],
  ])('Should mark %s unusable', (_name, rec, problem) => {
    const [result] = recordsOf({ Records: [rec] });
    expect(result).toHaveProperty('problem');
    expect((result as { problem: string }).problem).toMatch(problem);
  });

  it('Should keep "+" meaning space and %2B meaning plus', () => {
    expect(decodeS3EventKey('a+b%2Bc')).toBe('a b+c');
  });
});
