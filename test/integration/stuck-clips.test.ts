import { randomUUID } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStatuses } from '../../cli/status.ts';
import { resolveTarget } from '../../cli/target.ts';
import type { TokenProvider } from '../../lib/aws/token-provider.ts';
import { clipId } from '../../lib/protocol/correlation.ts';
import { createLambdaContext, LOCAL_ACCOUNT_ID } from '../../local/event-source/lambda-context.ts';
import { logCursor } from '../helpers/log-lines.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';

const MiB = 1024 * 1024;
const STUCK_AFTER_SECONDS = 2;

/** What EventBridge delivers for a `schedule` event (serverless.yml: functions.stuck-clips). */
function scheduledEvent(): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [`arn:aws:events:us-east-1:${LOCAL_ACCOUNT_ID}:rule/clip-relay-local-StuckDashclipsEventsRuleSchedule1`],
    detail: {},
  };
}

describe('Function: stuck-clips (scheduled)', () => {
  // Tickets with token-ref "hang" never get a token: their fan-out invocations time out and the
  // clips stay without a receipt (until the blocks are dead-lettered, long after these tests).
  const tokens: TokenProvider = {
    authorization: (tokenRef) => (tokenRef === 'hang' ? new Promise<string>(() => {}) : Promise.resolve(TEST_AUTHORIZATION)),
  };
  let relay: RelayFixture;
  beforeAll(async () => {
    relay = await startRelayFixture({ tokens, env: { CLIP_RELAY_STUCK_AFTER_SECONDS: String(STUCK_AFTER_SECONDS) } });
  });
  afterAll(async () => relay?.stop());

  const invoke = (context = createLambdaContext({ functionName: 'clip-relay-local-stuck-clips', timeoutSeconds: relay.stack.settings.stuckClips.timeoutSeconds })) =>
    ({ context, result: relay.stack.handlers.stuckClips(scheduledEvent(), context) });

  async function put(key: string, faults: Parameters<RelayFixture['emulator']['openSession']>[0] = {}, tokenRef?: string): Promise<number> {
    const bytes = clipBytes(3 * MiB);
    const session = relay.emulator.openSession({ fileSize: bytes.length, expectedBlocks: 2, ...faults });
    await relay.stack.putClip({ key, body: bytes, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 2, ...(tokenRef !== undefined && { tokenRef }) } });
    return Date.now();
  }

  it('Should emit StuckClips 0 when there is nothing to find, so the alarm has data', async () => {
    const logs = logCursor(relay.logs);
    await expect(invoke().result).resolves.toStrictEqual({ clips: 0, committed: 0, failed: 0, unconfirmed: 0, young: 0, unreadableReceipts: 0, stuck: [] });
    expect(relay.stack.metrics.totals.get('StuckClips')).toStrictEqual({ sum: 0, count: 1, max: 0, unit: 'Count' });
    expect(logs.lines().filter((l) => l.function === 'stuck-clips' && l.level === 'WARN')).toEqual([]);
  });

  it('Should find the clip without a receipt past the threshold, not the committed, failed or young ones, and log it at WARN; status still shows every state', async () => {
    const stuckKey = 'incoming/stuck-clips/hung.bin';
    const putStuck = await put(stuckKey, {}, 'hang');
    await put('incoming/stuck-clips/committed.bin');
    await put('incoming/stuck-clips/failed.bin', { faults: { blocks: { 0: { answers: [{ status: 403 }] } } } });
    await relay.stack.waitForReceipt('incoming/stuck-clips/committed.bin');
    await relay.stack.waitForReceipt('incoming/stuck-clips/failed.bin');
    // Older than the threshold once rounded to seconds (the state's rule: age > stuckAfterSeconds).
    await new Promise((r) => setTimeout(r, Math.max(0, putStuck + (STUCK_AFTER_SECONDS + 1) * 1000 - Date.now())));
    await put('incoming/stuck-clips/young.bin', {}, 'hang');
    // Young and already committed: the check does not read its receipt, `clip-relay status` does.
    await put('incoming/stuck-clips/young-committed.bin');
    await relay.stack.waitForReceipt('incoming/stuck-clips/young-committed.bin');

    const logs = logCursor(relay.logs);
    const { context, result } = invoke();
    await expect(result).resolves.toStrictEqual({ clips: 5, committed: 1, failed: 1, unconfirmed: 0, young: 2, unreadableReceipts: 0, stuck: [stuckKey] });

    // Two invocations so far: 0 stuck, then 1.
    expect(relay.stack.metrics.totals.get('StuckClips')).toStrictEqual({ sum: 1, count: 2, max: 1, unit: 'Count' });

    const lines = logs.lines().filter((l) => l.function === 'stuck-clips');
    const warnings = lines.filter((l) => l.level === 'WARN');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      message: 'clip stuck: no receipt',
      key: stuckKey,
      clipId: clipId(relay.stack.bucket, stuckKey),
      bucket: relay.stack.bucket,
      size: 3 * MiB,
      stuckAfterSeconds: STUCK_AFTER_SECONDS,
      // injectLambdaContext: the line names the invocation it came from.
      function_name: 'clip-relay-local-stuck-clips',
      function_request_id: context.awsRequestId,
    });
    expect(warnings[0]!.ageSeconds).toBeGreaterThan(STUCK_AFTER_SECONDS);
    expect(lines.find((l) => l.message === 'stuck-clip check done')).toMatchObject({
      level: 'INFO',
      clips: 5,
      committed: 1,
      failed: 1,
      unconfirmed: 0,
      young: 2,
      unreadableReceipts: 0,
      stuck: 1,
    });
    expect(relay.stack.usage.stuckClips.invocations).toBe(2);

    const target = resolveTarget({ endpoint: relay.stack.endpoint, bucket: relay.stack.bucket });
    try {
      const statuses = await readStatuses(target, { prefix: 'stuck-clips/', stuckAfterSeconds: STUCK_AFTER_SECONDS });
      expect(Object.fromEntries(statuses.map((s) => [s.key, s.state]))).toStrictEqual({
        [stuckKey]: 'stuck',
        'incoming/stuck-clips/committed.bin': 'committed',
        'incoming/stuck-clips/failed.bin': 'failed',
        'incoming/stuck-clips/young.bin': 'in-flight',
        'incoming/stuck-clips/young-committed.bin': 'committed',
      });
    } finally {
      target.close();
    }
  });

  it('Should log and count a corrupt receipt with its key, judge its clip as having none, and finish the run', async () => {
    const stuckKey = 'incoming/stuck-clips/hung.bin';
    const receiptKey = `${relay.stack.config.receiptsPrefix}${stuckKey}.json`;
    await relay.stack.s3.send(new PutObjectCommand({ Bucket: relay.stack.bucket, Key: receiptKey, Body: '{"receiptVersion":1,"status":"comm' }));

    const logs = logCursor(relay.logs);
    const result = await invoke().result;
    expect(result).toMatchObject({ unreadableReceipts: 1, stuck: [stuckKey] });
    expect(relay.stack.metrics.totals.get('StuckClips')).toMatchObject({ sum: 2, count: 3 });
    const lines = logs.lines().filter((l) => l.function === 'stuck-clips');
    expect(lines.filter((l) => l.level === 'ERROR')).toMatchObject([
      { message: 'receipt unreadable: clip judged as having none', key: stuckKey, receiptKey, bucket: relay.stack.bucket, problem: expect.stringMatching(/^receipt is not JSON: /) },
    ]);
    expect(lines.find((l) => l.message === 'stuck-clip check done')).toMatchObject({ unreadableReceipts: 1, stuck: 1 });
  });
});
