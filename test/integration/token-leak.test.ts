import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenProvider } from '../../lib/aws/token-provider.ts';
import { oneBlockMessage } from '../helpers/block-message.ts';
import { parseReceipt, type Receipt } from '../../lib/protocol/receipt.ts';
import { SINGLE_PUT_BLOCK, type UploadFaults } from '../../local/emulator/transfer-service.ts';
import { parseLogLines } from '../helpers/log-lines.ts';
import { queueBodies, waitForEmptyQueue } from '../helpers/queue-watch.ts';
import { clipBytes, startRelayFixture, TEST_AUTHORIZATION, type RelayFixture } from '../helpers/relay-fixture.ts';
import { findSecretTraces } from '../helpers/secret-scan.ts';
import { captureSqsMessages, type CapturedMessage } from '../helpers/sqs-capture.ts';

const BLOCK = 1024;
const MAX_ATTEMPTS = 4;

/** The Authorization value the emulator accepts, and its secret part (after the user hash). */
const TOKEN = TEST_AUTHORIZATION;
const TOKEN_SECRET = TOKEN.slice(TOKEN.indexOf(';') + 1);
/** What a token cache hands out before a refresh: rejected with 401 by the emulator. */
const STALE_TOKEN = 'XBL3.0 x=5550001112;Qv7rZk2Lm9XpW4tB8nHs3Jd6';
const STALE_SECRET = STALE_TOKEN.slice(STALE_TOKEN.indexOf(';') + 1);
const SECRETS = { token: TOKEN, tokenSecret: TOKEN_SECRET, staleToken: STALE_TOKEN, staleSecret: STALE_SECRET };

/** Token-ref `rotating` starts stale and turns good on the forced fetch a 401 causes; every other ref is good. */
function rotatingTokens(): TokenProvider & { calls: Array<{ ref: string; forceFetch: boolean }> } {
  let rotated = false;
  const calls: Array<{ ref: string; forceFetch: boolean }> = [];
  return {
    calls,
    async authorization(ref, options) {
      calls.push({ ref, forceFetch: options?.forceFetch ?? false });
      if (ref !== 'rotating') return TOKEN;
      if (options?.forceFetch) rotated = true;
      return rotated ? TOKEN : STALE_TOKEN;
    },
  };
}

/** One clip of the run and the answers its session gives. */
interface Scenario {
  name: string;
  faults?: UploadFaults;
  blocks?: number | undefined;
  tokenRef?: string;
  /** What its receipt must say, proving the path was really taken. */
  expect: Partial<Receipt> & { status: Receipt['status'] };
}

const echo = (status: number, errorCode: string, errorMessage: string) => ({ status, body: { errorCode, errorMessage } });
const times = <T,>(n: number, value: T): T[] => Array.from({ length: n }, () => value);

const SCENARIOS: Scenario[] = [
  { name: 'clean', expect: { status: 'committed' } },
  { name: 'rotated-after-a-401', tokenRef: 'rotating', expect: { status: 'committed' } },
  { name: 'two-401s-token-rejected', faults: { blocks: { 1: { answers: [{ status: 401 }, { status: 401 }] } } }, expect: { status: 'failed', reason: { code: 'TOKEN_REJECTED', message: expect.any(String) as unknown as string } } },
  {
    name: '401-forever-echoing-the-token',
    blocks: undefined,
    faults: { blocks: { [SINGLE_PUT_BLOCK]: { answers: times(2 * MAX_ATTEMPTS + 2, echo(401, 'TokenExpired', `token ${TOKEN} has expired`)) } } },
    expect: { status: 'failed', attempts: 1, reason: { code: 'TOKEN_REJECTED', message: expect.any(String) as unknown as string } },
  },
  {
    name: '400-echoing-the-whole-header',
    faults: { blocks: { 0: { answers: [echo(400, 'BadToken', `bad token ${TOKEN}`)] } } },
    expect: { status: 'failed', reason: { code: 'SERVICE_REJECTED', message: expect.any(String) as unknown as string } },
  },
  {
    name: '400-echoing-the-token-without-its-scheme',
    faults: { blocks: { 0: { answers: [echo(400, 'BadToken', `the token ${TOKEN_SECRET} is not valid for this title`)] } } },
    expect: { status: 'failed', reason: { code: 'SERVICE_REJECTED', message: expect.any(String) as unknown as string } },
  },
  {
    name: '400-echoing-the-token-past-the-length-limit',
    // The relay keeps the first 1000 characters of errorMessage: the token straddles that cut.
    faults: { blocks: { 0: { answers: [echo(400, 'BadToken', `${'x'.repeat(1000 - 40)}${TOKEN}`)] } } },
    expect: { status: 'failed', reason: { code: 'SERVICE_REJECTED', message: expect.any(String) as unknown as string } },
  },
  {
    name: '403-echoing-the-token-in-errorCode',
    faults: { blocks: { 2: { answers: [echo(403, `Forbidden:${TOKEN_SECRET}`, 'forbidden')] } } },
    expect: { status: 'failed', reason: { code: 'SERVICE_REJECTED', message: expect.any(String) as unknown as string } },
  },
  {
    name: '503-echoing-the-token-then-commit',
    faults: { blocks: { 0: { answers: [{ ...echo(503, 'Busy', `busy, retry with ${TOKEN}`), retryAfter: '1' }] } } },
    expect: { status: 'committed' },
  },
  {
    name: 'redirects-then-commit',
    faults: { blocks: { 0: { answers: [{ redirectTo: '/moved/clips/redirects-then-commit', status: 307 }] }, 1: { answers: [{ redirectTo: '/moved/clips/redirects-then-commit', status: 301 }] } } },
    expect: { status: 'committed' },
  },
  {
    name: 'redirect-to-a-foreign-host-carrying-the-token',
    faults: { blocks: { 1: { answers: [{ redirectTo: `https://evil.example/collect?auth=${encodeURIComponent(TOKEN)}` }] } } },
    expect: { status: 'failed', reason: { code: 'UPLOAD_TARGET_REFUSED', message: expect.any(String) as unknown as string } },
  },
  { name: 'dropped-connection-then-commit', faults: { blocks: { 2: { answers: [{ drop: true, afterBytes: 10 }] } } }, expect: { status: 'committed' } },
  { name: 'single-put-503s-then-commit', blocks: undefined, faults: { blocks: { [SINGLE_PUT_BLOCK]: { answers: [{ status: 503 }, { status: 500 }] } } }, expect: { status: 'committed' } },
];

