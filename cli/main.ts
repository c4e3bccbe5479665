import { Command, InvalidArgumentError, Option } from 'commander';
import { ClipRelayError } from '../lib/errors.ts';
import { EXIT, exitCodeFor, UsageError } from './exit-codes.ts';
import { relayFile } from './relay.ts';

const MiB = 1024 * 1024;

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`${name} must be a positive whole number`);
    return Number(value);
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value.toLowerCase()];

/** The `clip-relay` program. */
export function buildProgram(): Command {
  const program = new Command('clip-relay')
    .description('Relays game clips from S3 into Xbox Live, block by block: serverless in AWS, embedded on a laptop.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('relay')
    .description('Relay FILE through the whole pipeline (splitter, fan-out, finalizer) on an embedded S3 + SQS, then print its receipt. The token comes from env XBL_AUTHORIZATION.')
    .argument('<file>', 'the clip to upload')
    .requiredOption('--upload-uri <uri>', "the upload session's uploadUri")
    .requiredOption('--upload-id <id>', "the upload session's uploadId")
    .option('--expected-blocks <n>', "the session's expectedBlocks (omit for one PUT of the whole file)", positiveInt('--expected-blocks'))
    .option('--game-clip-id <id>', 'carried into the receipt')
    .option('--allow-host <host>', 'also allow this upload host (repeatable; plain http only for loopback hosts named this way)', collect, [])
    .option('--service-version <v>', 'X-RequestedServiceVersion', '1')
    .option('--concurrency <n>', 'parallel PUTs per fan-out invocation', positiveInt('--concurrency'))
    .option('--put-timeout-ms <ms>', 'timeout of each PUT phase (connect, headers, idle body)', positiveInt('--put-timeout-ms'))
    .option('--backoff-base-ms <ms>', 'back-off base for recoverable failures', positiveInt('--backoff-base-ms'))
    .option('--backoff-cap-ms <ms>', 'back-off cap for recoverable failures', positiveInt('--backoff-cap-ms'))
    .option('--timeout <seconds>', 'give up waiting for the receipt after this long', positiveInt('--timeout'), 3600)
    .addOption(new Option('--log-level <level>', 'log level of the three functions (JSON lines on stderr)').choices(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('WARN'))
    .option('--json', 'print the receipt as JSON on the last line of stdout')
    .action(async (file: string, opts) => {
      const result = await relayFile({
        file,
        ticket: {
          uploadUri: opts.uploadUri,
          uploadId: opts.uploadId,
          ...(opts.expectedBlocks !== undefined && { expectedBlocks: opts.expectedBlocks }),
          ...(opts.gameClipId !== undefined && { gameClipId: opts.gameClipId }),
        },
        allowHosts: opts.allowHost,
        serviceVersion: opts.serviceVersion,
        concurrency: opts.concurrency,
        putTimeoutMs: opts.putTimeoutMs,
        backoffBaseMs: opts.backoffBaseMs,
        backoffCapMs: opts.backoffCapMs,
        timeoutSeconds: opts.timeout,
        logLevel: opts.logLevel,
      });
      const { receipt } = result;
      const seconds = result.elapsedMs / 1000;
      const summary =
        receipt.status === 'committed'
          ? `committed ${receipt.key}: ${(result.bytes / MiB).toFixed(1)} MiB in ${receipt.expectedBlocks ?? 1} block(s), ${seconds.toFixed(2)} s (${(result.bytes / MiB / seconds).toFixed(1)} MiB/s)`
          : `${receipt.status} ${receipt.key}: ${receipt.reason?.code ?? ''} ${receipt.reason?.message ?? ''}`.trim();
      if (opts.json) {
        process.stderr.write(`${summary}\nreceipt: ${result.receiptUri}\n`);
        process.stdout.write(`${JSON.stringify(receipt)}\n`);
      } else {
        process.stdout.write(`${summary}\nreceipt: ${result.receiptUri}\n${JSON.stringify(receipt, null, 2)}\n`);
      }
      process.exitCode = exitCodeFor(receipt);
    });
  return program;
}

/** Runs the CLI; every error ends as one line on stderr and a documented exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (code?.startsWith('commander.')) return EXIT.usage; // commander already printed the reason
    const message = error instanceof UsageError || error instanceof ClipRelayError ? error.message : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`clip-relay: ${message.split('\n')[0]}\n`);
    return EXIT.usage;
  }
}
