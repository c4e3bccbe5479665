import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import type { S3Event, S3EventRecord, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ClipStore, type ClipStore } from '../../lib/aws/clip-store.ts';
import { sqsRelayQueues } from '../../lib/aws/queues.ts';
import { BLOCK_MESSAGE_VERSION, type BlockMessage } from '../../lib/protocol/messages.ts';
import { oneBlockMessage } from '../helpers/block-message.ts';
import { planBlocks } from '../../lib/protocol/block-plan.ts';
import type { Receipt } from '../../lib/protocol/receipt.ts';
import { splitClip, type SplitResult } from '../../lib/split/split-clip.ts';
import { ticketMetadata } from '../../lib/protocol/ticket.ts';
import { createLambdaContext } from '../../local/event-source/lambda-context.ts';
import { s3ObjectCreatedEvent, s3TestEvent } from '../../local/event-source/s3-event.ts';
import { toLambdaSqsRecord } from '../../local/event-source/sqs-record.ts';
import { LocalLogger } from '../../local/local-logger.ts';
import { isProblemLevel, logCursor, type LogLine } from '../helpers/log-lines.ts';
import { waitForDeleted, waitForEmptyQueue } from '../helpers/queue-watch.ts';
import { clipBytes, startRelayFixture, type RelayFixture } from '../helpers/relay-fixture.ts';
import { captureSqsMessages, type CapturedMessage } from '../helpers/sqs-capture.ts';

const BLOCK = 1024;
const MAX_ATTEMPTS = 4;
/** The emulator (an IP literal over plain http, named exactly) and the production default. */
const ALLOWED_HOSTS = '127.0.0.1,*.xboxlive.com';
const XBL = 'https://gameclipstransfer.xboxlive.com';
const FOUR_GIB = 2 ** 32;

