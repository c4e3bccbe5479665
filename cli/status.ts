import { readReceipts } from '../lib/aws/clip-listing.ts';
import { s3ClipStore } from '../lib/aws/clip-store.ts';
import { clipStatuses, type ClipState, type ClipStatus } from '../lib/protocol/clip-status.ts';
import type { Target } from './target.ts';

/** Every state, in the order the table lists them. */
export const CLIP_STATES: readonly ClipState[] = ['failed', 'stuck', 'receipt-unreadable', 'unconfirmed', 'in-flight', 'committed'];

/** The states that make `clip-relay status` exit 2. */
export const PROBLEM_STATES: readonly ClipState[] = ['failed', 'stuck', 'receipt-unreadable'];

/** The clips under the incoming prefix (and `prefix` within it) with their states. */
export async function readStatuses(target: Target, options: { prefix?: string | undefined; stuckAfterSeconds: number; now?: Date }): Promise<ClipStatus[]> {
  const clips = s3ClipStore(target.s3);
  const listed = await clips.list(target.bucket, `${target.incomingPrefix}${options.prefix ?? ''}`);
  // A corrupt receipt is listed as such; the other clips are still read.
  const unreadable = new Map<string, string>();
  const receipts = await readReceipts(clips, target.bucket, target.receiptsPrefix, listed.map((clip) => clip.key), {
    onUnreadable: ({ key, problem }) => unreadable.set(key, problem),
  });
  return clipStatuses(listed, receipts, options.now ?? new Date(), options.stuckAfterSeconds, unreadable);
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

/** The status table: one line per clip, worst states first, then a count per state. */
export function statusTable(statuses: readonly ClipStatus[]): string {
  const sorted = [...statuses].sort((a, b) => CLIP_STATES.indexOf(a.state) - CLIP_STATES.indexOf(b.state) || a.key.localeCompare(b.key));
  const lines = sorted.map((s) => `${s.state.padEnd(18)} ${age(s.ageSeconds).padStart(5)}  ${s.key}${s.reason ? `  ${s.reason.code}: ${s.reason.message}` : ''}`);
  const counts = CLIP_STATES.map((state) => `${statuses.filter((s) => s.state === state).length} ${state}`).join(', ');
  return [`${'STATE'.padEnd(18)} ${'AGE'.padStart(5)}  KEY`, ...lines, `${statuses.length} clips: ${counts}`].join('\n');
}
