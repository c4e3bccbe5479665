import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * Makes every message a previous run had received visible again, in fauxqs's persisted state
 * (`dataDir`), before fauxqs starts. Only for a stack that knows it is the sole consumer of its
 * queues: after a crash no invocation holds those messages any more, and SQS would hide them
 * for up to the visibility timeout (6 minutes for blocks). Blocks that were backing off are
 * released too; a hold after a 429 still stops them (it lives in S3). The receive counts stay,
 * so a released block counts as retried. Done on the database because fauxqs's
 * ChangeMessageVisibility loses a restored in-flight message instead of releasing it.
 * @returns how many messages were released
 */
export function releaseInFlight(dataDir: string): number {
  const file = join(dataDir, 'fauxqs.db');
  if (!existsSync(file)) return 0;
  const db = new DatabaseSync(file);
  try {
    const result = db.prepare('UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE receipt_handle IS NOT NULL').run();
    return Number(result.changes);
  } finally {
    db.close();
  }
}