describe('Bad input through the real pipeline', () => {
  let relay: RelayFixture;
  let sqsTraffic: { messages: CapturedMessage[]; stop(): void };
  let counter = 0;
  const nextKey = (name: string, prefix = 'incoming/bad-input/') => `${prefix}${++counter}-${name}.mp4`;

  beforeAll(async () => {
    relay = await startRelayFixture({
      maxBlockBytes: BLOCK,
      env: { CLIP_RELAY_ALLOWED_HOSTS: ALLOWED_HOSTS },
      adjustSettings: (settings) => {
        settings.blocksQueue.maxReceiveCount = MAX_ATTEMPTS;
      },
    });
    sqsTraffic = captureSqsMessages(relay.stack.sqs);
  });
  afterAll(async () => {
    sqsTraffic?.stop();
    await relay?.stop();
  });

  const bucket = () => relay.stack.bucket;
  const splitterContext = () => createLambdaContext({ functionName: 'splitter', timeoutSeconds: 30 });
  const invokeSplitter = (event: unknown) => relay.stack.handlers.splitter(event, splitterContext()) as Promise<SplitResult[]>;

  /** Block messages the splitter (or anyone) sent for `key`. */
  function blockMessagesSentFor(key: string): unknown[] {
    return sqsTraffic.messages
      .filter((m) => m.direction === 'sent' && m.queueUrl === relay.stack.queues.blocks.url)
      .map((m) => JSON.parse(m.body) as { clip?: { key?: string } })
      .filter((m) => m.clip?.key === key);
  }

  /** A clip whose ticket is right, relayed alongside the bad input: it must commit regardless. */
  interface GoodClip {
    key: string;
    body: Buffer;
    uploadId: string;
  }

  /** Opens a 3-block session and puts its clip; under `incoming/` the S3 event source picks it up. */
  async function putGoodClip(key = nextKey('good', 'incoming/good/')): Promise<GoodClip> {
    const size = 2 * BLOCK + 17;
    const body = clipBytes(size);
    const session = relay.emulator.openSession({ fileSize: size, expectedBlocks: 3 });
    await relay.stack.putClip({ key, body, ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 3 } });
    return { key, body, uploadId: session.uploadId };
  }

  async function expectCommitted(good: GoodClip): Promise<Receipt> {
    const receipt = await relay.stack.waitForReceipt(good.key, { timeoutMs: 20_000 });
    expect(receipt, `good clip ${good.key}`).toMatchObject({ status: 'committed', key: good.key, size: good.body.length });
    expect(relay.emulator.committed(good.uploadId)?.equals(good.body)).toBe(true);
    return receipt;
  }

  /**
   * What every rejected clip must show: a failed receipt naming the problem, the splitter's ERROR
   * line carrying the same reason, and not one block message enqueued for it.
   */
  async function expectRejectedClip(
    key: string,
    expected: { size: number; etag?: string; code: string; message: RegExp },
    cursor: ReturnType<typeof logCursor>,
  ): Promise<Receipt> {
    const receipt = await receiptOrDiagnosis(key, 5_000, cursor);
    expect(receipt).toMatchObject({
      receiptVersion: 1,
      status: 'failed',
      bucket: bucket(),
      key,
      size: expected.size,
      ...(expected.etag !== undefined && { etag: expected.etag }),
      reason: { code: expected.code },
    });
    expect(receipt.reason?.message).toMatch(expected.message);
    expect(receipt.blockNum).toBeUndefined();
    const line = await cursor.waitFor((l) => l.function === 'splitter' && l.message === 'clip rejected' && l.key === key);
    expect(line).toMatchObject({ level: 'ERROR', bucket: bucket(), key, reason: receipt.reason });
    expect(blockMessagesSentFor(key)).toStrictEqual([]);
    return receipt;
  }

  /** The clip's receipt; when none comes, fails with the WARN/ERROR lines written meanwhile, which say why. */
  async function receiptOrDiagnosis(key: string, timeoutMs: number, cursor: ReturnType<typeof logCursor>): Promise<Receipt> {
    try {
      return await relay.stack.waitForReceipt(key, { timeoutMs });
    } catch (error) {
      const problems = cursor.lines().filter(isProblemLevel).map((l) => JSON.stringify(l));
      throw new Error(`${(error as Error).message}; WARN/ERROR lines meanwhile:\n${problems.join('\n')}`);
    }
  }

  /** Puts a clip whose S3 user metadata is exactly `metadata`; returns its key and ETag. */
  async function putRawClip(name: string, metadata: Record<string, string>, size: number) {
    const key = nextKey(name);
    const put = await relay.stack.s3.send(
      new PutObjectCommand({ Bucket: bucket(), Key: key, Body: clipBytes(size), Metadata: metadata }),
    );
    return { key, etag: (put.ETag ?? '').replaceAll('"', '') };
  }

  // ---------------------------------------------------------------------------------------------
  describe('Tickets: each bad clip ends with a failed receipt, a clear ERROR line, no block sent', () => {
    /** A ticket that points at a real emulator session, with `override` applied (undefined deletes a field). */
    function ticketWith(override: Record<string, string | undefined>, expectedBlocks?: number, fileSize?: number): Record<string, string> {
      const session = relay.emulator.openSession({ ...(expectedBlocks !== undefined && { expectedBlocks }), ...(fileSize !== undefined && { fileSize }) });
      const ticket: Record<string, string | undefined> = {
        'upload-uri': session.uploadUri,
        'upload-id': session.uploadId,
        ...(expectedBlocks !== undefined && { 'expected-blocks': String(expectedBlocks) }),
        ...override,
      };
      return Object.fromEntries(Object.entries(ticket).filter((entry): entry is [string, string] => entry[1] !== undefined));
    }

    async function relayBadTicket(name: string, metadata: Record<string, string>, size: number, code: string, message: RegExp) {
      const cursor = logCursor(relay.logs);
      const good = await putGoodClip();
      const { key, etag } = await putRawClip(name, metadata, size);
      const receipt = await expectRejectedClip(key, { size, etag, code, message }, cursor);
      await expectCommitted(good);
      return receipt;
    }

    type Row = [name: string, override: Record<string, string | undefined>, message: RegExp];
    it.each<Row>([
      ['upload-uri missing', { 'upload-uri': undefined }, /^metadata upload-uri is missing$/],
      // S3 keeps no empty metadata value: an empty upload-id arrives missing.
      ['upload-id empty', { 'upload-id': '' }, /^metadata upload-id is missing$/],
      ['upload-id oversized (1025 chars)', { 'upload-id': 'u'.repeat(1025) }, /^metadata upload-id is longer than 1024 characters$/],
      ['upload-uri oversized (2049 chars)', { 'upload-uri': `${XBL}/clips/${'a'.repeat(2049 - XBL.length - 7)}` }, /^metadata upload-uri is longer than 2048 characters$/],
      ['game-clip-id that is a path', { 'game-clip-id': '../../other-clip' }, /^metadata game-clip-id must be 1-128 letters/],
      ['game-clip-id oversized (129 chars)', { 'game-clip-id': 'g'.repeat(129) }, /game-clip-id must be 1-128 letters/],
      ['token-ref climbing out of the token prefix', { 'token-ref': '../admin/token' }, /token-ref must be 1-128 letters/],
      ['expected-blocks not a number', { 'expected-blocks': 'three' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['expected-blocks zero', { 'expected-blocks': '0' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['expected-blocks negative', { 'expected-blocks': '-2' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['expected-blocks fractional', { 'expected-blocks': '2.5' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['expected-blocks in hex', { 'expected-blocks': '0x10' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['expected-blocks 2^32', { 'expected-blocks': '4294967296' }, /^metadata expected-blocks is 4294967296, over 4294967295$/],
      ['expected-blocks of 11 digits', { 'expected-blocks': '99999999999' }, /expected-blocks must be a whole number from 1 to 4294967295/],
      ['a tab in upload-uri', { 'upload-uri': `${XBL}/clips/a\tb` }, /^metadata upload-uri has control characters$/],
    ])('Should reject a ticket with %s (TICKET_INVALID)', async (name, override, message) => {
      const receipt = await relayBadTicket(name.replaceAll(/\W+/g, '-'), ticketWith(override, 2, BLOCK + 1), BLOCK + 1, 'TICKET_INVALID', message);
      // A ticket that could not be read carries nothing into the receipt beyond the clip itself.
      expect(receipt.uploadUri).toBeUndefined();
    });

    it('Should name both missing fields of a clip with no ticket at all', async () => {
      const receipt = await relayBadTicket('no-ticket', {}, 100, 'TICKET_INVALID', /upload-uri/);
      expect(receipt.reason?.message).toMatch(/upload-id/);
    });

    it.each<[name: string, size: number, expectedBlocks: number, message: RegExp]>([
      ['5 bytes in 4 blocks (no block size fits)', 5, 4, /no block size B gives ceil\(5 \/ B\) = 4/],
      ['3 blocks of data announced as 2 (blocks over the cap)', 3 * BLOCK + 1, 2, /3073 bytes in 2 blocks needs blocks of 1537 bytes, over the 1024-byte cap/],
      ['10 bytes in 11 blocks', 10, 11, /10 bytes cannot fill 11 non-empty blocks/],
    ])('Should reject an expected-blocks that fits no layout: %s (BLOCK_LAYOUT_IMPOSSIBLE)', async (name, size, expectedBlocks, message) => {
      const metadata = ticketWith({}, expectedBlocks);
      const receipt = await relayBadTicket(name.replaceAll(/\W+/g, '-'), metadata, size, 'BLOCK_LAYOUT_IMPOSSIBLE', message);
      expect(receipt).toMatchObject({ expectedBlocks, uploadUri: metadata['upload-uri'] });
    });

    // Both 0-byte clips have the same ETag (the MD5 of nothing), so the second also checks that an
    // identical-looking failure of another clip is not swallowed (see 'Clips that look alike').
    it.each<[name: string, expectedBlocks: number | undefined]>([
      ['with expected-blocks', 1],
      ['as a single PUT', undefined],
    ])('Should reject a 0-byte clip %s (CLIP_SIZE_UNSUPPORTED)', async (_name, expectedBlocks) => {
      await relayBadTicket('empty-clip', ticketWith({}, expectedBlocks), 0, 'CLIP_SIZE_UNSUPPORTED', /clip is 0 bytes; the protocol needs at least 1 byte/);
    });

    it.each([FOUR_GIB, 5 * 2 ** 30])('Should reject a clip of %i bytes (>= 4 GiB) before planning (CLIP_SIZE_UNSUPPORTED)', async (size) => {
      // fauxqs cannot hold 4 GiB: only HeadObject is stood in for; queues, finalizer and receipt are real.
      const cursor = logCursor(relay.logs);
      const good = await putGoodClip();
      const key = nextKey('four-gib');
      const session = relay.emulator.openSession({ expectedBlocks: 2048 });
      const head: ClipStore['head'] = async () => ({
        size,
        etag: 'etag-4gib',
        metadata: ticketMetadata({ uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 2048 }),
      });
      const logger = new LocalLogger({ serviceName: 'clip-relay', logLevel: 'DEBUG', functionName: 'splitter' }, (line) => relay.logs.push(line));
      const result = await splitClip(
        { bucket: bucket(), key, etag: 'etag-4gib', size, eventTime: new Date().toISOString() },
        { clips: { ...s3ClipStore(relay.stack.s3), head }, queues: sqsRelayQueues(relay.stack.sqs, relay.stack.config), config: relay.stack.config, logger },
      );
      expect(result).toMatchObject({ kind: 'rejected', code: 'CLIP_SIZE_UNSUPPORTED' });
      await expectRejectedClip(key, { size, etag: 'etag-4gib', code: 'CLIP_SIZE_UNSUPPORTED', message: new RegExp(`clip is ${size} bytes; the protocol's fileSize is at most 4294967295`) }, cursor);
      expect(relay.emulator.stats(session.uploadId).puts).toBe(0);
      await expectCommitted(good);
    });

    type UriRow = [name: string, uploadUri: string | ((emulatorUrl: string) => string), message: RegExp];
    it.each<UriRow>([
      ['a relative URI (no scheme)', 'gameclipstransfer.xboxlive.com/clips/x', /upload URI is not an absolute URL/],
      ['an ftp: URI', 'ftp://gameclipstransfer.xboxlive.com/clips/x', /upload URI scheme ftp: is not https/],
      ['a file: URI', 'file:///etc/passwd', /upload URI scheme file: is not https/],
      ['plain http to an allowed, non-loopback host', 'http://gameclipstransfer.xboxlive.com/clips/x', /plain http is refused for gameclipstransfer\.xboxlive\.com/],
      ['plain http to a loopback host not named in the allowlist', (url) => url.replace('127.0.0.1', 'localhost') + '/clips/x', /host localhost:\d+ is not in the allowlist/],
      ['a host outside the allowlist', 'https://evil.example/clips/x', /host evil\.example is not in the allowlist \(127\.0\.0\.1, \*\.xboxlive\.com\)/],
      ['a host that only starts like the allowed domain', 'https://gameclipstransfer.xboxlive.com.evil.example/clips/x', /host gameclipstransfer\.xboxlive\.com\.evil\.example is not in the allowlist/],
      ['a host that only ends like the allowed domain', 'https://evilxboxlive.com/clips/x', /host evilxboxlive\.com is not in the allowlist/],
      ['user info', 'https://user:secret@gameclipstransfer.xboxlive.com/clips/x', /upload URI must not carry user info/],
      ['user info that poses as the host', 'https://gameclipstransfer.xboxlive.com@evil.example/clips/x', /upload URI must not carry user info/],
      ['a fragment', 'https://gameclipstransfer.xboxlive.com/clips/x#part', /upload URI must not carry a fragment/],
      ['an IPv4 literal (cloud metadata)', 'https://169.254.169.254/latest/meta-data/', /host 169\.254\.169\.254 is an IP address not named in the allowlist/],
      ['an IPv4 literal in hex', 'https://0xA9FEA9FE/clips/x', /host 169\.254\.169\.254 is an IP address not named in the allowlist/],
      ['an IPv6 literal', 'https://[::1]/clips/x', /host \[::1\] is an IP address not named in the allowlist/],
      ['an IPv4-mapped IPv6 literal', 'https://[::ffff:169.254.169.254]/clips/x', /host \[::ffff:a9fe:a9fe\] is an IP address not named in the allowlist/],
      ['a space', 'https://gameclipstransfer.xboxlive.com/clips/a b', /upload URI contains whitespace or control characters/],
    ])('Should refuse an upload-uri with %s before any connection (UPLOAD_TARGET_REFUSED)', async (name, uri, message) => {
      const uploadUri = typeof uri === 'string' ? uri : uri(relay.emulator.url);
      const requestsBefore = relay.emulator.requests.length;
      const receipt = await relayBadTicket(name.replaceAll(/\W+/g, '-'), ticketWith({ 'upload-uri': uploadUri }), 100, 'UPLOAD_TARGET_REFUSED', message);
      // Only the good clip's three PUTs reached the emulator.
      expect(relay.emulator.requests.length - requestsBefore).toBe(3);
      // Whatever the URI carried as credentials stays out of the receipt.
      expect(JSON.stringify(receipt)).not.toContain('secret');
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('Events: hand-made S3 notifications to the splitter', () => {
    /** A well-formed ObjectCreated record for `key`, its key written into the event as given (no encoding). */
    function rawRecord(rawKey: string, overrides: { eventName?: string; size?: number; eTag?: string } = {}): S3EventRecord {
      const record = s3ObjectCreatedEvent({ bucket: bucket(), key: 'placeholder', size: overrides.size ?? 100, eTag: overrides.eTag ?? 'etag-raw', ...(overrides.eventName !== undefined && { eventName: overrides.eventName }) }).Records[0]!;
      record.s3.object.key = rawKey;
      return record;
    }

    /** Invokes the splitter and checks what no bad event may do: throw (Lambda would retry it) or enqueue blocks. */
    async function splitterSurvives(event: unknown): Promise<{ results: SplitResult[]; lines: LogLine[] }> {
      // Let the S3 event source finish splitting the clips earlier tests put, so only this
      // invocation's sends are counted below.
      await relay.stack.sources.splitter.flush();
      const cursor = logCursor(relay.logs);
      const before = sqsTraffic.messages.length;
      const results = await invokeSplitter(event);
      const sent = sqsTraffic.messages.slice(before).filter((m) => m.direction === 'sent' && m.queueUrl === relay.stack.queues.blocks.url);
      expect(sent).toStrictEqual([]);
      return { results, lines: cursor.lines().filter((l) => l.function === 'splitter') };
    }

    it.each<[name: string, event: () => unknown, names: RegExp]>([
      ['an empty object', () => ({}), /S3|Records/i],
      ['null', () => null, /S3|Records|event/i],
      ['Records that is not an array', () => ({ Records: 'ObjectCreated:Put' }), /S3|Records/i],
      ['an SQS event', () => ({ Records: [{ eventSource: 'aws:sqs', messageId: 'm-1', body: '{}' }] }), /s3\.bucket \/ s3\.object/],
      [
        'an EventBridge "Object Created" event',
        () => ({ version: '0', source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: bucket() }, object: { key: 'incoming/x.mp4', size: 1 } } }),
        /S3|Records|EventBridge/i,
      ],
    ])('Should log an error and return for an event that is not an S3 notification: %s', async (_name, event, names) => {
      const { results, lines } = await splitterSurvives(event());
      expect(results.every((r) => r.kind === 'ignored')).toBe(true);
      const problems = lines.filter(isProblemLevel);
      expect(problems.map((l) => JSON.stringify(l)).join('\n'), 'a WARN/ERROR line from the splitter').toMatch(names);
    });

    it.each<[name: string, record: () => unknown, problem: RegExp]>([
      ['a number', () => 42, /record has no s3\.bucket \/ s3\.object/],
      ['an s3 without bucket or object', () => ({ eventName: 'ObjectCreated:Put', s3: {} }), /record has no s3\.bucket \/ s3\.object/],
      ['a numeric key', () => ({ eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket() }, object: { key: 7 } } }), /record has no bucket name or object key/],
      ['no bucket name', () => ({ eventName: 'ObjectCreated:Put', s3: { bucket: {}, object: { key: 'incoming/x.mp4' } } }), /record has no bucket name or object key/],
      ['no eventName', () => ({ s3: { bucket: { name: bucket() }, object: { key: 'incoming/x.mp4' } } }), /event undefined is not ObjectCreated/],
      ['an ObjectRemoved:Delete', () => rawRecord('incoming/removed.mp4', { eventName: 'ObjectRemoved:Delete' }), /event ObjectRemoved:Delete is not ObjectCreated/],
    ])('Should log a malformed record (%s) by name and carry on', async (_name, record, problem) => {
      const { results, lines } = await splitterSurvives({ Records: [record()] });
      expect(results).toStrictEqual([{ kind: 'ignored', why: expect.stringMatching(problem) }]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'unusable S3 record', problem: expect.stringMatching(problem) }));
    });

    it('Should note an s3:TestEvent in the log and do nothing else', async () => {
      const { results, lines } = await splitterSurvives(s3TestEvent(bucket()));
      expect(results).toStrictEqual([]);
      expect(lines.filter((l) => l.level === 'ERROR')).toStrictEqual([]);
      expect(lines.map((l) => JSON.stringify(l)).join('\n'), 'a splitter line naming the TestEvent').toContain('s3:TestEvent');
    });

    it.each<[name: string, rawKey: string]>([
      ['a malformed % escape', 'incoming/bad%zz.mp4'],
      ['a lone %', 'incoming/100%.mp4'],
      ['a Latin-1 byte (%E9)', 'incoming/caf%E9.mp4'],
      ['an overlong UTF-8 "." (%C0%AE)', 'incoming/%C0%AE%C0%AE/x.mp4'],
      ['a UTF-16 surrogate (%ED%A0%80)', 'incoming/%ED%A0%80.mp4'],
      ['a truncated sequence (%E6%97)', 'incoming/%E6%97.mp4'],
    ])('Should log a key with %s as not URL-encoded UTF-8, naming the key', async (_name, rawKey) => {
      const { results, lines } = await splitterSurvives({ Records: [rawRecord(rawKey)] });
      expect(results).toStrictEqual([{ kind: 'ignored', why: `object key "${rawKey}" is not a valid URL-encoded UTF-8 key` }]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'unusable S3 record', problem: `object key "${rawKey}" is not a valid URL-encoded UTF-8 key` }));
    });

    it('Should decode a key with %, %25, %41 and + exactly once and commit the clip under its real key', async () => {
      const key = `incoming/pct/${++counter} 100% done %41%25%zz a+b.mp4`;
      const good = await putGoodClip(key);
      // What S3 writes for that key: % as %25, + as %2B, space as +.
      const event = s3ObjectCreatedEvent({ bucket: bucket(), key, size: good.body.length, eTag: await etagOf(key) });
      expect(event.Records[0]!.s3.object.key).toBe(`incoming/pct/${counter}+100%25+done+%2541%2525%25zz+a%2Bb.mp4`);
      const results = await invokeSplitter(event);
      expect(results).toStrictEqual([{ kind: 'enqueued', blocks: 3 }]);
      const receipt = await expectCommitted(good);
      expect(receipt.key).toBe(key);
      const receipts = await listReceiptKeys(`receipts/incoming/pct/${counter} `);
      expect(receipts).toStrictEqual([`receipts/${key}.json`]);
    });

    it('Should read + in an event key as a space, and %2B as a plus', async () => {
      const spaced = await putGoodClip(`incoming/plus/${++counter} two words.mp4`);
      const plussed = await putGoodClip(`incoming/plus/${counter}-one+two.mp4`);
      const event: S3Event = {
        Records: [rawRecord(`incoming/plus/${counter}+two+words.mp4`, { eTag: await etagOf(spaced.key), size: spaced.body.length }), rawRecord(`incoming/plus/${counter}-one%2Btwo.mp4`, { eTag: await etagOf(plussed.key), size: plussed.body.length })],
      };
      const results = await invokeSplitter(event);
      expect(results).toStrictEqual([{ kind: 'enqueued', blocks: 3 }, { kind: 'enqueued', blocks: 3 }]);
      await expectCommitted(spaced);
      await expectCommitted(plussed);
    });

    it('Should treat .. in a key as plain characters: the receipt lands at the literal key, nowhere else', async () => {
      const key = `incoming/../${++counter}-escape.mp4`;
      const good = await putGoodClip(key);
      const event = s3ObjectCreatedEvent({ bucket: bucket(), key, size: good.body.length, eTag: await etagOf(key) });
      expect(event.Records[0]!.s3.object.key).toBe(key);
      expect(await invokeSplitter(event)).toStrictEqual([{ kind: 'enqueued', blocks: 3 }]);
      expect((await expectCommitted(good)).key).toBe(key);
      expect(await listReceiptKeys(`receipts/${counter}-escape`)).toStrictEqual([]);
      expect(await listReceiptKeys(`receipts/incoming/../${counter}-escape`)).toStrictEqual([`receipts/${key}.json`]);
    });

    it('Should fail a deleted object with CLIP_MISSING, naming it, from the event alone', async () => {
      const cursor = logCursor(relay.logs);
      const key = nextKey('deleted');
      await relay.stack.s3.send(new DeleteObjectCommand({ Bucket: bucket(), Key: key }));
      const { results } = await splitterSurvives(s3ObjectCreatedEvent({ bucket: bucket(), key, size: 4321, eTag: '"etag-of-deleted"' }));
      expect(results).toStrictEqual([{ kind: 'rejected', code: 'CLIP_MISSING', message: `clip s3://${bucket()}/${key} no longer exists` }]);
      await expectRejectedClip(key, { size: 4321, etag: 'etag-of-deleted', code: 'CLIP_MISSING', message: /no longer exists/ }, cursor);
    });

    it('Should still relay the good record of an event whose other records are bad', async () => {
      const cursor = logCursor(relay.logs);
      const good = await putGoodClip();
      const deletedKey = nextKey('deleted-in-batch');
      const event = {
        Records: [
          42,
          rawRecord('incoming/bad%zz.mp4'),
          rawRecord('incoming/removed.mp4', { eventName: 'ObjectRemoved:Delete' }),
          rawRecord(deletedKey.replaceAll(' ', '+'), { size: 10, eTag: 'etag-gone' }),
          s3ObjectCreatedEvent({ bucket: bucket(), key: good.key, size: good.body.length, eTag: await etagOf(good.key) }).Records[0],
        ],
      };
      const results = await invokeSplitter(event);
      expect(results.map((r) => r.kind)).toStrictEqual(['ignored', 'ignored', 'ignored', 'rejected', 'enqueued']);
      await expectRejectedClip(deletedKey, { size: 10, etag: 'etag-gone', code: 'CLIP_MISSING', message: /no longer exists/ }, cursor);
      await expectCommitted(good);
      expect(cursor.lines().filter((l) => l.message === 'unusable S3 record')).toHaveLength(3);
    });
  });

  async function etagOf(key: string): Promise<string> {
    const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: bucket(), Prefix: key }));
    const object = listed.Contents?.find((o) => o.Key === key);
    if (object?.ETag === undefined) throw new Error(`no object ${key}`);
    return object.ETag;
  }

  async function listReceiptKeys(prefix: string): Promise<string[]> {
    const listed = await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: bucket(), Prefix: prefix }));
    return (listed.Contents ?? []).map((o) => o.Key!).sort();
  }

  // ---------------------------------------------------------------------------------------------
  describe('Messages: bad bodies on the blocks queue are settled at once, the rest of the batch goes through', () => {
    /** A clip stored outside incoming/ (so no splitter runs) and its three block messages, made as the splitter makes them. */
    async function goodBlocksOutsideIncoming(): Promise<{ good: GoodClip; messages: BlockMessage[] }> {
      const key = nextKey('good-direct', 'direct/');
      const size = 2 * BLOCK + 17;
      const body = clipBytes(size);
      const session = relay.emulator.openSession({ fileSize: size, expectedBlocks: 3 });
      const put = await relay.stack.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: key, Body: body }));
      const etag = (put.ETag ?? '').replaceAll('"', '');
      const plan = planBlocks({ fileSize: size, expectedBlocks: 3, maxBlockBytes: BLOCK });
      const now = new Date().toISOString();
      const messages = plan.blocks.map(
        (block): BlockMessage => ({
          v: BLOCK_MESSAGE_VERSION,
          clip: { bucket: bucket(), key, etag, size },
          ticket: { uploadUri: session.uploadUri, uploadId: session.uploadId, expectedBlocks: 3 },
          blockSize: plan.blockSize,
          blockNum: block.blockNum!,
          start: block.start,
          end: block.end,
          droppedAt: now,
          plannedAt: now,
        }),
      );
      return { good: { key, body, uploadId: session.uploadId }, messages };
    }

    /** A valid block message for a 10-byte clip that does not exist; rows break one thing in it. */
    const baseMessage = (key: string): BlockMessage => oneBlockMessage(bucket(), key, `${relay.emulator.url}/clips/never-opened`);

    /**
     * Sends the bad body in one SendMessageBatch with a good clip's three blocks, then checks the
     * bad one was deleted after a single delivery (one log line, gone from the queue, DLQ empty),
     * in the same fan-out invocation as some of the good blocks, and that the good clip committed.
     */
    async function sendBadWithGood(badBody: string, isLineAboutBad: (line: LogLine, badId: string) => boolean) {
      const cursor = logCursor(relay.logs);
      const { good, messages } = await goodBlocksOutsideIncoming();
      const queue = relay.stack.queues.blocks;
      const sent = await relay.stack.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: [
            { Id: 'bad', MessageBody: badBody },
            ...messages.map((m, i) => ({ Id: `good-${i}`, MessageBody: JSON.stringify(m) })),
          ],
        }),
      );
      expect(sent.Failed ?? []).toStrictEqual([]);
      const badId = sent.Successful!.find((s) => s.Id === 'bad')!.MessageId!;
      const line = await cursor.waitFor((l) => l.function === 'fan-out' && isLineAboutBad(l, badId));
      await waitForDeleted(relay.stack, queue, badId, 5_000);
      await expectCommitted(good);
      // One delivery: one line about it, and nothing went to the DLQ.
      expect(cursor.lines().filter((l) => l.function === 'fan-out' && isLineAboutBad(l, badId))).toHaveLength(1);
      expect(relay.stack.queueCounts(relay.stack.queues.blocksDlq)).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
      // (Whether SQS hands all four to one invocation is up to the pollers; the test below makes one batch by hand.)
      return { line, badId, cursor };
    }

    const droppedLine = (line: LogLine, badId: string) => line.message === 'block message dropped' && line.messageId === badId;

    type Unidentifiable = [name: string, body: string | (() => string), problem: RegExp];
    it.each<Unidentifiable>([
      ['not JSON', '{"v":1,"clip":', /^message body is not JSON$/],
      ['whitespace only', '   ', /^message body is not JSON$/],
      ['a JSON array', '[1,2,3]', /^block message \(version 2\): /],
      ['a JSON string', '"incoming/clip.mp4"', /^block message \(version 2\): /],
      ['JSON null', 'null', /^block message \(version 2\): /],
      ['a message with no clip', () => JSON.stringify({ ...baseMessage('x'), clip: undefined }), /^block message \(version 2\): .*clip/],
      ['a clip whose size is a string', () => JSON.stringify({ ...baseMessage('incoming/size-string.mp4'), clip: { bucket: bucket(), key: 'incoming/size-string.mp4', etag: 'e', size: '10' } }), /^block message \(version 2\): .*size/],
    ])('Should drop a block message that names no clip (%s) at once, logging why', async (_name, body, problem) => {
      const { line } = await sendBadWithGood(typeof body === 'string' ? body : body(), droppedLine);
      expect(line).toMatchObject({ level: 'ERROR', reason: { code: 'MESSAGE_INVALID', message: expect.stringMatching(problem) } });
    });

    type Identifiable = [name: string, breakIt: (m: BlockMessage) => unknown, problem: RegExp];
    it.each<Identifiable>([
      ['an unknown version (v: 0)', (m) => ({ ...m, v: 0 }), /\bv\b/],
      ['no version', (m) => ({ ...m, v: undefined }), /\bv\b/],
      ['a missing uploadId', (m) => ({ ...m, ticket: { ...m.ticket, uploadId: undefined } }), /uploadId/],
      ['a missing uploadUri', (m) => ({ ...m, ticket: { ...m.ticket, uploadUri: undefined } }), /uploadUri/],
      ['no ticket', (m) => ({ ...m, ticket: undefined }), /ticket/],
      ['a version-1 message missing its uploadId', ({ ticket, ...m }) => ({ ...m, ...ticket, v: 1, uploadId: undefined }), /version 1.*uploadId/],
      ['start as a string', (m) => ({ ...m, start: '0' }), /start/],
      ['a negative blockNum', (m) => ({ ...m, blockNum: -1 }), /blockNum/],
      ['a fractional end', (m) => ({ ...m, end: 9.5 }), /end/],
      ['an unknown field', (m) => ({ ...m, authorization: 'XBL3.0 x=1;t' }), /authorization/],
      ['CR/LF in its uploadUri (header injection)', (m) => ({ ...m, ticket: { ...m.ticket, uploadUri: `${m.ticket.uploadUri}\r\nX-Injected: 1` } }), /has control characters;.*ticket\.uploadUri/],
      ['a NUL byte in its uploadUri', (m) => ({ ...m, ticket: { ...m.ticket, uploadUri: `${m.ticket.uploadUri}\u0000.evil.example` } }), /has control characters;.*ticket\.uploadUri/],
      ['a range past the end of the object', (m) => ({ ...m, end: 20 }), /range \[0, 20\) is outside the 10-byte clip/],
      ['an empty range', (m) => ({ ...m, start: 5, end: 5 }), /range \[5, 5\) is outside the 10-byte clip/],
    ])('Should drop a block message with %s at once and fail its clip with a receipt naming the problem', async (name, breakIt, problem) => {
      const key = nextKey(`message-${name.replaceAll(/\W+/g, '-')}`);
      const body = JSON.stringify(breakIt(baseMessage(key)));
      const { line, cursor } = await sendBadWithGood(body, droppedLine);
      expect(line).toMatchObject({ level: 'ERROR', reason: { code: 'MESSAGE_INVALID', message: expect.stringMatching(problem) } });
      // The clip is named in the message: it ends with a failed receipt, as every identifiable clip must.
      const receipt = await receiptOrDiagnosis(key, 3_000, cursor);
      expect(receipt).toMatchObject({ status: 'failed', bucket: bucket(), key, etag: baseMessage(key).clip.etag, reason: { code: 'MESSAGE_INVALID' } });
      expect(receipt.reason?.message).toMatch(problem);
    });

    it.each<[name: string, uploadUri: (emulatorUrl: string) => string, problem: RegExp]>([
      ['a space', (url) => `${url}/clips/a b`, /upload URI contains whitespace or control characters/],
      ['a host outside the allowlist', () => 'https://evil.example/clips/forged', /host evil\.example is not in the allowlist/],
    ])('Should fail a block whose uploadUri has %s without a request, and settle it at once', async (_name, uploadUri, problem) => {
      const key = nextKey('forged-target');
      const requestsBefore = relay.emulator.requests.length;
      const { cursor } = await sendBadWithGood(JSON.stringify({ ...baseMessage(key), ticket: { ...baseMessage(key).ticket, uploadUri: uploadUri(relay.emulator.url) } }), (l) => l.message === 'block failed' && l.key === key);
      const receipt = await receiptOrDiagnosis(key, 5_000, cursor);
      expect(receipt).toMatchObject({ status: 'failed', key, attempts: 1, blockNum: 0, reason: { code: 'UPLOAD_TARGET_REFUSED' } });
      expect(receipt.reason?.message).toMatch(problem);
      expect(receipt.uploadUri).not.toMatch(/[\r\n\u0000]/);
      expect(cursor.lines()).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'block failed', key, reason: receipt.reason }));
      // Only the good clip's three PUTs reached the emulator.
      expect(relay.emulator.requests.length - requestsBefore).toBe(3);
    });

    it('Should settle every bad record of one batch, return the one newer than this build, and send the good ones in the same invocation', async () => {
      const cursor = logCursor(relay.logs);
      const { good, messages } = await goodBlocksOutsideIncoming();
      const newerKey = nextKey('batch-v3');
      const bodies = [
        '{"v":1,"clip":',
        '[1,2,3]',
        JSON.stringify({ ...baseMessage(nextKey('batch-v0')), v: 0 }),
        JSON.stringify({ ...baseMessage(nextKey('batch-range')), end: 20 }),
        // Written by a newer splitter during a deploy: back to SQS for an updated fan-out, not failed.
        JSON.stringify({ ...baseMessage(newerKey), v: 3 }),
        ...messages.map((m) => JSON.stringify(m)),
      ];
      const now = String(Date.now());
      const records = bodies.map((body, i) =>
        toLambdaSqsRecord(
          {
            MessageId: `hand-made-${counter}-${i}`,
            ReceiptHandle: `hand-made-handle-${counter}-${i}`,
            Body: body,
            MD5OfBody: createHash('md5').update(body).digest('hex'),
            Attributes: { ApproximateReceiveCount: '1', SentTimestamp: now, SenderId: 'AIDAEXAMPLE', ApproximateFirstReceiveTimestamp: now },
          },
          { eventSourceARN: relay.stack.queues.blocks.arn, awsRegion: relay.stack.region },
        ),
      );
      const response = await relay.stack.handlers.fanOut({ Records: records } as unknown as SQSEvent, createLambdaContext({ functionName: 'fan-out', timeoutSeconds: 5 }));
      expect(response).toStrictEqual({ batchItemFailures: [{ itemIdentifier: records[4]!.messageId }] });
      await expectCommitted(good);
      const lines = cursor.lines().filter((l) => l.function === 'fan-out');
      for (const record of records.slice(0, 4)) {
        expect(lines.filter((l) => l.message === 'block message dropped' && l.messageId === record.messageId), record.body).toHaveLength(1);
      }
      expect(lines.filter((l) => l.messageId === records[4]!.messageId)).toStrictEqual([
        expect.objectContaining({ level: 'WARN', message: 'block message newer than this build: back to the queue', version: 3, key: newerKey }),
      ]);
      expect(await relay.stack.s3.send(new ListObjectsV2Command({ Bucket: bucket(), Prefix: `${relay.stack.config.receiptsPrefix}${newerKey}` }))).toMatchObject({ KeyCount: 0 });
      const invocation = lines.find((l) => l.message === 'block message dropped')?.function_request_id;
      expect(lines.filter((l) => l.message === 'block answered' && l.key === good.key).map((l) => l.function_request_id)).toStrictEqual([invocation, invocation, invocation]);
    });

    it('Should drop an unreadable outcome at once without poisoning the FIFO queue', async () => {
      const cursor = logCursor(relay.logs);
      const good = await putGoodClip();
      const sent = await relay.stack.sqs.send(
        new SendMessageCommand({ QueueUrl: relay.stack.queues.outcomes.url, MessageBody: '{"v":1,"status":"committed"', MessageGroupId: 'bad-input', MessageDeduplicationId: `bad-${counter}` }),
      );
      const line = await cursor.waitFor((l) => l.function === 'finalizer' && l.message === 'outcome message dropped' && l.messageId === sent.MessageId);
      expect(line).toMatchObject({ level: 'ERROR', reason: { code: 'MESSAGE_INVALID', message: 'message body is not JSON' } });
      await waitForDeleted(relay.stack, relay.stack.queues.outcomes, sent.MessageId!, 5_000);
      await expectCommitted(good);
      expect(relay.stack.queueCounts(relay.stack.queues.outcomesDlq)).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    });

    it('Should replace a corrupt receipt when its clip commits, logging and counting it, and poison nothing', async () => {
      const cursor = logCursor(relay.logs);
      const key = nextKey('corrupt-receipt', 'incoming/good/');
      const where = `${relay.stack.config.receiptsPrefix}${key}.json`;
      await relay.stack.s3.send(new PutObjectCommand({ Bucket: bucket(), Key: where, Body: '{"receiptVersion":1,"status":"commi' }));
      const corruptBefore = relay.stack.metrics.totals.get('CorruptReceipts')?.sum ?? 0;
      const good = await putGoodClip(key);
      const line = await cursor.waitFor((l) => l.function === 'finalizer' && l.message === 'receipt corrupt: replacing it' && l.key === key, 20_000);
      expect(line).toMatchObject({ level: 'ERROR', receiptKey: where, reason: { code: 'RECEIPT_INVALID', message: expect.stringMatching(/^receipt is not JSON: /) } });
      await cursor.waitFor((l) => l.function === 'finalizer' && l.message === 'receipt written' && l.key === key, 20_000);
      await expectCommitted(good);
      expect((relay.stack.metrics.totals.get('CorruptReceipts')?.sum ?? 0) - corruptBefore).toBe(1);
      expect(relay.stack.queueCounts(relay.stack.queues.outcomesDlq)).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    });

    it('Should drop an unreadable dead letter at once, logging why', async () => {
      const cursor = logCursor(relay.logs);
      const sent = await relay.stack.sqs.send(new SendMessageCommand({ QueueUrl: relay.stack.queues.blocksDlq.url, MessageBody: 'not json at all' }));
      const line = await cursor.waitFor((l) => l.function === 'dead-letter' && l.message === 'block message dropped' && l.messageId === sent.MessageId);
      expect(line).toMatchObject({ level: 'ERROR', reason: { code: 'MESSAGE_INVALID', message: 'message body is not JSON' } });
      await waitForDeleted(relay.stack, relay.stack.queues.blocksDlq, sent.MessageId!, 5_000);
    });

    it('Should fail the clip named in a dead letter newer than this build, with a receipt: the DLQ is the last stop', async () => {
      const cursor = logCursor(relay.logs);
      const key = nextKey('dead-letter-v3');
      const sent = await relay.stack.sqs.send(new SendMessageCommand({ QueueUrl: relay.stack.queues.blocksDlq.url, MessageBody: JSON.stringify({ ...baseMessage(key), v: 3 }) }));
      await cursor.waitFor((l) => l.function === 'dead-letter' && l.messageId === sent.MessageId);
      await waitForDeleted(relay.stack, relay.stack.queues.blocksDlq, sent.MessageId!, 5_000);
      const receipt = await receiptOrDiagnosis(key, 3_000, cursor);
      expect(receipt).toMatchObject({ status: 'failed', key, reason: { code: 'MESSAGE_INVALID', message: 'block message version 3 is newer than this build (it reads versions 1 to 2), and the dead-letter queue is its last stop' } });
    });
  });

  // ---------------------------------------------------------------------------------------------
  describe('Clips that look alike: same bytes, so the same ETag, at two keys', () => {
    it.each<[name: string, status: 'committed' | 'failed', ticket: 'good' | 'bad']>([
      ['two good clips', 'committed', 'good'],
      ['two clips with the same bad ticket', 'failed', 'bad'],
    ])('Should give each of %s its own %s receipt', async (_name, status, ticket) => {
      const cursor = logCursor(relay.logs);
      const body = clipBytes(500);
      const keys = [nextKey('twin-a'), nextKey('twin-b')];
      const sessions = keys.map(() => relay.emulator.openSession({ fileSize: body.length }));
      await Promise.all(
        keys.map((key, i) =>
          relay.stack.s3.send(
            new PutObjectCommand({
              Bucket: bucket(),
              Key: key,
              Body: body,
              Metadata: ticket === 'good' ? ticketMetadata({ uploadUri: sessions[i]!.uploadUri, uploadId: sessions[i]!.uploadId }) : { 'upload-id': 'no-uri' },
            }),
          ),
        ),
      );
      const receipts = [await receiptOrDiagnosis(keys[0]!, 5_000, cursor), await receiptOrDiagnosis(keys[1]!, 5_000, cursor)];
      expect(receipts.map((r) => [r.key, r.status])).toStrictEqual(keys.map((key) => [key, status]));
      expect(receipts[0]!.etag).toBe(receipts[1]!.etag);
    });
  });

  // ---------------------------------------------------------------------------------------------
  it('Should end with every queue and DLQ empty, no failed invocation, and no line that is not Powertools JSON', async () => {
    for (const queue of Object.values(relay.stack.queues)) await waitForEmptyQueue(relay.stack, queue);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const queue of Object.values(relay.stack.queues)) {
      expect(relay.stack.queueCounts(queue), queue.name).toStrictEqual({ ready: 0, inflight: 0, delayed: 0 });
    }
    expect(relay.stack.sources.splitter.stats).toMatchObject({ errors: 0, failedEvents: 0, timeouts: 0 });
    for (const source of [relay.stack.sources.fanOut, relay.stack.sources.finalizer, relay.stack.sources.deadLetter]) {
      expect(source.stats).toMatchObject({ errors: 0, timeouts: 0 });
    }
    expect(relay.logs.filter((line) => line.includes('invocation failed'))).toStrictEqual([]);
  });
});
