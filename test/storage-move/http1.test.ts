import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { httpConnections, type HttpRequest } from '../../migrations/storage-move/http1';

/**
 * The object requests' HTTP/1.1 client against a server that writes its answers byte by byte as
 * given: the framings S3 uses, connections kept alive or closed, and bodies that break.
 */
interface Seen {
  head: string;
  body: Buffer;
  socket: Socket;
}

/** A server answering the n-th request it reads with `answers[n](seen)` (raw bytes, or nothing to stay silent). */
async function rawServer(answers: ((seen: Seen) => string | Buffer | Buffer[] | void)[]) {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const s = { head, body: buf.subarray(end + 4, end + 4 + length), socket };
        buf = buf.subarray(end + 4 + length);
        seen.push(s);
        const answer = answers[seen.length - 1]?.(s);
        for (const part of Array.isArray(answer) ? answer : answer === undefined ? [] : [answer]) socket.write(part);
      }
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const request = (method: string, path: string, headers: Record<string, string> = {}): HttpRequest => ({ protocol: 'http:', hostname: '127.0.0.1', port, method, path, headers });
  const stop = () => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { seen, sockets, request, stop };
}

async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('storage:move HTTP/1.1 client', () => {
  it('reads Content-Length and chunked bodies split anywhere, and keeps the connection for the next request', async () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "a"\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n';
    const split = Buffer.from(ok('été', 'x-amz-checksum-sha256: abc\r\n'));
    const srv = await rawServer([
      () => [...chunked].map((c) => Buffer.from(c, 'latin1')),
      () => [split.subarray(0, 10), split.subarray(10, split.length - 2), split.subarray(split.length - 2)],
      () => 'HTTP/1.1 204 No Content\r\n\r\n',
    ]);
    const { exchange, close } = httpConnections();
    try {
      const a = await exchange(srv.request('GET', '/b?list-type=2'));
      expect([a.statusCode, a.headers.etag, await text(a.body)]).toEqual([200, '"a"', 'hello, world']);
      const b = await exchange(srv.request('GET', '/b/k'));
      expect([b.headers['x-amz-checksum-sha256'], await text(b.body)]).toEqual(['abc', 'été']);
      const c = await exchange(srv.request('PUT', '/b/k', { 'content-length': '3' }), [Buffer.from('a'), Buffer.from('bc')]);
      expect([c.statusCode, await text(c.body)]).toEqual([204, '']);
      expect(new Set(srv.seen.map((s) => s.socket)).size).toBe(1);
      expect(srv.seen[0].head).toBe(`GET /b?list-type=2 HTTP/1.1\r\nhost: 127.0.0.1:${srv.request('GET', '/').port}`);
      expect(srv.seen[2].body.toString()).toBe('abc');
    } finally {
      close();
      await srv.stop();
    }
  });

  it('a body read slower than it arrives leaves the connection reading the next answer', async () => {
    const big = 'x'.repeat(1024 * 1024);
    const srv = await rawServer([() => ok(big), () => ok('next')]);
    const { exchange, close } = httpConnections();
    try {
      const a = await exchange(srv.request('GET', '/big'));
      // Nothing is read until the whole answer has had time to arrive: the socket was paused meanwhile.
      await new Promise((r) => setTimeout(r, 200));
      expect((await text(a.body)).length).toBe(big.length);
      const b = await exchange(srv.request('GET', '/next'));
      expect(await text(b.body)).toBe('next');
      expect(srv.sockets.size).toBe(1);
    } finally {
      close();
      await srv.stop();
    }
  });

  it('a streamed body goes out as it arrives; one that breaks fails its request and its connection', async () => {
    // The broken body never arrives in full: the server sees two requests.
    const srv = await rawServer([() => ok('stored'), () => ok('after')]);
    const { exchange, close } = httpConnections();
    try {
      const source = new PassThrough();
      const put = exchange(srv.request('PUT', '/b/k', { 'content-length': '6' }), source);
      source.write('abc');
      setTimeout(() => source.end('def'), 20);
      const res = await put;
      expect(await text(res.body)).toBe('stored');
      expect(srv.seen[0].body.toString()).toBe('abcdef');

      const broken = new PassThrough();
      const failed = exchange(srv.request('PUT', '/b/broken', { 'content-length': '100' }), broken);
      broken.write('abc');
      setTimeout(() => broken.destroy(new Error('source GET broke')), 20);
      await expect(failed).rejects.toThrow('source GET broke');
      // The next request takes a fresh connection: the broken one was mid-body.
      const after = await exchange(srv.request('GET', '/after'));
      expect(await text(after.body)).toBe('after');
      expect(srv.sockets.size).toBe(2);
    } finally {
      close();
      await srv.stop();
    }
  });

  it('a body piped from an answer into a request, and one its reader keeps, arrive byte for byte while the read buffers take the next reads', async () => {
    const [piped, kept, after] = [3, 2, 2].map((mb) => randomBytes(mb * 1024 * 1024));
    const head = (b: Buffer) => Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\n\r\n`);
    const srv = await rawServer([() => [head(piped), piped], () => ok('stored'), () => [head(kept), kept], () => [head(after), after]]);
    const { exchange, close } = httpConnections();
    try {
      const source = await exchange(srv.request('GET', '/src'));
      const put = await exchange(srv.request('PUT', '/dst', { 'content-length': String(piped.length) }), source.body);
      expect(await text(put.body)).toBe('stored');
      expect(srv.seen[1].body.equals(piped)).toBe(true);

      // The chunks of one answer are held while the next answer is read on the same connection.
      const first = await exchange(srv.request('GET', '/kept'));
      const chunks: Buffer[] = [];
      for await (const c of first.body) chunks.push(c as Buffer);
      const second = await exchange(srv.request('GET', '/after'));
      const rest: Buffer[] = [];
      for await (const c of second.body) rest.push(c as Buffer);
      expect([Buffer.concat(chunks).equals(kept), Buffer.concat(rest).equals(after)]).toEqual([true, true]);
    } finally {
      close();
      await srv.stop();
    }
  });

  it('an answer before the whole body was sent stops the body and retires the connection; Connection: close too', async () => {
    // The first request's body never arrives in full: the server answers it below, by hand.
    const srv = await rawServer([() => ok('bye', 'connection: close\r\n'), () => ok('fresh')]);
    const { exchange, close } = httpConnections();
    try {
      const source = new PassThrough();
      const early = exchange(srv.request('PUT', '/b/k', { 'content-length': '10' }), source);
      source.write('ab');
      // The server refuses before the body is complete (it reads the head of the first request only).
      await new Promise((r) => setTimeout(r, 50));
      srv.sockets.values().next().value!.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
      const refused = await early;
      expect(refused.statusCode).toBe(400);
      await text(refused.body);
      expect(source.destroyed).toBe(true);

      const bye = await exchange(srv.request('GET', '/bye'));
      expect(await text(bye.body)).toBe('bye');
      const fresh = await exchange(srv.request('GET', '/fresh'));
      expect(await text(fresh.body)).toBe('fresh');
      expect(srv.sockets.size).toBe(3);
    } finally {
      close();
      await srv.stop();
    }
  });

  it('a connection closed mid-answer fails the body with ECONNRESET (retried by the caller); a refused one fails at once', async () => {
    const srv = await rawServer([() => 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc', () => 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n']);
    const { exchange, close } = httpConnections();
    try {
      const res = await exchange(srv.request('GET', '/short'));
      setTimeout(() => srv.seen[0].socket.destroy(), 20);
      await expect(text(res.body)).rejects.toMatchObject({ code: 'ECONNRESET' });
      // A body nobody listens to (a PUT's answer, resumed) is closed, not thrown.
      const unread = await exchange(srv.request('GET', '/unread'));
      unread.body.resume();
      const closed = new Promise((r) => unread.body.on('close', r));
      srv.seen[1].socket.destroy();
      await closed;
      const port = srv.request('GET', '/').port;
      await srv.stop();
      await expect(exchange({ protocol: 'http:', hostname: '127.0.0.1', port, method: 'GET', path: '/', headers: {} })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      await expect(exchange(srv.request('GET', '/', { 'content-type': 'a\r\nb' }))).rejects.toThrow('invalid HTTP header "content-type"');
    } finally {
      close();
    }
  });

  it('speaks TLS to an https endpoint: the name sent for SNI, the certificate checked against the trusted ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'http1-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const names: (string | false)[] = [];
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      names.push((req.socket as unknown as { servername: string | false }).servername);
      res.end(`tls ${req.url}`);
    });
    // Where the client's lookup of localhost leads (127.0.0.1 or ::1).
    server.listen(0, 'localhost');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    // The certificate is trusted only where NODE_EXTRA_CA_CERTS names it, read at a process's start.
    const get = (trusted: boolean) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const script = `require(${JSON.stringify(join(__dirname, '../../migrations/storage-move/http1.ts'))}).httpConnections().exchange({ protocol: 'https:', hostname: 'localhost', port: ${port}, method: 'GET', path: '/k?x=1', headers: {} }).then(async (r) => { for await (const c of r.body) process.stdout.write(c); process.exit(0); }, (e) => { process.stdout.write(e.code ?? e.message); process.exit(1); })`;
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: trusted ? join(dir, 'cert.pem') : '' }, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (b) => (out += b));
        child.on('close', (code) => resolve({ code, out }));
      });
    try {
      expect(await get(true)).toEqual({ code: 0, out: 'tls /k?x=1' });
      expect(names).toEqual(['localhost']);
      expect(await get(false)).toEqual({ code: 1, out: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
