import { describe, expect, it } from 'vitest';
import { clipEventsFrom, decodeS3EventKey } from '../../lib/s3-event.ts';

const record = (key: string, eventName = 'ObjectCreated:Put') => ({
  eventName,
  eventTime: '2026-11-25T10:00:00.000Z',
  s3: { bucket: { name: 'clips' }, object: { key, size: 3, eTag: 'abc' } },
});

describe('Function: clipEventsFrom', () => {
  it('Should decode keys the way S3 encodes them', () => {
    expect(clipEventsFrom({ Records: [record('incoming/my+clip%2B1/%C3%BC.mp4')] })).toStrictEqual([
      { bucket: 'clips', key: 'incoming/my clip+1/ü.mp4', etag: 'abc', size: 3, eventTime: '2026-11-25T10:00:00.000Z' },
    ]);
  });

  it.each([
    ['a TestEvent', { Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: 'clips' }],
    ['no Records', { hello: 1 }],
    ['a string', 'x'],
    ['null', null],
  ])('Should give nothing for %s', (_name, event) => {
    expect(clipEventsFrom(event)).toStrictEqual([]);
  });

  it.each([
    ['a bad escape', record('incoming/%E0%A4%A'), /not a valid URL-encoded UTF-8 key/],
    ['a non-UTF-8 escape', record('incoming/%FF.mp4'), /not a valid URL-encoded UTF-8 key/],
    ['a delete event', record('incoming/a', 'ObjectRemoved:Delete'), /is not ObjectCreated/],
    ['a record without s3', { eventName: 'ObjectCreated:Put' }, /no s3.bucket/],
  ])('Should mark %s unusable', (_name, rec, problem) => {
    const [result] = clipEventsFrom({ Records: [rec] });
    expect(result).toHaveProperty('problem');
    expect((result as { problem: string }).problem).toMatch(problem);
  });

  it('Should keep "+" meaning space and %2B meaning plus', () => {
    expect(decodeS3EventKey('a+b%2Bc')).toBe('a b+c');
  });
});
