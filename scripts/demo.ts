// `npm start`: the whole relay on one machine. Starts the strict transfer-service emulator on
// 127.0.0.1, writes a ~64 MiB clip, and relays it with `clip-relay relay` through the embedded
// S3 + SQS and the three real handlers; then checks the emulator holds exactly those bytes.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli/main.ts';
import { startTransferEmulator } from '../local/emulator/transfer-service.ts';

const MiB = 1024 * 1024;
const size = 64 * MiB + 12_345; // not a multiple of the block size: the last block is short
const blockSize = 2 * MiB;
const expectedBlocks = Math.ceil(size / blockSize);

// A throwaway token for the emulator, unless the caller exported one.
process.env.XBL_AUTHORIZATION ||= `XBL3.0 x=demo;${randomBytes(16).toString('hex')}`;

const emulator = await startTransferEmulator({ authorization: process.env.XBL_AUTHORIZATION });
const dir = await mkdtemp(join(tmpdir(), 'clip-relay-demo-'));
try {
  const file = join(dir, 'demo-clip.mp4');
  const bytes = randomBytes(size);
  await writeFile(file, bytes);
  const session = emulator.openSession({ expectedBlocks, fileSize: size });
  process.stderr.write(`emulator: ${emulator.url} | clip: ${(size / MiB).toFixed(1)} MiB in ${expectedBlocks} blocks\n`);

  const started = Date.now();
  const exitCode = await main([
    process.argv[0]!,
    'clip-relay',
    'relay',
    file,
    '--upload-uri',
    session.uploadUri,
    '--upload-id',
    session.uploadId,
    '--expected-blocks',
    String(expectedBlocks),
    '--game-clip-id',
    session.gameClipId,
    '--allow-host',
    '127.0.0.1',
  ]);
  const same = emulator.committed(session.uploadId)?.equals(bytes) ?? false;
  process.stderr.write(`demo: exit ${exitCode} in ${((Date.now() - started) / 1000).toFixed(2)} s; emulator's committed bytes ${same ? 'equal' : 'DIFFER FROM'} the source\n`);
  process.exitCode = exitCode === 0 && same ? 0 : exitCode || 1;
} finally {
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}
