import type { IncomingMessage, ServerResponse } from 'node:http';
import { type FaultAction, SINGLE_PUT_BLOCK } from './faults.ts';
import { checkContentLength, checkRequiredHeaders, type HeaderExpectations } from './header-checks.ts';
import { MAX_FILE_BYTES } from './layout.ts';
import { readBlockNum, readUploadId } from './query-checks.ts';
import { holdWhileConnected, readBody } from './read-body.ts';
import { errorReply, type Reply, sendReply } from './reply.ts';
import { parseClipPath } from './routes.ts';
import type { UploadSessionState } from './upload-session-state.ts';

/** One handled request, as logged: no header values and no query (it holds the uploadId). */
export interface RequestRecord {
  method: string;
  /** The path without the query string. */
  path: string;
  /** The valid blockNum the PUT carried, if any. */
  blockNum?: number;
  /** Body bytes read. */
  bytes: number;
  /** The status answered; 0 when the PUT got no answer (dropped, or the client left). */
  status: number;
  /** `Date.now()` when the request was answered or abandoned. */
  at: number;
  /** `Date.now()` when the request arrived. */
  startedAt: number;
}

/** What the PUT handler needs from the emulator. */
export interface PutHandlerContext {
  expectations: HeaderExpectations;
  maxBlockBytes: number;
  /** The session for this clip path and uploadId, or the 404 to answer. */
  findSession(gameClipId: string, uploadId: string): { session: UploadSessionState } | { reply: Reply };
  record(entry: RequestRecord): void;
}

/** Handles one request; `expectsContinue` when it came with `Expect: 100-continue`. */
export type PutHandler = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => void;

interface Trace {
  session?: UploadSessionState;
  blockNum?: number | undefined;
  bytes: number;
  /** Whether `100 Continue` was sent, for a PUT that asked for it. */
  continued: boolean;
}

const NO_ANSWER = undefined;

/**
 * Builds the request handler. Checks run in this order, each answering as the real service
 * would: route (404), method (405), headers (401, 400, 406), uploadId (400), session (404),
 * `gone` (410), blockNum (400), length (411, 413, 400); then the session's faults, then the body
 * and the block itself (202, 201, 400, 409).
 */
export function createPutHandler(context: PutHandlerContext): PutHandler {
  return function handlePut(req, res, expectsContinue) {
    const url = new URL(req.url ?? '/', 'http://emulator.invalid');
    const trace: Trace = { bytes: 0, continued: false };
    const startedAt = Date.now();
    const finish = (status: number): void => {
      const entry: RequestRecord = { method: req.method ?? '', path: url.pathname, bytes: trace.bytes, status, at: Date.now(), startedAt };
      if (trace.blockNum !== undefined) entry.blockNum = trace.blockNum;
      context.record(Object.freeze(entry));
    };
    serve(context, req, res, url, expectsContinue, trace).then(
      (reply) => {
        if (reply === NO_ANSWER || req.socket.destroyed) {
          req.socket.destroy();
          finish(0);
          return;
        }
        // A client told to wait for 100 Continue never sends the body: reusing the socket would misparse.
        const close = reply.close === true || (expectsContinue && !trace.continued);
        sendReply(res, { ...reply, close });
        trace.session?.stats.statuses.push(reply.status);
        finish(reply.status);
      },
      (error: unknown) => {
        if (!res.headersSent && !req.socket.destroyed) {
          sendReply(res, errorReply(500, 'InternalServerError', `Emulator failure: ${String(error)}`, { close: true }));
          finish(500);
        } else {
          req.socket.destroy();
          finish(0);
        }
      },
    );
  };
}

