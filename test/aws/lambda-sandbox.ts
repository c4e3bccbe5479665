/**
 * One Lambda function's execution environment, as close as this machine gets: the packaged zip
 * unzipped into its own task root, the handler module loaded by a bootstrap in a child process
 * of Node 24, the AWS SDK resolvable next to the task root (as the runtime provides it) and
 * nothing else of the project, and the environment the deployed function has. The first
 * invocation starts it (cold start); later ones reuse it (warm) until it dies or is killed.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Context } from 'aws-lambda';
import { ROOT, unzipTo } from '../helpers/cloudformation.ts';

const BOOTSTRAP = path.join(ROOT, 'test', 'aws', 'lambda-bootstrap.mjs');

/** What one sandbox needs. */
export interface LambdaSandboxOptions {
  /** The packaged zip. */
  zipFile: string;
  /** serverless.yml's handler, e.g. `functions/splitter.handler`. */
  handler: string;
  /** A fresh directory outside the repository: the task root goes in `<dir>/task`. */
  dir: string;
  /** The complete environment of the process (the function's plus the runtime's). */
  env: Record<string, string>;
  /** Every line the function writes to stdout or stderr. */
  onLog: (line: string) => void;
}

/** A function's execution environment. */
export interface LambdaSandbox {
  /** Runs one invocation; rejects with the handler's error, or when the process dies meanwhile. */
  invoke(event: unknown, context: Context): Promise<unknown>;
  /** Cold starts so far. */
  readonly coldStarts: number;
  /** Kills the process (as an out-of-memory kill would); the next invocation starts a new one. */
  kill(): void;
  close(): Promise<void>;
}

/** Error of an invocation whose process ended before answering (Lambda: Runtime.ExitError). */
export class RuntimeExitError extends Error {
  override name = 'Runtime.ExitError';
}

/**
 * Unzips `zipFile` and links `<dir>/node_modules/@aws-sdk` to the project's copy: module
 * resolution from the task root walks up to it, and to nothing else of the repository.
 */
export function createLambdaSandbox(options: LambdaSandboxOptions): LambdaSandbox {
  if (path.resolve(options.dir).startsWith(ROOT)) throw new Error('the sandbox must live outside the repository');
  const taskRoot = path.join(options.dir, 'task');
  unzipTo(options.zipFile, taskRoot);
  fs.mkdirSync(path.join(options.dir, 'node_modules'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@aws-sdk'), path.join(options.dir, 'node_modules', '@aws-sdk'), 'dir');

  let child: ChildProcess | undefined;
  let ready: Promise<ChildProcess> | undefined;
  let coldStarts = 0;
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  function start(): Promise<ChildProcess> {
    coldStarts += 1;
    const proc = fork(BOOTSTRAP, [taskRoot, options.handler], {
      cwd: taskRoot,
      env: options.env,
      // Not vitest's flags: the function's own NODE_OPTIONS (env) is what Lambda applies.
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child = proc;
    for (const stream of [proc.stdout!, proc.stderr!]) {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop()!;
        for (const line of lines) options.onLog(line);
      });
      stream.on('end', () => rest && options.onLog(rest));
    }
    return new Promise((resolve, reject) => {
      proc.on('message', (message: { type: string; id?: number; ok?: boolean; result?: unknown; error?: { name: string; message: string; stack?: string } }) => {
        if (message.type === 'ready') return resolve(proc);
        const waiter = pending.get(message.id!);
        if (waiter === undefined) return;
        pending.delete(message.id!);
        if (message.ok) waiter.resolve(message.result);
        else waiter.reject(Object.assign(new Error(message.error!.message), { name: message.error!.name, stack: message.error!.stack }));
      });
      proc.on('exit', (code, signal) => {
        if (child === proc) {
          child = undefined;
          ready = undefined;
        }
        const error = new RuntimeExitError(`the execution environment exited (${signal ?? `code ${code}`})`);
        reject(error);
        for (const [id, waiter] of pending) {
          pending.delete(id);
          waiter.reject(error);
        }
      });
    });
  }

  return {
    get coldStarts() {
      return coldStarts;
    },
    async invoke(event, context) {
      ready ??= start();
      const proc = await ready;
      const id = nextId++;
      const answer = new Promise<unknown>((resolve, reject) => pending.set(id, { resolve, reject }));
      proc.send({
        type: 'invoke',
        id,
        event,
        context: {
          functionName: context.functionName,
          invokedFunctionArn: context.invokedFunctionArn,
          memoryLimitInMB: context.memoryLimitInMB,
          awsRequestId: context.awsRequestId,
          logGroupName: context.logGroupName,
          logStreamName: context.logStreamName,
          remainingMs: context.getRemainingTimeInMillis(),
        },
      });
      return answer;
    },
    kill() {
      child?.kill('SIGKILL');
    },
    async close() {
      const proc = child;
      if (proc === undefined || proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
