import { createServer, type Server } from 'node:http';
import type { TransferEmulator } from '../emulator/transfer-service.ts';

/**
 * A stand-in for the clip metadata service's session-opening call, for a pipeline under
 * development: `POST /sessions` with `{ "fileSize": n, "expectedBlocks": m }` opens an upload
 * session on the emulator and answers `{ uploadUri, uploadId, gameClipId }`.
 */
export async function startSessionBroker(emulator: TransferEmulator, port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const answer = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/sessions') return answer(404, { errorCode: 'NotFound', errorMessage: 'POST /sessions opens an upload session' });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { fileSize?: number; expectedBlocks?: number; gameClipId?: string };
        answer(201, emulator.openSession(body));
      } catch (error) {
        answer(400, { errorCode: 'BadRequest', errorMessage: error instanceof Error ? error.message : String(error) });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('session broker has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
