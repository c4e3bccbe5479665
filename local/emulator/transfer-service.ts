import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type UploadFaults, validateFaults } from './faults.ts';
import { MAX_FILE_BYTES } from './layout.ts';
import { createPutHandler, type RequestRecord } from './put-handler.ts';
import { errorReply } from './reply.ts';
import { clipPath } from './routes.ts';
import { type SessionStats, UploadSessionState } from './upload-session-state.ts';

export type { BlockFaults, DropFault, FaultAnswer, RedirectFault, StallFault, StatusFault, UploadFaults } from './faults.ts';
export { SINGLE_PUT_BLOCK } from './faults.ts';
export type { RequestRecord } from './put-handler.ts';
export type { ServiceErrorResponse } from './reply.ts';
export { clipPath, movedClipPath } from './routes.ts';
export type { SessionStats } from './upload-session-state.ts';

/** How to start the emulator. */
export interface EmulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** When set, a PUT whose Authorization header differs gets 401. */
  authorization?: string;
  /** The block size cap; a larger Content-Length on a block PUT gets 413. Default 2,097,152. */
  maxBlockBytes?: number;
  /** The expected X-RequestedServiceVersion. Default '1'. */
  serviceVersion?: string;
}

/** How to open one upload session (what the InitialUploadRequest would carry). */
export interface OpenSessionOptions {
  /** Block upload when set (blockNum required); single-PUT upload when absent. */
  expectedBlocks?: number;
  /** Checked against the blocks' sizes (and the single PUT) when set. */
  fileSize?: number;
  /** Default: a random UUID. */
  gameClipId?: string;
  faults?: UploadFaults;
}

/** A session's coordinates, as the InitialUploadResponse hands them out. */
export interface UploadSession {
  /** `${url}/clips/${gameClipId}`; the same session is also served under `/moved/clips/`. */
  uploadUri: string;
  /** Random, base64-like, always holding '+', '/' and '=' so that callers must URL-encode it. */
  uploadId: string;
  gameClipId: string;
}

/** A running, strict local gameclipstransfer service. */
export interface TransferEmulator {
  /** Base URL, e.g. `http://127.0.0.1:54321`. */
  readonly url: string;
  /** Opens an upload session; throws a RangeError on impossible options. */
  openSession(options?: OpenSessionOptions): UploadSession;
  /** The committed file's bytes, undefined until the commit. Throws for an unknown uploadId. */
  committed(uploadId: string): Buffer | undefined;
  /** A snapshot of a session's counters. Throws for an unknown uploadId. */
  stats(uploadId: string): SessionStats;
  /** Every request handled, in the order answered; no header values, no query strings. */
  readonly requests: ReadonlyArray<RequestRecord>;
  /** Stops listening and destroys every open socket, stalled requests included. */
  close(): Promise<void>;
}

const DEFAULTS = { host: '127.0.0.1', port: 0, maxBlockBytes: 2_097_152, serviceVersion: '1' };
const OPTION_KEYS = new Set(['host', 'port', 'authorization', 'maxBlockBytes', 'serviceVersion']);
const SESSION_KEYS = new Set(['expectedBlocks', 'fileSize', 'gameClipId', 'faults']);

function rejectUnknownKeys(what: string, given: object, known: Set<string>): void {
  const unknown = Object.keys(given).filter((key) => !known.has(key));
  if (unknown.length > 0) throw new TypeError(`Unknown ${what} option(s): ${unknown.join(', ')}`);
}

function checkInteger(name: string, value: number | undefined, min: number, max: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

function newUploadId(): string {
  const text = randomBytes(18).toString('base64');
  // Random base64 need not contain every troublesome character; force '+', '/' and '='.
  return `${text.slice(0, 8)}+${text.slice(8, 16)}/${text.slice(16)}==`;
}

/**
 * Starts a strict emulator of the Xbox Live clip transfer service (block-upload PUTs) on
 * node:http. Sessions are opened locally with {@link TransferEmulator.openSession}; every PUT is
 * checked as PROTOCOL.md describes and answered with the status a real service would give.
 */
export async function startTransferEmulator(options: EmulatorOptions = {}): Promise<TransferEmulator> {
  rejectUnknownKeys('emulator', options, OPTION_KEYS);
  const settings = { ...DEFAULTS, ...options };
  checkInteger('maxBlockBytes', settings.maxBlockBytes, 1, MAX_FILE_BYTES);
  checkInteger('port', settings.port, 0, 65_535);

  const sessions = new Map<string, UploadSessionState>();
  const clips = new Set<string>();
  const requests: RequestRecord[] = [];
  const handler = createPutHandler({
    expectations: { authorization: settings.authorization, serviceVersion: settings.serviceVersion },
    maxBlockBytes: settings.maxBlockBytes,
    findSession(gameClipId, uploadId) {
      if (!clips.has(gameClipId)) return { reply: errorReply(404, 'ClipNotFound', `No upload session for clip ${gameClipId}.`) };
      const session = sessions.get(uploadId);
      if (session === undefined || session.shape.gameClipId !== gameClipId) {
        return { reply: errorReply(404, 'UploadNotFound', 'The uploadId matches no upload of this clip.') };
      }
      return { session };
    },
    record(entry) {
      requests.push(entry);
    },
  });

  const server = createServer();
  server.on('request', (req, res) => handler(req, res, false));
  server.on('checkContinue', (req, res) => handler(req, res, true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  const sessionOf = (uploadId: string): UploadSessionState => {
    const session = sessions.get(uploadId);
    if (session === undefined) throw new Error(`No upload session with uploadId ${uploadId}`);
    return session;
  };

  return {
    url,
    requests,
    openSession(sessionOptions = {}) {
      rejectUnknownKeys('session', sessionOptions, SESSION_KEYS);
      checkInteger('expectedBlocks', sessionOptions.expectedBlocks, 1, MAX_FILE_BYTES);
      checkInteger('fileSize', sessionOptions.fileSize, 0, MAX_FILE_BYTES);
      const faults = sessionOptions.faults ?? {};
      validateFaults(faults);
      const gameClipId = sessionOptions.gameClipId ?? randomUUID();
      const uploadId = newUploadId();
      sessions.set(
        uploadId,
        new UploadSessionState({
          uploadId,
          gameClipId,
          expectedBlocks: sessionOptions.expectedBlocks,
          fileSize: sessionOptions.fileSize,
          maxBlockBytes: settings.maxBlockBytes,
          faults,
        }),
      );
      clips.add(gameClipId);
      return { uploadUri: `${url}${clipPath(gameClipId)}`, uploadId, gameClipId };
    },
    committed(uploadId) {
      return sessionOf(uploadId).committed;
    },
    stats(uploadId) {
      const { puts, putsByBlock, statuses, committedAt } = sessionOf(uploadId).stats;
      const snapshot: SessionStats = { puts, putsByBlock: new Map(putsByBlock), statuses: [...statuses] };
      if (committedAt !== undefined) snapshot.committedAt = committedAt;
      return snapshot;
    },
    close() {
      return new Promise((resolve) => {
        if (!server.listening) {
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
