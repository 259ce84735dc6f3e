import { createHash } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the stand-in saw it: the path decoded, `/bucket/key` path-style. */
export interface Seen {
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

export interface StandInRules {
  /** An answer of S3's (an error's Code and HTTP status) instead of the emulator's. */
  refuse?(r: Seen): { status: number; code: string; message: string } | undefined;
  /** Headers changed on a forwarded answer (an SSE GET's ETag and encryption headers). */
  answerHeaders?(r: Seen, headers: IncomingHttpHeaders): void;
  /** The path and query forwarded (a listing made to page in few keys). */
  forwardPath?(r: Seen, path: string): string;
  /** Refuse a PUT whose Content-MD5 is not its body's MD5 (BadDigest), as S3 does and fauxqs 1.9 does not. */
  checkContentMd5?: boolean;
}

/**
 * The emulator behind a plain HTTP forwarder that answers as S3 would where the emulator cannot:
 * a forbidden or vanished object, a refused PUT, an SSE source's headers, Content-MD5 checked.
 */
export async function standIn(emulator: string, rules: StandInRules): Promise<{ endpoint: string; seen: Seen[]; close(): Promise<void> }> {
  const upstream = new URL(emulator);
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://stand-in');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const r: Seen = { method: req.method!, bucket: decodeURIComponent(bucket), key: rest.map(decodeURIComponent).join('/'), query: url.searchParams, headers: req.headers };
    seen.push(r);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const md5 = req.headers['content-md5'];
      const refused =
        rules.refuse?.(r) ??
        (rules.checkContentMd5 && req.method === 'PUT' && typeof md5 === 'string' && createHash('md5').update(body).digest('base64') !== md5
          ? { status: 400, code: 'BadDigest', message: 'The Content-MD5 you specified did not match what we received.' }
          : undefined);
      if (refused) {
        res.writeHead(refused.status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${refused.code}</Code><Message>${refused.message}</Message></Error>`);
        return;
      }
      const forwarded = request(
        { hostname: upstream.hostname, port: upstream.port, method: req.method, path: rules.forwardPath?.(r, req.url!) ?? req.url, headers: { ...req.headers, host: upstream.host } },
        (up) => {
          const headers = { ...up.headers };
          rules.answerHeaders?.(r, headers);
          res.writeHead(up.statusCode!, headers);
          up.pipe(res);
        },
      );
      forwarded.on('error', (err) => res.destroy(err));
      forwarded.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
