import { randomInt } from 'node:crypto';
import { mulberry32 } from './prng.ts';

/** The `blocks` key that scripts the answers of a single-PUT upload (one without blockNum). */
export const SINGLE_PUT_BLOCK = -1;

/** Answer with this status (and optional Retry-After and JSON body) instead of handling the PUT. */
export interface StatusFault {
  status: number;
  retryAfter?: string;
  /** Defaults to a ServiceErrorResponse with errorCode `InjectedFault` for statuses >= 400. */
  body?: object;
  /** Answer this long after the body was read (default at once). */
  afterMs?: number;
}

/** Destroy the socket without answering. */
export interface DropFault {
  drop: true;
  /** Body bytes to read before dropping; default 0 (drop as soon as the headers are in). */
  afterBytes?: number;
  /** Read the whole body and handle the block normally (it may commit), then drop: a lost answer. */
  processFirst?: boolean;
}

/** Hold the answer for `stallMs` after reading the body; never answer if the client leaves. */
export interface StallFault {
  stallMs: number;
  /**
   * false (default): wait, then handle the block normally; a client that left meanwhile changes
   * nothing. true: handle the block at once (it may commit) and hold only the answer.
   */
  processFirst?: boolean;
}

/** Answer a redirect (default 307) to `redirectTo`, an absolute URL or a path on this emulator. */
export interface RedirectFault {
  redirectTo: string;
  status?: 301 | 302 | 307 | 308;
  /** Append the request's query to a target without one, so the client re-sends it as is; default true. */
  keepQuery?: boolean;
}

/** One scripted answer, consumed by one PUT of its block. */
export type FaultAnswer = StatusFault | DropFault | StallFault | RedirectFault;

/** Scripted answers for one block, keyed in {@link UploadFaults.blocks} by blockNum. */
export interface BlockFaults {
  /** Consumed one per PUT of that block, in order, before normal handling. */
  answers?: FaultAnswer[];
}

/** A session's failure script, plain data. */
export interface UploadFaults {
  /** Keyed by blockNum; {@link SINGLE_PUT_BLOCK} (-1) for a single-PUT upload. */
  blocks?: Record<number, BlockFaults>;
  /** Every PUT of the session answers 410. */
  gone?: boolean;
  /** 0..1: share of PUTs answered 503 with `Retry-After: 0`. */
  failureRate?: number;
  /** Seed of the PRNG behind the rates; random when absent. */
  seed?: number;
  /** What a block re-sent after the commit gets; default 201. */
  afterCommit?: 201 | 409 | 410 | undefined;
  /** 0..1: share of PUTs whose socket is destroyed mid-body. */
  dropRate?: number;
}

/** A fault normalised for the request handler. */
export type FaultAction =
  | { kind: 'status'; status: number; retryAfter?: string | undefined; body?: object | undefined; afterMs?: number | undefined }
  | { kind: 'drop'; afterBytes: number; processFirst: boolean }
  | { kind: 'stall'; ms: number; processFirst: boolean }
  | { kind: 'redirect'; status: 301 | 302 | 307 | 308; location: string; keepQuery: boolean };

/** Decides, PUT by PUT, which fault (if any) hits a session. */
export interface FaultPicker {
  /** The fault for this PUT of `blockNum` (a body of `contentLength` bytes), or undefined. */
  next(blockNum: number, contentLength: number): FaultAction | undefined;
}

function toAction(answer: FaultAnswer): FaultAction {
  if ('drop' in answer) {
    return { kind: 'drop', afterBytes: answer.afterBytes ?? 0, processFirst: answer.processFirst ?? false };
  }
  if ('stallMs' in answer) return { kind: 'stall', ms: answer.stallMs, processFirst: answer.processFirst ?? false };
  if ('redirectTo' in answer) {
    return {
      kind: 'redirect',
      status: answer.status ?? 307,
      location: answer.redirectTo,
      keepQuery: answer.keepQuery ?? true,
    };
  }
  return { kind: 'status', status: answer.status, retryAfter: answer.retryAfter, body: answer.body, afterMs: answer.afterMs };
}

function checkRate(name: string, rate: number | undefined): void {
  if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new RangeError(`faults.${name} must be in 0..1, got ${rate}`);
}

/** Validates a failure script, throwing a RangeError on values the emulator cannot honour. */
export function validateFaults(faults: UploadFaults): void {
  checkRate('failureRate', faults.failureRate);
  checkRate('dropRate', faults.dropRate);
  for (const [key, block] of Object.entries(faults.blocks ?? {})) {
    if (!Number.isInteger(Number(key)) || Number(key) < SINGLE_PUT_BLOCK) {
      throw new RangeError(`faults.blocks key must be a blockNum or ${SINGLE_PUT_BLOCK}, got ${key}`);
    }
    for (const answer of block.answers ?? []) {
      const action = toAction(answer);
      if (action.kind === 'status' && !(Number.isInteger(action.status) && action.status >= 200 && action.status <= 599)) {
        throw new RangeError(`faults.blocks[${key}] has an invalid status ${action.status}`);
      }
    }
  }
}

/**
 * Builds the picker for one session: a block's scripted answers first, then `failureRate` (one
 * PRNG draw per PUT while set), then `dropRate` (another draw). Scripted answers draw nothing,
 * so a seed gives the same sequence whatever the script.
 */
export function createFaultPicker(faults: UploadFaults = {}): FaultPicker {
  const queues = new Map<number, FaultAnswer[]>();
  for (const [key, block] of Object.entries(faults.blocks ?? {})) queues.set(Number(key), [...(block.answers ?? [])]);
  const random = mulberry32(faults.seed ?? randomInt(2 ** 32 - 1));
  return {
    next(blockNum, contentLength) {
      const scripted = queues.get(blockNum)?.shift();
      if (scripted !== undefined) return toAction(scripted);
      if (faults.failureRate !== undefined && random() < faults.failureRate) {
        return {
          kind: 'status',
          status: 503,
          retryAfter: '0',
          body: { errorCode: 'ServiceUnavailable', errorMessage: 'The service is busy; retry.' },
        };
      }
      if (faults.dropRate !== undefined && random() < faults.dropRate) {
        return { kind: 'drop', afterBytes: Math.floor(contentLength / 2), processFirst: false };
      }
      return undefined;
    },
  };
}
