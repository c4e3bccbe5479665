import type { ServerResponse } from 'node:http';

/** The `ServiceErrorResponse` JSON body Xbox Live sends with an error status. */
export interface ServiceErrorResponse {
  errorCode: string;
  errorMessage: string;
}

/** One HTTP answer the emulator sends: status, optional JSON body and extra headers. */
export interface Reply {
  status: number;
  body?: object | undefined;
  headers?: Record<string, string>;
  /** Close the connection after answering, for answers sent before the body was read. */
  close?: boolean;
}

/** Builds an error reply carrying a ServiceErrorResponse body. */
export function errorReply(
  status: number,
  errorCode: string,
  errorMessage: string,
  extra: Pick<Reply, 'headers' | 'close'> = {},
): Reply {
  const body: ServiceErrorResponse = { errorCode, errorMessage };
  return { status, body, ...extra };
}

/** Writes a reply; success answers carry no body, as the real service does. */
export function sendReply(res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = { ...reply.headers };
  const payload = reply.body === undefined ? undefined : Buffer.from(JSON.stringify(reply.body));
  if (payload !== undefined) headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = String(payload?.length ?? 0);
  if (reply.close === true) headers['connection'] = 'close';
  res.writeHead(reply.status, headers);
  res.end(payload);
}
