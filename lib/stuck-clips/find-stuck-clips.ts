import { readReceipts, type UnreadableReceipt } from '../aws/clip-listing.ts';
import type { ClipStore } from '../aws/clip-store.ts';
import { clipId } from '../protocol/correlation.ts';
import type { RelayLogger } from '../runtime/log.ts';
import { noMetrics, type RelayMetrics } from '../runtime/metrics.ts';
import { clipStatuses } from '../protocol/clip-status.ts';

/** What the stuck-clip check needs: the bucket and prefixes, the threshold, where to report. */
export interface FindStuckClipsDeps {
  clips: ClipStore;
  bucket: string;
  incomingPrefix: string;
  receiptsPrefix: string;
  /** A clip without a receipt this long after it was dropped is stuck. */
  stuckAfterSeconds: number;
  metrics?: RelayMetrics;
  logger: RelayLogger;
  now?: () => Date;
}

/**
 * The clips under the incoming prefix and the keys of the stuck ones. Only the clips old enough
 * to be stuck have their receipt read: `committed`, `failed` and `unconfirmed` count those, and
 * `young` the others, whatever their receipts say.
 */
export interface StuckClipsResult {
  clips: number;
  committed: number;
  failed: number;
  unconfirmed: number;
  /** Clips not older than the threshold: they cannot be stuck, so their receipts are not read. */
  young: number;
  /** Receipts that exist but are no receipt (not JSON); their clips count as having none. */
  unreadableReceipts: number;
  /** Keys of the stuck clips, sorted. */
  stuck: string[];
}

/** Stuck clips logged one line each per run; the rest are only counted. */
export const MAX_LOGGED_STUCK_CLIPS = 100;

/**
 * Finds the clips under the incoming prefix that have no receipt (for their current version)
 * past `stuckAfterSeconds`: the same states `clip-relay status` shows. Emits `StuckClips` with
 * the number found, 0 included, so the stuck-clips alarm always has a datapoint to judge; logs
 * each stuck clip at WARN (the first {@link MAX_LOGGED_STUCK_CLIPS}, then how many more).
 * A receipt that cannot be read is logged at ERROR with its key and counted, and its clip judged
 * as having none (so an old one is stuck): one bad object never ends the run.
 *
 * Costs one LIST per 1000 clips and one GET per clip older than the threshold (its receipt) per run.
 */
export async function findStuckClips(deps: FindStuckClipsDeps): Promise<StuckClipsResult> {
  // Taken before listing: a clip is judged by its age when the check began, never older.
  const now = deps.now?.() ?? new Date();
  const listed = await deps.clips.list(deps.bucket, deps.incomingPrefix);
  // Judged without receipts, a clip is 'stuck' exactly when it is old enough to be (the status
  // rule itself decides): only those can be stuck, so only their receipts are read.
  const byAge = clipStatuses(listed, new Map(), now, deps.stuckAfterSeconds);
  const old = listed.filter((_, i) => byAge[i]!.state === 'stuck');
  let unreadableReceipts = 0;
  const onUnreadable = (unreadable: UnreadableReceipt) => {
    unreadableReceipts += 1;
    deps.logger.error('receipt unreadable: clip judged as having none', { clipId: clipId(deps.bucket, unreadable.key), bucket: deps.bucket, ...unreadable });
  };
  const receipts = await readReceipts(deps.clips, deps.bucket, deps.receiptsPrefix, old.map((clip) => clip.key), { onUnreadable });
  const statuses = clipStatuses(old, receipts, now, deps.stuckAfterSeconds);

  const count = (state: string) => statuses.filter((s) => s.state === state).length;
  const stuck = statuses.filter((s) => s.state === 'stuck').sort((a, b) => a.key.localeCompare(b.key));
  const result: StuckClipsResult = {
    clips: listed.length,
    committed: count('committed'),
    failed: count('failed'),
    unconfirmed: count('unconfirmed'),
    young: listed.length - old.length,
    unreadableReceipts,
    stuck: stuck.map((s) => s.key),
  };

  (deps.metrics ?? noMetrics).addMetric('StuckClips', 'Count', stuck.length);
  for (const s of stuck.slice(0, MAX_LOGGED_STUCK_CLIPS)) {
    deps.logger.warn('clip stuck: no receipt', {
      clipId: clipId(deps.bucket, s.key),
      bucket: deps.bucket,
      key: s.key,
      size: s.size,
      ageSeconds: s.ageSeconds,
      stuckAfterSeconds: deps.stuckAfterSeconds,
    });
  }
  if (stuck.length > MAX_LOGGED_STUCK_CLIPS) {
    deps.logger.warn('more clips stuck, not logged one by one', { notLogged: stuck.length - MAX_LOGGED_STUCK_CLIPS, stuck: stuck.length });
  }
  deps.logger.info('stuck-clip check done', { bucket: deps.bucket, prefix: deps.incomingPrefix, ...result, stuck: stuck.length, stuckAfterSeconds: deps.stuckAfterSeconds });
  return result;
}
