import { randomBytes } from 'node:crypto';
import { startTransferEmulator, type TransferEmulator } from '../../local/emulator/transfer-service.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.ts';
import type { TokenProvider } from '../../lib/aws/token-provider.ts';

/** The Authorization value tests hand out; tests search logs and receipts for it. */
export const TEST_AUTHORIZATION = 'XBL3.0 x=1234567890;test-token-that-must-never-leak';

export const staticTokens = (value = TEST_AUTHORIZATION): TokenProvider => ({ authorization: async () => value });

/** A running emulator and local stack that trusts it. */
export interface RelayFixture {
  emulator: TransferEmulator;
  stack: LocalStack;
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Starts the emulator on 127.0.0.1 and a local stack allowed to reach it, with small queue
 * timings so a retry takes seconds, not minutes. Logs are captured at DEBUG.
 */
export async function startRelayFixture(options: LocalStackOptions & { maxBlockBytes?: number } = {}): Promise<RelayFixture> {
  const maxBlockBytes = options.maxBlockBytes ?? 2_097_152;
  const emulator = await startTransferEmulator({ authorization: TEST_AUTHORIZATION, maxBlockBytes });
  const logs: string[] = [];
  const stack = await startLocalStack({
    logLevel: 'DEBUG',
    logSink: (line) => logs.push(line),
    tokens: staticTokens(),
    ...options,
    adjustSettings: (settings) => {
      settings.maxBlockBytes = maxBlockBytes;
      settings.fanOut.timeoutSeconds = 5;
      settings.blocksQueue.visibilityTimeoutSeconds = 5;
      settings.outcomesQueue.visibilityTimeoutSeconds = 5;
      settings.finalizer.timeoutSeconds = 5;
      settings.splitter.timeoutSeconds = 30;
      settings.deadLetter.timeoutSeconds = 5;
      settings.deadLetter.queueVisibilityTimeoutSeconds = 5;
      settings.backoff = { baseMs: 100, capMs: 1000 };
      settings.fanOut.putTimeoutMs = 2000;
      options.adjustSettings?.(settings);
    },
    env: { CLIP_RELAY_ALLOWED_HOSTS: '127.0.0.1', ...options.env },
  });
  return {
    emulator,
    stack,
    logs,
    async stop() {
      await stack.stop();
      await emulator.close();
    },
  };
}

/** Random bytes of a clip. */
export const clipBytes = (size: number): Buffer => randomBytes(size);
