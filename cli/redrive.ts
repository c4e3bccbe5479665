import { CopyObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { receiptKey } from '../lib/protocol/receipt.ts';
import { parseBlockMessage, type BlockMessage } from '../lib/protocol/messages.ts';
import type { Target } from './target.ts';

/** What became of one clip's re-drive. */
export interface ClipRedrive {
  key: string;
  redriven: boolean;
  problem?: string;
  record?: string;
}

/**
 * Re-drives clips: copies each onto itself (same bytes, same ticket), which is a new
 * ObjectCreated event, so the deployed splitter plans its blocks again with its own settings.
 * Each re-drive is recorded beside the receipt (`<receipt>.redrive-<time>.json`); a later
 * commit upgrades a failed receipt by the receipt rules.
 */
export async function redriveClips(target: Target, keys: readonly string[], by: string): Promise<ClipRedrive[]> {
  const results: ClipRedrive[] = [];
  for (const key of keys) {
    if (!key.startsWith(target.incomingPrefix)) {
      results.push({ key, redriven: false, problem: `not under ${target.incomingPrefix}` });
      continue;
    }
    let head;
    try {
      head = await target.s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }));
    } catch {
      results.push({ key, redriven: false, problem: 'no such clip' });
      continue;
    }
    await target.s3.send(
      new CopyObjectCommand({
        Bucket: target.bucket,
        Key: key,
        CopySource: `${target.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
        MetadataDirective: 'REPLACE',
        Metadata: head.Metadata,
        ...(head.ContentType !== undefined && { ContentType: head.ContentType }),
      }),
    );
    const at = new Date().toISOString();
    const record = `${receiptKey(target.receiptsPrefix, key)}.redrive-${at}.json`;
    await target.s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: record,
        ContentType: 'application/json',
        Body: JSON.stringify({ key, redrivenAt: at, by, previousEtag: (head.ETag ?? '').replaceAll('"', '') }),
      }),
    );
    results.push({ key, redriven: true, record });
  }
  return results;
}

/**
 * A dead letter planned anew: a block planned after the clip's failed receipt is sent again
 * (the fan-out skips blocks planned before a terminal receipt), as a message of the current
 * version (a version-1 one is lifted). A body that is not a block message goes back as it is,
 * for the fan-out to settle.
 */
export function replanned(body: string, now = new Date()): string {
  let message: BlockMessage;
  try {
    message = parseBlockMessage(body);
  } catch {
    return body;
  }
  return JSON.stringify({ ...message, plannedAt: now.toISOString() });
}

/**
 * Moves up to `max` messages from the blocks DLQ back to the blocks queue (each sent before it
 * is deleted, so none is lost; a crash in between only duplicates a block, which is harmless).
 */
export async function redriveDeadLetters(target: Target, max: number): Promise<number> {
  const [dlqUrl, blocksUrl] = await Promise.all([target.queueUrl('blocks-dlq'), target.queueUrl('blocks')]);
  let moved = 0;
  while (moved < max) {
    const { Messages = [] } = await target.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: Math.min(10, max - moved), WaitTimeSeconds: 1, VisibilityTimeout: 60 }),
    );
    if (Messages.length === 0) break;
    const entries = Messages.map((message, index) => ({ Id: String(index), MessageBody: replanned(message.Body ?? '') }));
    const sent = await target.sqs.send(new SendMessageBatchCommand({ QueueUrl: blocksUrl, Entries: entries }));
    const ok = new Set((sent.Successful ?? []).map((entry) => entry.Id));
    const done = Messages.filter((_, index) => ok.has(String(index)));
    if (done.length > 0) {
      await target.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: dlqUrl, Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }));
    }
    moved += done.length;
    if (done.length < Messages.length) throw new Error(`SQS refused ${Messages.length - done.length} messages; they stay in the DLQ`);
  }
  return moved;
}
