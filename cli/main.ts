// The typed build of commander: each action's options are inferred from the options declared.
import { Command, InvalidArgumentError, Option, type OptionValues } from '@commander-js/extra-typings';
import { ClipRelayError } from '../lib/protocol/errors.ts';
import { loadSettings } from '../local/settings.ts';
import type { ClipState } from '../lib/protocol/clip-status.ts';
import { runDev } from './dev.ts';
import { EXIT, exitCodeFor, UsageError } from './exit-codes.ts';
import { redriveClips, redriveDeadLetters } from './redrive.ts';
import { relayFile } from './relay.ts';
import { CLIP_STATES, PROBLEM_STATES, readStatuses, statusTable } from './status.ts';
import { resolveTarget, type TargetOptions } from './target.ts';

const MiB = 1024 * 1024;
// The same threshold the scheduled stuck-clips function uses.
const STUCK_AFTER_SECONDS = loadSettings().stuckClips.stuckAfterSeconds;

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`${name} must be a positive whole number`);
    return Number(value);
  };
}

const collect = (value: string, previous: string[]): string[] => [...previous, value.toLowerCase()];

/** The `clip-relay` program. */
export function buildProgram() {
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
    .action(async (file, opts) => {
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

  program
    .command('dev')
    .description('Run the relay locally until Ctrl-C: embedded S3 + SQS on a port, the event sources and handlers, and the transfer emulator; drop clips with any S3 client.')
    .option('--port <port>', 'port of the embedded S3 + SQS', positiveInt('--port'), 4566)
    .option('--data-dir <dir>', 'keep queues, clips and receipts in DIR across restarts')
    .option('--no-emulator', 'do not start the transfer emulator (tickets point at a real service; needs XBL_AUTHORIZATION)')
    .option('--emulator-port <port>', 'port of the transfer emulator (default: any free one)', positiveInt('--emulator-port'))
    .option('--allow-host <host>', 'also allow this upload host (repeatable)', collect, [])
    .addOption(new Option('--log-level <level>', 'log level of the functions').choices(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'))
    .option('--json-logs', 'print the functions\' logs as raw JSON lines instead of readable ones')
    .action(async (opts) => {
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await runDev(
        {
          port: opts.port,
          dataDir: opts.dataDir,
          emulator: opts.emulator,
          emulatorPort: opts.emulatorPort ?? 0,
          allowHosts: opts.allowHost,
          logLevel: opts.logLevel,
          jsonLogs: opts.jsonLogs === true,
        },
        stop.signal,
      );
    });

  withTarget(
    program
      .command('status')
      .description('List clips with their state (committed, failed, unconfirmed, in-flight, stuck, receipt-unreadable). Exits 2 when any listed clip is failed, stuck or has an unreadable receipt.')
      .option('--prefix <prefix>', 'only keys starting with this, inside the incoming prefix')
      .option('--state <state>', `only clips in this state (repeatable: ${CLIP_STATES.join(', ')})`, collectState, [])
      .option('--stuck-after <seconds>', 'a clip with no receipt is stuck after this long', positiveInt('--stuck-after'), STUCK_AFTER_SECONDS)
      .option('--json', 'print the clips as a JSON array'),
  ).action(async (opts) => {
    const target = targetFrom(opts);
    try {
      const all = await readStatuses(target, { stuckAfterSeconds: opts.stuckAfter, prefix: opts.prefix });
      const states = opts.state;
      const shown = states.length === 0 ? all : all.filter((status) => states.includes(status.state));
      process.stdout.write(opts.json ? `${JSON.stringify(shown)}\n` : `${statusTable(shown)}\n`);
      process.exitCode = shown.some((status) => PROBLEM_STATES.includes(status.state)) ? EXIT.failed : 0;
    } finally {
      target.close();
    }
  });

  withTarget(
    program
      .command('redrive')
      .description("Re-drive clips: each is copied onto itself, a new ObjectCreated event, so the splitter plans its blocks again; each re-drive is recorded beside the clip's receipt. --dlq moves dead-lettered blocks back to the blocks queue.")
      .argument('[keys...]', 'clip keys (under the incoming prefix)')
      .option('--failed', 'also every clip whose receipt is failed')
      .option('--stuck', 'also every clip that is stuck')
      .option('--stuck-after <seconds>', 'a clip with no receipt is stuck after this long', positiveInt('--stuck-after'), STUCK_AFTER_SECONDS)
      .option('--dlq', "move the blocks DLQ's messages back to the blocks queue")
      .option('--max <n>', 'at most this many clips (and DLQ messages)', positiveInt('--max'), 100),
  ).action(async (keys, opts) => {
    if (keys.length === 0 && !opts.failed && !opts.stuck && !opts.dlq) throw new UsageError('name clip keys, or use --failed, --stuck or --dlq');
    const target = targetFrom(opts);
    try {
      let problems = 0;
      if (opts.dlq) process.stdout.write(`moved ${await redriveDeadLetters(target, opts.max)} dead-lettered block(s) back to the blocks queue\n`);
      const selected = new Set(keys);
      if (opts.failed || opts.stuck) {
        for (const status of await readStatuses(target, { stuckAfterSeconds: opts.stuckAfter })) {
          if ((opts.failed && status.state === 'failed') || (opts.stuck && status.state === 'stuck')) selected.add(status.key);
        }
      }
      const chosen = [...selected].slice(0, opts.max);
      for (const result of await redriveClips(target, chosen, 'clip-relay redrive')) {
        if (!result.redriven) problems++;
        process.stdout.write(result.redriven ? `redriven ${result.key} (recorded in ${result.record})\n` : `not redriven ${result.key}: ${result.problem}\n`);
      }
      if (selected.size > chosen.length) process.stdout.write(`${selected.size - chosen.length} more left for another run (--max ${opts.max})\n`);
      process.exitCode = problems > 0 ? EXIT.failed : 0;
    } finally {
      target.close();
    }
  });
  return program;
}

function collectState(value: string, previous: ClipState[]): ClipState[] {
  const state = CLIP_STATES.find((known) => known === value);
  if (state === undefined) throw new InvalidArgumentError(`--state is one of ${CLIP_STATES.join(', ')}`);
  return [...previous, state];
}

/** Adds the options that say which relay a command talks to. */
function withTarget<Args extends unknown[], Opts extends OptionValues>(command: Command<Args, Opts>) {
  return command
    .option('--endpoint <url>', 'a dev stack (clip-relay dev), e.g. http://127.0.0.1:4566')
    .option('--stage <stage>', 'a deployed stack (AWS credentials from the environment)')
    .option('--region <region>', 'its region (default AWS_REGION or us-east-1)')
    .option('--bucket <bucket>', "the relay's bucket, when not the stage's default name");
}

function targetFrom(opts: TargetOptions) {
  try {
    return resolveTarget(opts);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
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
