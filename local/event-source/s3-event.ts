import { randomBytes } from 'node:crypto';
import type { S3Event } from 'aws-lambda';
import { encodeS3EventKey } from './s3-event-key.ts';

/** The message S3 sends to a new notification destination to check it (`s3:TestEvent`). */
export interface S3TestEvent {
  Service: 'Amazon S3';
  Event: 's3:TestEvent';
  Time: string;
  Bucket: string;
  RequestId: string;
  HostId: string;
}

/** What {@link s3ObjectCreatedEvent} needs to know about the object and the notification. */
export interface S3ObjectCreatedDetails {
  bucket: string;
  /** The real key; it is URL-encoded into the event as S3 does. */
  key: string;
  size: number;
  /** With or without the surrounding quotes S3 APIs return; the event carries none. */
  eTag: string;
  /** Default `ObjectCreated:Put`. */
  eventName?: string;
  /** Default now. */
  eventTime?: Date | undefined;
  /** Default `us-east-1`. */
  region?: string;
  /** Default a fresh value from {@link nextS3Sequencer}. */
  sequencer?: string;
  /** The notification configuration's id; default `local-event-source`. */
  configurationId?: string | undefined;
  /** Only for versioned buckets; left out of the event otherwise, as S3 does. */
  versionId?: string;
}

/** Placeholder identities in the format S3 uses (an IAM user id, a canonical owner id). */
const PRINCIPAL_ID = 'AWS:AIDAJDPLRKLG7UEXAMPLE';
const BUCKET_OWNER_ID = 'A3NL1KOZZKEXAMPLE';

/** Builds a one-record `ObjectCreated:*` notification in S3's event message structure 2.1. */
export function s3ObjectCreatedEvent(details: S3ObjectCreatedDetails): S3Event {
  return {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: details.region ?? 'us-east-1',
        eventTime: (details.eventTime ?? new Date()).toISOString(),
        eventName: details.eventName ?? 'ObjectCreated:Put',
        userIdentity: { principalId: PRINCIPAL_ID },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: {
          'x-amz-request-id': randomBytes(8).toString('hex').toUpperCase(),
          'x-amz-id-2': randomBytes(48).toString('base64'),
        },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: details.configurationId ?? 'local-event-source',
          bucket: {
            name: details.bucket,
            ownerIdentity: { principalId: BUCKET_OWNER_ID },
            arn: `arn:aws:s3:::${details.bucket}`,
          },
          object: {
            key: encodeS3EventKey(details.key),
            size: details.size,
            eTag: details.eTag.replaceAll('"', ''),
            ...(details.versionId === undefined ? {} : { versionId: details.versionId }),
            sequencer: details.sequencer ?? nextS3Sequencer(),
          },
        },
      },
    ],
  };
}

/** Builds the `s3:TestEvent` message S3 sends when a notification configuration is saved. */
export function s3TestEvent(bucket: string, time: Date = new Date()): S3TestEvent {
  return {
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: time.toISOString(),
    Bucket: bucket,
    RequestId: randomBytes(8).toString('hex').toUpperCase(),
    HostId: randomBytes(48).toString('base64'),
  };
}

let lastSequencer = 0n;

/**
 * A sequencer like S3's: 18 upper-case hex digits that only grow, so that, as on S3, a later event
 * for the same key compares greater (as a string of equal length) than an earlier one.
 */
export function nextS3Sequencer(): string {
  const candidate = BigInt(Date.now()) << 20n;
  lastSequencer = candidate > lastSequencer ? candidate : lastSequencer + 1n;
  return lastSequencer.toString(16).toUpperCase().padStart(18, '0');
}
