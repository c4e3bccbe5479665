import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ClipChangedError } from '../protocol/errors.ts';
import type { ClipRef } from '../protocol/messages.ts';

/** What HeadObject tells about a clip. */
export interface ClipHead {
  size: number;
  etag: string;
  versionId?: string;
  metadata: Record<string, string>;
}

/** A stored document and the ETag to make the next write conditional on. */
export interface StoredDocument {
  body: string;
  etag: string;
}

/** An object as a listing shows it. */
export interface ListedObject {
  key: string;
  etag: string;
  size: number;
  lastModified: Date;
}

/** The relay's view of S3: clips to list and read, receipts to read and write. */
export interface ClipStore {
  /** Every object under `prefix` (all pages), "folder" markers left out. */
  list(bucket: string, prefix: string): Promise<ListedObject[]>;
  /** The clip's head, or undefined when there is no such object. */
  head(bucket: string, key: string): Promise<ClipHead | undefined>;
  /** Bytes [start, end) of exactly the planned version. @throws ClipChangedError */
  openRange(clip: ClipRef, start: number, end: number, signal?: AbortSignal): Promise<Readable>;
  read(bucket: string, key: string): Promise<StoredDocument | undefined>;
  /**
   * Writes a JSON document only if it is still as last read (`ifMatch`) or still absent
   * (`ifNoneMatch`); false when S3 refused the condition. (fauxqs ignores conditions.)
   */
  writeIf(bucket: string, key: string, body: string, condition: { ifMatch: string } | { ifNoneMatch: '*' }): Promise<boolean>;
}

const unquote = (etag: string | undefined): string => (etag ?? '').replaceAll('"', '');

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/** The ClipStore over an S3 client (AWS or fauxqs). */
export function s3ClipStore(s3: S3Client): ClipStore {
  return {
    async list(bucket, prefix) {
      const objects: ListedObject[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token !== undefined && { ContinuationToken: token }) }));
        for (const object of page.Contents ?? []) {
          if (object.Key === undefined || object.Key.endsWith('/')) continue;
          objects.push({ key: object.Key, etag: unquote(object.ETag), size: object.Size ?? 0, lastModified: object.LastModified ?? new Date(0) });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return objects;
    },

    async head(bucket, key) {
      try {
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return {
          size: head.ContentLength ?? 0,
          etag: unquote(head.ETag),
          ...(head.VersionId !== undefined && head.VersionId !== 'null' && { versionId: head.VersionId }),
          metadata: head.Metadata ?? {},
        };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    },

    async openRange(clip, start, end, signal) {
      try {
        const object = await s3.send(
          new GetObjectCommand({
            Bucket: clip.bucket,
            Key: clip.key,
            Range: `bytes=${start}-${end - 1}`,
            IfMatch: `"${clip.etag}"`,
            ...(clip.versionId !== undefined && { VersionId: clip.versionId }),
          }),
          signal === undefined ? {} : { abortSignal: signal },
        );
        return object.Body as Readable;
      } catch (error) {
        const status = statusOf(error);
        if (status === 404) throw new ClipChangedError('CLIP_MISSING', `clip s3://${clip.bucket}/${clip.key} no longer exists`, { cause: error });
        if (status === 412) throw new ClipChangedError('CLIP_CHANGED', `clip s3://${clip.bucket}/${clip.key} changed since it was planned (ETag ${clip.etag})`, { cause: error });
        throw error;
      }
    },

    async read(bucket, key) {
      try {
        const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return { body: (await object.Body?.transformToString('utf8')) ?? '', etag: unquote(object.ETag) };
      } catch (error) {
        if (statusOf(error) === 404) return undefined;
        throw error;
      }
    },

    async writeIf(bucket, key, body, condition) {
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: body,
            ContentType: 'application/json',
            ...('ifMatch' in condition ? { IfMatch: `"${condition.ifMatch}"` } : { IfNoneMatch: '*' }),
          }),
        );
        return true;
      } catch (error) {
        // 412: someone wrote first; 409: a concurrent conditional write is in progress.
        if (statusOf(error) === 412 || statusOf(error) === 409) return false;
        throw error;
      }
    },
  };
}

/**
 * A view of `store` whose reads are made once per key for as long as the view lives. The
 * fan-out takes one per invocation: the blocks of a batch mostly share a clip, and one receipt
 * check per clip per batch is enough (S3 GETs are most of the relay's request cost).
 */
export function memoizeReads(store: ClipStore): ClipStore {
  const reads = new Map<string, Promise<StoredDocument | undefined>>();
  return {
    ...store,
    read(bucket, key) {
      const id = `${bucket}/${key}`;
      let read = reads.get(id);
      if (read === undefined) {
        read = store.read(bucket, key);
        // A failed read is not kept: the next block asks S3 again.
        read.catch(() => reads.delete(id));
        reads.set(id, read);
      }
      return read;
    },
  };
}
