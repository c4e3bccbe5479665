/**
 * moto_server (moto's AWS API emulator, `pip install "moto[server]"`) on a free loopback port,
 * started and stopped by the test that needs it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A running moto_server. */
export interface MotoServer {
  /** e.g. `http://127.0.0.1:54321` */
  readonly endpoint: string;
  /** Its log lines (one per request, plus moto's notes such as unsupported resource types). */
  readonly log: string[];
  stop(): Promise<void>;
}

/** True when `moto_server` is on PATH. */
export function motoServerInstalled(): boolean {
  return spawnSync('moto_server', ['--help'], { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts moto_server on 127.0.0.1 and resolves once it answers; `env` is added to its
 * environment (e.g. INITIAL_NO_AUTH_ACTION_COUNT). Rejects, with what it printed, if it exits
 * or does not answer within `timeoutMs`.
 */
export async function startMotoServer(options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<MotoServer> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // Its own working directory: ValidateTemplate writes the template to ./file.tmp there.
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'moto-server-'));
  const proc = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => log.push(...chunk.split('\n').filter(Boolean)));
  }
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`moto_server exited with ${proc.exitCode}:\n${log.join('\n')}`);
    try {
      const answer = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await answer.arrayBuffer();
      if (answer.ok) return { endpoint, log, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint}:\n${log.join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
