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

/** What an event handed to the splitter turned out to be. */
export type S3Notification =
  | { kind: 'records'; records: Array<ClipEvent | UnusableRecord> }
  | { kind: 'test'; bucket?: string }
  | { kind: 'not-s3'; problem: string };

/**
 * Reads an event handed to the splitter: the ObjectCreated records of an S3 notification, the
 * `s3:TestEvent` S3 sends when a notification is configured, or something else entirely (an
 * EventBridge event, a misrouted message), described so the log can say what arrived.
 */
export function readS3Notification(event: unknown): S3Notification {
  if (isObject(event) && event.Event === 's3:TestEvent') {
    return { kind: 'test', ...(typeof event.Bucket === 'string' && { bucket: event.Bucket }) };
  }
  if (!isObject(event) || !Array.isArray(event.Records)) {
    const shape = isObject(event) ? `an object with keys [${Object.keys(event).slice(0, 10).join(', ')}]` : String(event === null ? 'null' : typeof event);
    return { kind: 'not-s3', problem: `event is not an S3 notification (no Records array): ${shape}` };
  }
  return { kind: 'records', records: event.Records.map(clipEventFrom) };
}

/** One record of a notification, decoded, or why it names no clip. */
function clipEventFrom(record: unknown): ClipEvent | UnusableRecord {
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
}
