import { connect } from 'node:net';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  startTransferEmulator,
  type TransferEmulator,
  type UploadSession,
} from '../../../local/emulator/transfer-service.ts';
import { emulatorClient, putUrl, type Answer } from '../../helpers/emulator-client.ts';

const TOKEN = 'XBL3.0 x=1234567890;secret-token-value';
const { HEADERS, put } = emulatorClient({ authorization: TOKEN });

function errorCode(answer: Answer): string | undefined {
  return answer.text === '' ? undefined : (JSON.parse(answer.text) as { errorCode: string }).errorCode;
}

function withoutHeader(name: string): Record<string, string> {
  const headers = { ...HEADERS };
  delete headers[name];
  return headers;
}

/** Sends raw HTTP/1.1 text on a fresh socket and returns the status and body of the answer. */
function rawExchange(baseUrl: string, head: string, body = ''): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(head + body));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const statusLine = text.slice(0, text.indexOf('\r\n'));
      resolve({ status: Number(statusLine.split(' ')[1]), body: split < 0 ? '' : text.slice(split + 4) });
    });
  });
}

function rawHead(session: UploadSession, blockNum: number, lines: string[]): string {
  const { pathname, search, host } = new URL(putUrl(session, blockNum));
  const headerLines = Object.entries(HEADERS).map(([name, value]) => `${name}: ${value}`);
  return [`PUT ${pathname}${search} HTTP/1.1`, `Host: ${host}`, ...headerLines, 'Connection: close', ...lines, '', ''].join('\r\n');
}

function bytes(length: number, seed: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, index) => (index * 31 + seed) % 256));
}