describe('Token leak: the full pipeline, failures and 401s included, leaves no trace of the token', () => {
  let relay: RelayFixture;
  let sqsTraffic: { messages: CapturedMessage[]; stop(): void };
  const tokens = rotatingTokens();
  const consoleOutput: string[] = [];
  const restoreConsole: Array<() => void> = [];
  const receipts = new Map<string, { text: string; receipt: Receipt }>();
  const keyOf = (scenario: Scenario) => `incoming/token-leak/${scenario.name}.mp4`;

  beforeAll(async () => {
    // Anything written to the console or stderr during the run is a log line too.
    for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      const original = console[method];
      console[method] = (...args: unknown[]) => {
        consoleOutput.push(args.map(String).join(' '));
        original.apply(console, args);
      };
      restoreConsole.push(() => (console[method] = original));
    }
    const stderrWrite = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      consoleOutput.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return (stderrWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stderr.write;
    restoreConsole.push(() => (process.stderr.write = stderrWrite));

    relay = await startRelayFixture({
      maxBlockBytes: BLOCK,
      tokens,
      adjustSettings: (settings) => {
        settings.blocksQueue.maxReceiveCount = MAX_ATTEMPTS;
      },
    });
    sqsTraffic = captureSqsMessages(relay.stack.sqs);

    // Every scenario at once, as a busy relay would see them.
    await Promise.all(
      SCENARIOS.map(async (scenario) => {
        const blocks = 'blocks' in scenario ? scenario.blocks : 3;
        const size = blocks === undefined ? 700 : (blocks - 1) * BLOCK + 300;
        const session = relay.emulator.openSession({
          fileSize: size,
          gameClipId: scenario.name,
          ...(blocks !== undefined && { expectedBlocks: blocks }),
          ...(scenario.faults !== undefined && { faults: scenario.faults }),
        });
        await relay.stack.putClip({
          key: keyOf(scenario),
          body: clipBytes(size),
          ticket: {
            uploadUri: session.uploadUri,
            uploadId: session.uploadId,
            gameClipId: scenario.name,
            ...(blocks !== undefined && { expectedBlocks: blocks }),
            ...(scenario.tokenRef !== undefined && { tokenRef: scenario.tokenRef }),
          },
        });
      }),
    );
    // A clip rejected by the splitter, and a block that reached the DLQ.
    await relay.stack.s3.send(
      new PutObjectCommand({ Bucket: relay.stack.bucket, Key: 'incoming/token-leak/bad-ticket.mp4', Body: clipBytes(10), Metadata: { 'upload-uri': 'https://evil.example/x', 'upload-id': 'id' } }),
    );
    const deadLetter = oneBlockMessage(relay.stack.bucket, 'incoming/token-leak/dead-lettered.mp4', `${relay.emulator.url}/clips/dead-lettered`, {
      clip: { bucket: relay.stack.bucket, key: 'incoming/token-leak/dead-lettered.mp4', etag: 'etag-dead-lettered', size: 10 },
      ticket: { uploadId: 'dead-lettered' },
    });
    await relay.stack.sqs.send(new SendMessageCommand({ QueueUrl: relay.stack.queues.blocksDlq.url, MessageBody: JSON.stringify(deadLetter) }));

    for (const key of [...SCENARIOS.map(keyOf), 'incoming/token-leak/bad-ticket.mp4', 'incoming/token-leak/dead-lettered.mp4']) {
      await relay.stack.waitForReceipt(key, { timeoutMs: 30_000 });
    }
    for (const queue of Object.values(relay.stack.queues)) await waitForEmptyQueue(relay.stack, queue, 20_000);

    const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: relay.stack.bucket, Prefix: relay.stack.config.receiptsPrefix }));
    for (const object of listed.Contents ?? []) {
      const got = await relay.stack.s3.send(new GetObjectCommand({ Bucket: relay.stack.bucket, Key: object.Key! }));
      const text = await got.Body!.transformToString('utf8');
      receipts.set(object.Key!, { text, receipt: parseReceipt(text) });
    }
  }, 120_000);

  afterAll(async () => {
    sqsTraffic?.stop();
    await relay?.stop();
    for (const restore of restoreConsole) restore();
  });

  const receiptOf = (key: string) => receipts.get(`${relay.stack.config.receiptsPrefix}${key}.json`)?.receipt;

  describe('the run took every path it claims to', () => {
    it.each(SCENARIOS.map((s) => [s.name, s] as const))('Should end %s as expected', (_name, scenario) => {
      expect(receiptOf(keyOf(scenario))).toMatchObject(scenario.expect);
    });

    it('Should have met 401s (stale token and scripted), 400, 403, 301/307, 503/500 and a dropped connection', () => {
      const statuses = new Set(relay.emulator.requests.map((r) => r.status));
      for (const status of [401, 400, 403, 301, 307, 503, 500, 0, 202, 201]) expect(statuses, `status ${status}`).toContain(status);
      expect(tokens.calls.filter((c) => c.ref === 'rotating' && c.forceFetch)).not.toHaveLength(0);
    });

    it('Should have failed the bad ticket and the dead letter with receipts', () => {
      expect(receiptOf('incoming/token-leak/bad-ticket.mp4')).toMatchObject({ status: 'failed', reason: { code: 'UPLOAD_TARGET_REFUSED' } });
      expect(receiptOf('incoming/token-leak/dead-lettered.mp4')).toMatchObject({ status: 'failed', reason: { code: 'DEAD_LETTERED' } });
    });

    it('Should keep the service error answers, with the echoed token redacted', () => {
      const whole = receiptOf(keyOf(SCENARIOS.find((s) => s.name === '400-echoing-the-whole-header')!));
      expect(whole?.answer).toStrictEqual({ status: 400, errorCode: 'BadToken', errorMessage: 'bad token [redacted]' });
      const bare = receiptOf(keyOf(SCENARIOS.find((s) => s.name === '400-echoing-the-token-without-its-scheme')!));
      expect(bare?.answer?.status).toBe(400);
      expect(bare?.answer?.errorMessage).toMatch(/^the token .* is not valid for this title$/);
    });

    it('Should have captured something in every haystack', () => {
      expect(relay.logs.length).toBeGreaterThan(50);
      expect(sqsTraffic.messages.filter((m) => m.direction === 'sent').length).toBeGreaterThan(30);
      expect(sqsTraffic.messages.filter((m) => m.direction === 'received').length).toBeGreaterThan(30);
      expect(receipts.size).toBe(SCENARIOS.length + 2);
      expect(relay.emulator.requests.length).toBeGreaterThan(30);
    });
  });

  describe('no trace of either token, nor of a 12-character piece of one', () => {
    it('Should not be in any log line', () => {
      parseLogLines(relay.logs); // every line is Powertools JSON
      const traces = findSecretTraces(relay.logs.map((text, i) => ({ where: `log line ${i}`, text })), SECRETS);
      expect(traces).toStrictEqual([]);
    });

    it('Should not be in anything written to the console or stderr', () => {
      expect(findSecretTraces(consoleOutput.map((text, i) => ({ where: `console ${i}`, text })), SECRETS)).toStrictEqual([]);
    });

    it('Should not be in any SQS message body, sent or received, on any queue', () => {
      const left = Object.values(relay.stack.queues).flatMap((queue) => queueBodies(relay.stack, queue).map((text) => ({ where: `still in ${queue.name}`, text })));
      const wire = sqsTraffic.messages.map((m, i) => ({ where: `${m.direction} #${i} on ${m.queueUrl.split('/').pop()}`, text: m.body }));
      expect(findSecretTraces([...wire, ...left], SECRETS)).toStrictEqual([]);
    });

    it('Should not be in any receipt', () => {
      const traces = findSecretTraces([...receipts].map(([key, { text }]) => ({ where: key, text })), SECRETS);
      expect(traces).toStrictEqual([]);
    });

    it('Should not be in any object key or user metadata in the bucket', async () => {
      const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: relay.stack.bucket }));
      const haystacks: Array<{ where: string; text: string }> = [];
      for (const object of listed.Contents ?? []) {
        const head = await relay.stack.s3.send(new HeadObjectCommand({ Bucket: relay.stack.bucket, Key: object.Key! }));
        haystacks.push({ where: object.Key!, text: `${object.Key} ${JSON.stringify(head.Metadata ?? {})}` });
      }
      expect(haystacks.length).toBeGreaterThan(SCENARIOS.length);
      expect(findSecretTraces(haystacks, SECRETS)).toStrictEqual([]);
    });

    it("Should not be in the emulator's request log", () => {
      expect(findSecretTraces([{ where: 'emulator.requests', text: JSON.stringify(relay.emulator.requests) }], SECRETS)).toStrictEqual([]);
    });
  });
});
