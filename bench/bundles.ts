// Packages the service with osls (offline) and measures each function's artifact: zipped size
// and the time a fresh Node process takes to load the bundle and construct the handler.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { loadSettings } from '../local/settings.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'node_modules/.bin');

// What the functions' environment holds in AWS; values only need to pass config validation.
const FUNCTION_ENV = {
  AWS_REGION: 'us-east-1',
  CLIP_RELAY_BLOCKS_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/clip-relay-blocks',
  CLIP_RELAY_OUTCOMES_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/000000000000/clip-relay-outcomes.fifo',
  CLIP_RELAY_BUCKET: 'clip-relay-bench-clips',
  POWERTOOLS_SERVICE_NAME: 'clip-relay',
  POWERTOOLS_METRICS_NAMESPACE: 'ClipRelay',
};

/** What serverless.yml adds to the fan-out's environment: its V8 flags and malloc arenas. */
function nodeOptions(name: string): Record<string, string> {
  if (name !== 'fan-out') return {};
  const { fanOut } = loadSettings();
  return { NODE_OPTIONS: fanOut.v8Flags, MALLOC_ARENA_MAX: String(fanOut.mallocArenaMax) };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A function's figures: its zip, and cold-load times of the bundle and of its AWS SDK alone. */
export interface BundleFigures {
  bundleKiB: number;
  /** Median ms to import the bundle and build its handler in a fresh Node process. */
  initMs: number;
  /** The same-run baseline: median ms to import only the @aws-sdk clients the bundle imports. */
  sdkInitMs: number;
  /** Ours on top of the SDK: the median of (bundle − SDK) over pairs of probes run back to back. */
  initOverSdkMs: number;
  sdkClients: string[];
}

/** Milliseconds of one fresh Node process running `probe` (it prints its own time). */
async function probeOnce(probe: string, env: Record<string, string>): Promise<number> {
  const { stdout } = await run(join(BIN, 'node'), ['--input-type=module', '-e', probe], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
  return Number(stdout);
}

/**
 * Zipped KiB and init milliseconds per function, from `runs` pairs of fresh processes: the bundle,
 * then its SDK clients alone, back to back, so load on a shared machine hits both alike.
 */
export async function measureBundles(runs = 9): Promise<Record<string, BundleFigures>> {
  const out = await mkdtemp(join(tmpdir(), 'clip-relay-bench-pkg-'));
  // Unpacked under node_modules so the bundles' external @aws-sdk imports resolve, as in the runtime.
  const unpacked = join(ROOT, 'node_modules/.cache/clip-relay-bench');
  try {
    await run(join(BIN, 'osls'), ['package', '--package', out], { cwd: ROOT, env: { ...process.env, PATH: `${BIN}:${process.env.PATH}` } });
    const results: Record<string, BundleFigures> = {};
    for (const zip of (await readdir(out)).filter((name) => name.endsWith('.zip')).sort()) {
      const name = zip.replace(/\.zip$/, '');
      const dir = join(unpacked, name);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await run('unzip', ['-q', '-o', join(out, zip), '-d', dir]);
      const bundle = join(dir, 'functions', `${name}.mjs`);
      const env = { ...FUNCTION_ENV, ...nodeOptions(name) };
      const bundleProbe = `const t = performance.now(); const m = await import(${JSON.stringify(bundle)}); if (typeof m.handler !== 'function') throw new Error('no handler'); process.stdout.write(String(performance.now() - t));`;
      // The runtime provides these; their load time is the floor under any bundle that imports them.
      const sdkClients = [...new Set([...(await readFile(bundle, 'utf8')).matchAll(/from\s*"(@aws-sdk\/client-[a-z0-9-]+)"/g)].map((m) => m[1]!))].sort();
      const sdkProbe = `const t = performance.now(); for (const m of ${JSON.stringify(sdkClients)}) await import(m); process.stdout.write(String(performance.now() - t));`;
      const bundleMs: number[] = [];
      const sdkMs: number[] = [];
      for (let i = 0; i < runs; i++) {
        bundleMs.push(await probeOnce(bundleProbe, env));
        sdkMs.push(await probeOnce(sdkProbe, env));
      }
      const initMs = median(bundleMs);
      const sdkInitMs = median(sdkMs);
      const initOverSdkMs = median(bundleMs.map((ms, i) => ms - sdkMs[i]!));
      results[name] = { bundleKiB: (await stat(join(out, zip))).size / 1024, initMs, sdkInitMs, initOverSdkMs, sdkClients };
    }
    return results;
  } finally {
    await rm(out, { recursive: true, force: true });
    await rm(unpacked, { recursive: true, force: true });
  }
}