describe('Function: startTransferEmulator', () => {
  let emulator: TransferEmulator;

  beforeEach(async () => {
    emulator = await startTransferEmulator({ authorization: TOKEN });
  });

  afterEach(async () => {
    await emulator.close();
  });

  describe('uploads', () => {
    it('Should commit a 3-block upload sent in shuffled order', async () => {
      // Prepare
      const source = bytes(2500, 7);
      const session = emulator.openSession({ expectedBlocks: 3, fileSize: 2500 });
      const blocks = [source.subarray(0, 1000), source.subarray(1000, 2000), source.subarray(2000)];

      // Act
      const statuses: number[] = [];
      for (const blockNum of [2, 0, 1]) {
        statuses.push((await put(putUrl(session, blockNum), blocks[blockNum] as Buffer)).status);
      }

      // Assess
      expect(statuses).toStrictEqual([202, 202, 201]);
      expect(emulator.committed(session.uploadId)).toStrictEqual(source);
      const stats = emulator.stats(session.uploadId);
      expect(stats.puts).toBe(3);
      expect(stats.putsByBlock).toStrictEqual(new Map([[2, 1], [0, 1], [1, 1]]));
      expect(stats.statuses).toStrictEqual([202, 202, 201]);
      expect(stats.committedAt).toBeTypeOf('number');
    });

    it('Should answer success without a body', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1));

      // Assess
      expect(answer.status).toBe(202);
      expect(answer.text).toBe('');
      expect(answer.headers['content-length']).toBe('0');
    });

    it('Should hand out an uploadId that needs URL-encoding and a uploadUri under /clips/', () => {
      // Act
      const session = emulator.openSession({ gameClipId: 'clip-1' });

      // Assess
      expect(session.uploadId).toMatch(/\+/);
      expect(session.uploadId).toMatch(/\//);
      expect(session.uploadId).toMatch(/=/);
      expect(session.uploadUri).toBe(`${emulator.url}/clips/clip-1`);
      expect(session.gameClipId).toBe('clip-1');
    });

    it('Should commit a single-PUT upload with 201', async () => {
      // Prepare
      const source = bytes(5000, 3);
      const session = emulator.openSession({ fileSize: 5000 });

      // Act
      const answer = await put(putUrl(session), source);

      // Assess
      expect(answer.status).toBe(201);
      expect(emulator.committed(session.uploadId)).toStrictEqual(source);
      expect(emulator.stats(session.uploadId).putsByBlock).toStrictEqual(new Map([[-1, 1]]));
    });

    it('Should reject a single PUT whose size differs from fileSize with 400 FileSizeMismatch', async () => {
      // Prepare
      const session = emulator.openSession({ fileSize: 5000 });

      // Act
      const answer = await put(putUrl(session), bytes(4999, 3));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('FileSizeMismatch');
      expect(emulator.committed(session.uploadId)).toBeUndefined();
    });

    it('Should take 8 parallel 2 MiB blocks and commit them in order', async () => {
      // Prepare
      const blockSize = 2_097_152;
      const source = Buffer.concat(Array.from({ length: 8 }, (_, index) => Buffer.alloc(blockSize, index + 1)));
      const session = emulator.openSession({ expectedBlocks: 8, fileSize: source.length });

      // Act
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, blockNum) =>
          put(putUrl(session, blockNum), source.subarray(blockNum * blockSize, (blockNum + 1) * blockSize)),
        ),
      );

      // Assess
      const statuses = answers.map((answer) => answer.status).sort((a, b) => a - b);
      expect(statuses).toStrictEqual([201, 202, 202, 202, 202, 202, 202, 202]);
      expect(emulator.committed(session.uploadId)?.equals(source)).toBe(true);
    });

    it('Should continue a PUT sent with Expect: 100-continue', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const response = await request(putUrl(session, 0), {
        method: 'PUT',
        headers: HEADERS,
        body: bytes(100, 1),
        expectContinue: true,
      });
      await response.body.dump();

      // Assess
      expect(response.statusCode).toBe(201);
      expect(emulator.committed(session.uploadId)).toStrictEqual(bytes(100, 1));
    });
  });

  describe('routing', () => {
    it('Should answer 405 MethodNotAllowed to a method other than PUT', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), Buffer.alloc(0), { method: 'GET' });

      // Assess
      expect(answer.status).toBe(405);
      expect(errorCode(answer)).toBe('MethodNotAllowed');
      expect(answer.headers.allow).toBe('PUT');
    });

    it('Should answer 404 NotFound to an unknown path', async () => {
      // Act
      const answer = await put(`${emulator.url}/uploads/abc?uploadId=x`, bytes(1, 1));

      // Assess
      expect(answer.status).toBe(404);
      expect(errorCode(answer)).toBe('NotFound');
    });

    it('Should answer 404 ClipNotFound to a clip without a session', async () => {
      // Act
      const answer = await put(`${emulator.url}/clips/no-such-clip?uploadId=x&blockNum=0`, bytes(1, 1));

      // Assess
      expect(answer.status).toBe(404);
      expect(errorCode(answer)).toBe('ClipNotFound');
    });

    it('Should answer 400 MissingUploadId without uploadId', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(`${session.uploadUri}?blockNum=0`, bytes(1, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('MissingUploadId');
    });

    it('Should answer 404 UploadNotFound to another uploadId', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });
      const other = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(`${session.uploadUri}?uploadId=${encodeURIComponent(other.uploadId)}&blockNum=0`, bytes(1, 1));

      // Assess
      expect(answer.status).toBe(404);
      expect(errorCode(answer)).toBe('UploadNotFound');
      expect(emulator.stats(session.uploadId).puts).toBe(0);
    });

    it('Should answer 404 UploadNotFound to an uploadId sent without URL-encoding', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(`${session.uploadUri}?uploadId=${session.uploadId}&blockNum=0`, bytes(1, 1));

      // Assess
      expect(answer.status).toBe(404);
      expect(errorCode(answer)).toBe('UploadNotFound');
    });
  });

  describe('blockNum', () => {
    it('Should answer 400 MissingBlockNum when a block session gets no blockNum', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 3 });

      // Act
      const answer = await put(putUrl(session), bytes(10, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('MissingBlockNum');
    });

    it.each(['3', '-1', '01', '1.0', 'x', '', '%2B1'])('Should answer 400 InvalidBlockNum to blockNum=%s', async (blockNum) => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 3 });

      // Act
      const answer = await put(putUrl(session, blockNum), bytes(10, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('InvalidBlockNum');
    });

    it('Should answer 400 UnexpectedBlockNum when a single-PUT session gets a blockNum', async () => {
      // Prepare
      const session = emulator.openSession({ fileSize: 10 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('UnexpectedBlockNum');
    });
  });

  describe('headers', () => {
    it('Should answer 401 MissingAuthorization without Authorization', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: withoutHeader('authorization') });

      // Assess
      expect(answer.status).toBe(401);
      expect(errorCode(answer)).toBe('MissingAuthorization');
    });

    it('Should answer 401 InvalidAuthorization to another token', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: { ...HEADERS, authorization: 'XBL3.0 x=1;stale' } });

      // Assess
      expect(answer.status).toBe(401);
      expect(errorCode(answer)).toBe('InvalidAuthorization');
    });

    it('Should answer 400 MissingServiceVersion without X-RequestedServiceVersion', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: withoutHeader('x-requestedserviceversion') });

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('MissingServiceVersion');
    });

    it('Should answer 400 UnsupportedServiceVersion to another service version', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: { ...HEADERS, 'x-requestedserviceversion': '2' } });

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('UnsupportedServiceVersion');
    });

    it.each(['content-type', 'accept', 'cache-control'])(
      'Should answer 400 MissingRequiredHeader without %s',
      async (name) => {
        // Prepare
        const session = emulator.openSession({ expectedBlocks: 1 });

        // Act
        const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: withoutHeader(name) });

        // Assess
        expect(answer.status).toBe(400);
        expect(errorCode(answer)).toBe('MissingRequiredHeader');
        expect(JSON.parse(answer.text)).toStrictEqual({
          errorCode: 'MissingRequiredHeader',
          errorMessage: `The ${name} header is required.`,
        });
      },
    );

    it('Should answer 406 NotAcceptable when Accept rules out JSON', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 1 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(10, 1), { headers: { ...HEADERS, accept: 'text/html' } });

      // Assess
      expect(answer.status).toBe(406);
      expect(errorCode(answer)).toBe('NotAcceptable');
    });
  });

  describe('body length', () => {
    it('Should answer 411 LengthRequired to a chunked body', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });
      const head = rawHead(session, 0, ['Transfer-Encoding: chunked']);

      // Act
      const answer = await rawExchange(emulator.url, head, 'a\r\n0123456789\r\n0\r\n\r\n');

      // Assess
      expect(answer.status).toBe(411);
      expect(JSON.parse(answer.body).errorCode).toBe('LengthRequired');
    });

    it('Should answer 411 LengthRequired without Content-Length', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });

      // Act
      const answer = await rawExchange(emulator.url, rawHead(session, 0, []));

      // Assess
      expect(answer.status).toBe(411);
      expect(JSON.parse(answer.body).errorCode).toBe('LengthRequired');
    });

    it('Should answer 413 RequestEntityTooLarge before any body byte is sent', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });

      // Act
      const answer = await rawExchange(emulator.url, rawHead(session, 0, ['Content-Length: 2097153']));

      // Assess
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).errorCode).toBe('RequestEntityTooLarge');
      expect(emulator.requests.at(-1)).toMatchObject({ status: 413, bytes: 0 });
    });

    it('Should answer 413 to an Expect: 100-continue PUT without taking its body, then serve the next PUT', async () => {
      // Prepare
      const small = await startTransferEmulator({ maxBlockBytes: 1024 });
      const session = small.openSession({ expectedBlocks: 2 });

      try {
        // Act
        const response = await request(putUrl(session, 0), {
          method: 'PUT',
          headers: HEADERS,
          body: bytes(2048, 1),
          expectContinue: true,
        });
        await response.body.dump();
        const next = await put(putUrl(session, 0), bytes(1024, 1));

        // Assess
        expect(response.statusCode).toBe(413);
        expect(next.status).toBe(202);
        expect(small.requests.map(({ status, bytes: read }) => ({ status, read }))).toStrictEqual([
          { status: 413, read: 0 },
          { status: 202, read: 1024 },
        ]);
      } finally {
        await small.close();
      }
    });

    it('Should answer 400 EmptyBody to an empty block', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });

      // Act
      const answer = await put(putUrl(session, 0), Buffer.alloc(0));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('EmptyBody');
    });
  });

  describe('layout', () => {
    it('Should answer 400 BlockLayoutMismatch to a block size that cannot split fileSize into expectedBlocks', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 3, fileSize: 10 });

      // Act
      const answer = await put(putUrl(session, 0), bytes(3, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('BlockLayoutMismatch');
      expect(emulator.stats(session.uploadId).statuses).toStrictEqual([400]);
    });

    it('Should answer 400 BlockLayoutMismatch to blocks of different sizes', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 3 });
      await put(putUrl(session, 0), bytes(100, 1));

      // Act
      const answer = await put(putUrl(session, 1), bytes(99, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('BlockLayoutMismatch');
    });

    it('Should answer 400 BlockLayoutMismatch to a last block larger than the others', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });
      await put(putUrl(session, 0), bytes(100, 1));

      // Act
      const answer = await put(putUrl(session, 1), bytes(101, 1));

      // Assess
      expect(answer.status).toBe(400);
      expect(errorCode(answer)).toBe('BlockLayoutMismatch');
    });

    it('Should accept a re-sent block with the same bytes again with 202', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });
      await put(putUrl(session, 0), bytes(100, 1));

      // Act
      const answer = await put(putUrl(session, 0), bytes(100, 1));

      // Assess
      expect(answer.status).toBe(202);
      expect(emulator.stats(session.uploadId).putsByBlock).toStrictEqual(new Map([[0, 2]]));
    });

    it('Should answer 409 BlockConflict to different bytes for a received block', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2 });
      await put(putUrl(session, 0), bytes(100, 1));

      // Act
      const answer = await put(putUrl(session, 0), bytes(100, 2));

      // Assess
      expect(answer.status).toBe(409);
      expect(errorCode(answer)).toBe('BlockConflict');
    });
  });

  describe('after the commit', () => {
    it.each([
      { afterCommit: undefined, status: 201, code: undefined },
      { afterCommit: 201 as const, status: 201, code: undefined },
      { afterCommit: 409 as const, status: 409, code: 'UploadAlreadyCommitted' },
      { afterCommit: 410 as const, status: 410, code: 'UploadCompleted' },
    ])('Should answer a re-sent block $status when afterCommit is $afterCommit', async ({ afterCommit, status, code }) => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2, faults: { afterCommit } });
      await put(putUrl(session, 0), bytes(100, 1));
      await put(putUrl(session, 1), bytes(50, 1));

      // Act
      const answer = await put(putUrl(session, 0), bytes(100, 1));

      // Assess
      expect(answer.status).toBe(status);
      expect(errorCode(answer)).toBe(code);
      expect(emulator.stats(session.uploadId).statuses).toStrictEqual([202, 201, status]);
    });
  });

  describe('request log', () => {
    it('Should log method, path, blockNum, bytes and status but no header or query value', async () => {
      // Prepare
      const session = emulator.openSession({ expectedBlocks: 2, gameClipId: 'clip-log' });

      // Act
      await put(putUrl(session, 1), bytes(40, 1));
      await put(putUrl(session, 0), bytes(40, 1), { headers: { ...HEADERS, authorization: 'XBL3.0 x=1;wrong-token' } });

      // Assess
      const logged = emulator.requests.map(({ at, startedAt, ...rest }) => {
        expect(startedAt).toBeLessThanOrEqual(at);
        return rest;
      });
      expect(logged).toStrictEqual([
        { method: 'PUT', path: '/clips/clip-log', blockNum: 1, bytes: 40, status: 202 },
        { method: 'PUT', path: '/clips/clip-log', bytes: 0, status: 401 },
      ]);
      const text = JSON.stringify(emulator.requests);
      expect(text).not.toContain('secret-token-value');
      expect(text).not.toContain('wrong-token');
      expect(text).not.toContain(session.uploadId);
      expect(text).not.toContain(encodeURIComponent(session.uploadId));
    });
  });

  describe('options', () => {
    it('Should refuse unknown option keys', async () => {
      // Act
      const starting = startTransferEmulator({ maxBlockByte: 10 } as never);

      // Assess
      await expect(starting).rejects.toThrow(new TypeError('Unknown emulator option(s): maxBlockByte'));
    });

    it('Should refuse an impossible session', () => {
      // Act
      const opening = (): UploadSession => emulator.openSession({ expectedBlocks: 0 });

      // Assess
      expect(opening).toThrow(new RangeError('expectedBlocks must be an integer in 1..4294967295, got 0'));
    });
  });
});