async function serve(
  context: PutHandlerContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  expectsContinue: boolean,
  trace: Trace,
): Promise<Reply | undefined> {
  const gameClipId = parseClipPath(url.pathname);
  if (gameClipId === undefined) return errorReply(404, 'NotFound', `No resource at ${url.pathname}.`);
  if (req.method !== 'PUT') {
    return errorReply(405, 'MethodNotAllowed', `${req.method} is not allowed; use PUT.`, { headers: { allow: 'PUT' } });
  }
  const headerProblem = checkRequiredHeaders(req.headers, context.expectations);
  if (headerProblem !== undefined) return headerProblem;
  const uploadId = readUploadId(url.searchParams);
  if ('reply' in uploadId) return uploadId.reply;
  const found = context.findSession(gameClipId, uploadId.value);
  if ('reply' in found) return found.reply;
  const session = found.session;
  trace.session = session;
  session.countPut();
  if (session.shape.faults.gone === true) return errorReply(410, 'UploadGone', 'This upload session is gone.');
  const blockNum = readBlockNum(url.searchParams, session.shape.expectedBlocks);
  if ('reply' in blockNum) return blockNum.reply;
  trace.blockNum = blockNum.value;
  session.countBlockPut(blockNum.value);
  const limit = blockNum.value === undefined ? MAX_FILE_BYTES : context.maxBlockBytes;
  const length = checkContentLength(req.headers, limit);
  if ('reply' in length) return length.reply;

  const fault = session.faults.next(blockNum.value ?? SINGLE_PUT_BLOCK, length.length);
  const readAll = async (): Promise<Buffer | Reply | undefined> => {
    continueBody(res, expectsContinue, trace);
    const read = await readBody(req, length.length);
    trace.bytes = read.kind === 'complete' ? read.bytes.length : read.received;
    if (read.kind === 'complete') return read.bytes;
    if (read.kind === 'gone') return NO_ANSWER;
    return errorReply(400, 'BodyLengthMismatch', `The body must hold Content-Length (${length.length}) bytes.`);
  };
  const receive = (body: Buffer): Reply => session.receive(blockNum.value, body);
  if (fault === undefined) {
    const body = await readAll();
    return Buffer.isBuffer(body) ? receive(body) : body;
  }
  return applyFault(fault, { req, res, url, expectsContinue, trace, readAll, receive });
}

function continueBody(res: ServerResponse, expectsContinue: boolean, trace: Trace): void {
  if (!expectsContinue || trace.continued) return;
  res.writeContinue();
  trace.continued = true;
}

interface FaultScope {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  expectsContinue: boolean;
  trace: Trace;
  /** Reads the whole body; a Reply or undefined (client gone) when that failed. */
  readAll(): Promise<Buffer | Reply | undefined>;
  /** Handles the block normally. */
  receive(body: Buffer): Reply;
}

async function applyFault(fault: FaultAction, scope: FaultScope): Promise<Reply | undefined> {
  const { req, trace } = scope;
  switch (fault.kind) {
    case 'status': {
      const body = await scope.readAll();
      if (!Buffer.isBuffer(body)) return body;
      if (fault.afterMs !== undefined && !(await holdWhileConnected(req, fault.afterMs))) return NO_ANSWER;
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
      const defaultBody =
        fault.status >= 400 ? { errorCode: 'InjectedFault', errorMessage: `Scripted ${fault.status} answer.` } : undefined;
      return { status: fault.status, headers, body: fault.body ?? defaultBody };
    }
    case 'redirect': {
      const body = await scope.readAll();
      if (!Buffer.isBuffer(body)) return body;
      const appendQuery = fault.keepQuery && !fault.location.includes('?');
      return { status: fault.status, headers: { location: appendQuery ? fault.location + scope.url.search : fault.location } };
    }
    case 'drop': {
      if (fault.processFirst) {
        const body = await scope.readAll();
        if (Buffer.isBuffer(body)) scope.receive(body);
      } else if (fault.afterBytes > 0) {
        continueBody(scope.res, scope.expectsContinue, trace);
        const length = Number(req.headers['content-length']);
        const read = await readBody(req, length, fault.afterBytes);
        trace.bytes = read.kind === 'complete' ? read.bytes.length : read.received;
      }
      req.socket.destroy();
      return NO_ANSWER;
    }
    case 'stall': {
      const body = await scope.readAll();
      if (!Buffer.isBuffer(body)) return body;
      const early = fault.processFirst ? scope.receive(body) : undefined;
      if (!(await holdWhileConnected(req, fault.ms))) return NO_ANSWER;
      return early ?? scope.receive(body);
    }
  }
}
