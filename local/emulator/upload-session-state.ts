import { createFaultPicker, type FaultPicker, SINGLE_PUT_BLOCK, type UploadFaults } from './faults.ts';
import { layoutViolation, type SeenSizes } from './layout.ts';
import { errorReply, type Reply } from './reply.ts';

/** Counters of one session, as returned by `TransferEmulator.stats`. */
export interface SessionStats {
  /** PUTs that reached this session (the right clip path and uploadId), whatever their answer. */
  puts: number;
  /** PUTs per valid blockNum; a single-PUT upload counts under {@link SINGLE_PUT_BLOCK}. */
  putsByBlock: Map<number, number>;
  /** Statuses answered to those PUTs, in order; dropped or abandoned PUTs have none. */
  statuses: number[];
  /** `Date.now()` when the blocks were committed as one file. */
  committedAt?: number;
}

/** What a session was opened with, defaults applied. */
export interface SessionShape {
  uploadId: string;
  gameClipId: string;
  expectedBlocks?: number | undefined;
  fileSize?: number | undefined;
  maxBlockBytes: number;
  faults: UploadFaults;
}

/** The emulator's state of one upload session: received blocks, the committed file, counters. */
export class UploadSessionState {
  readonly shape: SessionShape;
  readonly faults: FaultPicker;
  readonly stats: SessionStats = { puts: 0, putsByBlock: new Map(), statuses: [] };
  private readonly blocks = new Map<number, Buffer>();
  /** The committed file's parts in order; joined only when asked for (see `committed`). */
  private committedParts: Buffer[] | undefined;
  private committedFile: Buffer | undefined;
  private readonly seen: SeenSizes = {};

  constructor(shape: SessionShape) {
    this.shape = shape;
    this.faults = createFaultPicker(shape.faults);
  }

  /**
   * The committed file, undefined until the commit. Joined on first access, not in the commit's
   * request: copying 256 MiB took the emulator 120-750 ms, which the bench counted as upload time.
   */
  get committed(): Buffer | undefined {
    if (this.committedFile === undefined && this.committedParts !== undefined) {
      this.committedFile = Buffer.concat(this.committedParts);
      this.committedParts = undefined;
    }
    return this.committedFile;
  }

  /** Counts a PUT that reached this session. */
  countPut(): void {
    this.stats.puts += 1;
  }

  /** Counts a PUT with a valid blockNum (undefined for a single-PUT upload). */
  countBlockPut(blockNum: number | undefined): void {
    const key = blockNum ?? SINGLE_PUT_BLOCK;
    this.stats.putsByBlock.set(key, (this.stats.putsByBlock.get(key) ?? 0) + 1);
  }

  /**
   * Handles a complete block (or, without blockNum, the whole file) and returns the answer:
   * 202 while blocks are missing, 201 on the commit, 409 for different bytes of a received block,
   * 400 for a block contradicting the layout, the `afterCommit` answer once committed.
   */
  receive(blockNum: number | undefined, bytes: Buffer): Reply {
    if (this.stats.committedAt !== undefined) return this.afterCommit();
    const { expectedBlocks, fileSize } = this.shape;
    if (blockNum === undefined || expectedBlocks === undefined) {
      if (fileSize !== undefined && bytes.length !== fileSize) {
        return errorReply(400, 'FileSizeMismatch', `The file must hold ${fileSize} bytes, not ${bytes.length}.`);
      }
      return this.commit([bytes]);
    }
    const previous = this.blocks.get(blockNum);
    if (previous !== undefined) {
      return previous.equals(bytes)
        ? { status: 202 }
        : errorReply(409, 'BlockConflict', `Block ${blockNum} was already received with different bytes.`);
    }
    const violation = layoutViolation(
      { expectedBlocks, fileSize, maxBlockBytes: this.shape.maxBlockBytes },
      this.seen,
      blockNum,
      bytes.length,
    );
    if (violation !== undefined) return errorReply(400, 'BlockLayoutMismatch', `Block layout mismatch: ${violation}.`);
    this.blocks.set(blockNum, bytes);
    if (blockNum < expectedBlocks - 1) this.seen.blockSize = bytes.length;
    else this.seen.lastSize = bytes.length;
    if (this.blocks.size < expectedBlocks) return { status: 202 };
    const ordered = Array.from({ length: expectedBlocks }, (_, index) => this.blocks.get(index) as Buffer);
    this.blocks.clear();
    return this.commit(ordered);
  }

  private commit(parts: Buffer[]): Reply {
    this.committedParts = parts;
    this.stats.committedAt = Date.now();
    return { status: 201 };
  }

  private afterCommit(): Reply {
    switch (this.shape.faults.afterCommit ?? 201) {
      case 409:
        return errorReply(409, 'UploadAlreadyCommitted', 'The upload was already committed.');
      case 410:
        return errorReply(410, 'UploadCompleted', 'The upload is complete and takes no more blocks.');
      default:
        return { status: 201 };
    }
  }
}
