import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A tiny HTTP server for the stand-ins: buffered body, JSON answers (or a page, for the ones a browser visits), a URL once listening. */
export interface StandInServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** `html` instead of `json` answers a page; a redirect gives its status and a location header and neither. */
export type StandInReply = { status: number; json?: unknown; html?: string; headers?: Record<string, string> };
export type StandInHandler = (req: IncomingMessage, body: Buffer) => Promise<StandInReply>;

export async function listen(handler: StandInHandler, port = 0): Promise<StandInServer> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handler(req, Buffer.concat(chunks))
        .then(({ status, json, html, headers }) => {
          if (html !== undefined) {
            res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
            res.end(html);
          } else if (json === undefined) {
            res.writeHead(status, headers);
            res.end();
          } else {
            res.writeHead(status, { 'content-type': 'application/json', ...headers });
            res.end(JSON.stringify(json));
          }
        })
        .catch((err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { message: err.message } }));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
