import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import * as undici from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';
import { describe, expect, it } from 'vitest';
import { createUploadAgent, requestWith } from '../../../lib/http/http.ts';

describe('the undici modules the relay loads directly', () => {
  // If an undici upgrade moves them, these fail before any bundle ships a different class.
  it('are the Agent and request API that undici exports', () => {
    expect(Agent).toBe(undici.Agent);
    expect(dispatchRequest).toBe(undici.Dispatcher.prototype.request);
  });

  it('send a PUT with the path, query, headers and a stream body, not chunked', async () => {
    const seen: Array<{ method: string | undefined; url: string | undefined; length: string | undefined; chunked: string | undefined; body: string }> = [];
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      seen.push({ method: req.method, url: req.url, length: req.headers['content-length'], chunked: req.headers['transfer-encoding'], body: Buffer.concat(chunks).toString() });
      res.writeHead(202).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const dispatcher = createUploadAgent({ putTimeoutMs: 5_000, connections: 1 });
    try {
      const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/upload/a%20b?blockNum=3`);
      const response = await requestWith(dispatcher, url, {
        method: 'PUT',
        body: Readable.from([Buffer.from('hello '), Buffer.from('block')]),
        headers: { 'content-length': '11' },
      });
      await response.body.dump();
      expect(response.statusCode).toBe(202);
      expect(seen).toEqual([{ method: 'PUT', url: '/upload/a%20b?blockNum=3', length: '11', chunked: undefined, body: 'hello block' }]);
    } finally {
      await dispatcher.close();
      server.close();
    }
  });
});
