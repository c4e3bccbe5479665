import type { Receipt } from '../lib/protocol/receipt.ts';

/** The CLI's exit codes: 0 committed, 2 failed, 3 unconfirmed, 1 usage or setup error. */
export const EXIT = { committed: 0, usage: 1, failed: 2, unconfirmed: 3 } as const;

/** The exit code a receipt calls for. */
export function exitCodeFor(receipt: Receipt): number {
  return EXIT[receipt.status];
}

/** A usage or setup problem: the CLI prints its message on one line and exits 1. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
