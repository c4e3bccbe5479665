/** One ObjectCreated record, decoded: what the splitter acts on. */
export interface ClipEvent {
  bucket: string;
  key: string;
  etag?: string;
  size?: number;
  versionId?: string;
  eventTime: string;
}

/** A record that cannot name a clip, kept so the splitter can log why. */
export interface UnusableRecord {
  problem: string;
}

/**
 * Decodes an S3 notification key: S3 URL-encodes keys in events, with a space as `+`.
 * @returns undefined when the key holds a malformed or non-UTF-8 escape
 */
export function decodeS3EventKey(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * Reads the ObjectCreated records of an S3 event. `s3:TestEvent` (sent when a notification is
 * configured) and other event kinds give no records.
 */
export function clipEventsFrom(event: unknown): Array<ClipEvent | UnusableRecord> {
  if (!isObject(event) || !Array.isArray(event.Records)) return [];
  return event.Records.map((record: unknown): ClipEvent | UnusableRecord => {
    if (!isObject(record) || !isObject(record.s3) || !isObject(record.s3.bucket) || !isObject(record.s3.object)) {
      return { problem: 'record has no s3.bucket / s3.object' };
    }
    if (typeof record.eventName !== 'string' || !record.eventName.startsWith('ObjectCreated:')) {
      return { problem: `event ${String(record.eventName)} is not ObjectCreated` };
    }
    const { bucket, object } = record.s3;
    if (typeof bucket.name !== 'string' || typeof object.key !== 'string') return { problem: 'record has no bucket name or object key' };
    const key = decodeS3EventKey(object.key);
    if (key === undefined) return { problem: `object key "${object.key.slice(0, 200)}" is not a valid URL-encoded UTF-8 key` };
    return {
      bucket: bucket.name,
      key,
      ...(typeof object.eTag === 'string' && { etag: object.eTag.replaceAll('"', '') }),
      ...(typeof object.size === 'number' && { size: object.size }),
      ...(typeof object.versionId === 'string' && { versionId: object.versionId }),
      eventTime: typeof record.eventTime === 'string' ? record.eventTime : new Date().toISOString(),
    };
  });
}
