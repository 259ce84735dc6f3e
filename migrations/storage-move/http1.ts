import type { IncomingHttpHeaders } from 'node:http';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';

/**
 * The HTTP/1.1 client of the object requests (object-requests.ts): keep-alive connections over
 * node:net / node:tls, one request at a time on each, the idle ones reused last-in first-out.
 * Why not node:http: its ClientRequest, agent bookkeeping and per-request socket set-up cost about
 * 85 µs of CPU per request against about 25 µs for the same GET written and framed here (4,000 GETs
 * of a small object from the emulator, 16 at a time); with thousands of small objects that CPU, on
 * one thread, bounded the move. What S3 sends is all it reads: a status line and headers, then a
 * body framed by Content-Length, chunked, or the connection's end (and none for HEAD, 1xx, 204, 304).
 */

export interface HttpRequest {
  protocol: string;
  hostname: string;
  port?: number;
  method: string;
  /** With its query string. */
  path: string;
  headers: Record<string, string>;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** Read it to its end (or destroy it): the connection is reused once the body has arrived. */
  body: Readable;
}

/** A body: one buffer, its chunks (written in one system call with the headers), or a stream piped as it arrives. */
export type RequestBody = Buffer | Buffer[] | Readable;
export type Exchange = (request: HttpRequest, body?: RequestBody) => Promise<HttpResponse>;

/** A stalled socket (no byte either way) fails its request, which is then retried. */
export const SOCKET_IDLE_MS = 120_000;
const CONNECT_MS = 5_000;
/** Where a response's head ends; a longer head is refused (S3's are a few hundred bytes). */
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
const BAD_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_HEADER_NAME = /[^!#$%&'*+\-.^_`|~0-9A-Za-z]/;

const hangUp = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const protocolError = (what: string) => Object.assign(new Error(`malformed HTTP response: ${what}`), { code: 'EPROTO' });

/** The request's head as one latin1 string; a header that node:http would refuse is refused here too. */
function headOf({ method, path, headers, hostname, port }: HttpRequest): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  if (!('host' in headers)) head += `host: ${port ? `${hostname}:${port}` : hostname}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (BAD_HEADER_NAME.test(name) || BAD_HEADER_VALUE.test(value)) throw new TypeError(`invalid HTTP header ${JSON.stringify(name)}: ${JSON.stringify(value)}`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked'; left: number; state: 'size' | 'data' | 'data-end' | 'trailer' } | { kind: 'close' };

/** One in-flight exchange on a connection. */
interface Exchanging {
  method: string;
  resolve(r: HttpResponse): void;
  reject(err: Error): void;
  /** The response so far: none until its head has arrived. */
  body?: Readable;
  framing?: Framing;
  keepAlive: boolean;
  /** The request's body is written in full (a response that ends before it makes the connection unusable). */
  sent: boolean;
  /** A streamed request body, stopped when the exchange ends early. */
  source?: Readable;
}

class Connection {
  private pending: Buffer | undefined;
  private current: Exchanging | undefined;
  private dead = false;

  constructor(
    readonly socket: Socket,
    private readonly release: (c: Connection) => void,
    private readonly forget: (c: Connection) => void,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(SOCKET_IDLE_MS);
    socket.on('data', (d: Buffer) => this.data(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(hangUp()));
    socket.on('timeout', () => socket.destroy(Object.assign(new Error(`no answer in ${SOCKET_IDLE_MS / 1000} s`), { name: 'TimeoutError' })));
  }

  get usable(): boolean {
    return !this.dead && !this.socket.destroyed;
  }

  send(request: HttpRequest, body: RequestBody | undefined, resolve: (r: HttpResponse) => void, reject: (err: Error) => void): void {
    let head: string;
    try {
      head = headOf(request);
    } catch (err) {
      this.release(this);
      reject(err as Error);
      return;
    }
    const x: Exchanging = { method: request.method, resolve, reject, keepAlive: true, sent: false };
    this.current = x;
    this.socket.ref();
    // The previous body may have paused it (its reader was slower); this one's answer must be read.
    this.socket.resume();
    const s = this.socket;
    if (body === undefined || Buffer.isBuffer(body) || Array.isArray(body)) {
      s.cork();
      s.write(head, 'latin1');
      if (Buffer.isBuffer(body)) s.write(body);
      else if (body) for (const chunk of body) s.write(chunk);
      s.uncork();
      x.sent = true;
      return;
    }
    // The head goes out with the body's first chunk, in one system call.
    x.source = body;
    s.cork();
    s.write(head, 'latin1');
    let corked = true;
    const uncork = () => {
      if (corked) {
        corked = false;
        s.uncork();
      }
    };
    const onDrain = () => body.resume();
    s.on('drain', onDrain);
    body.on('data', (chunk: Buffer) => {
      if (this.current !== x) return;
      const more = s.write(chunk);
      uncork();
      if (!more) body.pause();
    });
    body.once('end', () => {
      s.removeListener('drain', onDrain);
      uncork();
      x.sent = true;
    });
    body.once('error', (err) => {
      s.removeListener('drain', onDrain);
      // A broken source fails this request; the connection, mid-body, cannot be reused.
      if (this.current === x) s.destroy(err);
    });
  }

  private data(d: Buffer): void {
    let buf = this.pending ? Buffer.concat([this.pending, d]) : d;
    this.pending = undefined;
    while (buf.length > 0) {
      const x = this.current;
      if (!x) {
        // Bytes nobody asked for: the connection's framing is lost.
        this.socket.destroy();
        return;
      }
      if (!x.framing) {
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          if (buf.length > MAX_HEAD) return void this.socket.destroy(protocolError('head too long'));
          this.pending = buf;
          return;
        }
        if (!this.head(x, buf.toString('latin1', 0, end))) return;
        buf = buf.subarray(end + 4);
        continue;
      }
      buf = this.body(x, x.framing, buf);
    }
  }

  /** Parses a response's head; false when the connection was given up. */
  private head(x: Exchanging, text: string): boolean {
    const lines = text.split('\r\n');
    const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (!status) {
      this.socket.destroy(protocolError(JSON.stringify(lines[0].slice(0, 80))));
      return false;
    }
    const code = Number(status[2]);
    // An interim answer (100 Continue) is followed by the real one.
    if (code < 200) return true;
    const headers: IncomingHttpHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(':');
      if (colon <= 0) continue;
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      const had = headers[name];
      headers[name] = had === undefined ? value : `${had}, ${value}`;
    }
    const connection = String(headers.connection ?? '').toLowerCase();
    x.keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    const length = headers['content-length'];
    const chunked = /chunked/i.test(String(headers['transfer-encoding'] ?? ''));
    x.framing =
      x.method === 'HEAD' || code === 204 || code === 304
        ? { kind: 'length', left: 0 }
        : chunked
          ? { kind: 'chunked', left: 0, state: 'size' }
          : length !== undefined
            ? { kind: 'length', left: Number(length) }
            : { kind: 'close' };
    if (x.framing.kind === 'length' && !(x.framing.left >= 0)) {
      this.socket.destroy(protocolError(`content-length ${String(length)}`));
      return false;
    }
    if (x.framing.kind === 'close') x.keepAlive = false;
    const s = this.socket;
    const body = new Readable({ read: () => s.resume() });
    x.body = body;
    body.once('close', () => {
      // Destroyed by its reader before its end: what is left of it would still arrive.
      if (this.current === x) s.destroy();
    });
    x.resolve({ statusCode: code, headers, body });
    if (x.framing.kind === 'length' && x.framing.left === 0) this.done(x);
    return true;
  }

  /** Feeds the body; returns the bytes past what this call consumed. */
  private body(x: Exchanging, f: Framing, buf: Buffer): Buffer {
    if (f.kind === 'close') {
      this.push(x, buf);
      return buf.subarray(buf.length);
    }
    if (f.kind === 'length') {
      const take = Math.min(f.left, buf.length);
      f.left -= take;
      this.push(x, take === buf.length ? buf : buf.subarray(0, take));
      if (f.left === 0) this.done(x);
      return buf.subarray(take);
    }
    if (f.state === 'data') {
      const take = Math.min(f.left, buf.length);
      f.left -= take;
      this.push(x, take === buf.length ? buf : buf.subarray(0, take));
      if (f.left === 0) f.state = 'data-end';
      return buf.subarray(take);
    }
    const eol = buf.indexOf('\r\n');
    if (eol < 0) {
      if (buf.length > MAX_HEAD) this.socket.destroy(protocolError('chunk line too long'));
      else this.pending = buf;
      return buf.subarray(buf.length);
    }
    const line = buf.toString('latin1', 0, eol);
    const rest = buf.subarray(eol + 2);
    if (f.state === 'data-end') {
      if (line !== '') this.socket.destroy(protocolError('chunk not followed by CRLF'));
      else f.state = 'size';
    } else if (f.state === 'size') {
      const size = parseInt(line, 16);
      if (!/^[0-9a-fA-F]+/.test(line) || !(size >= 0)) this.socket.destroy(protocolError(`chunk size ${JSON.stringify(line.slice(0, 20))}`));
      else if (size === 0) f.state = 'trailer';
      else {
        f.left = size;
        f.state = 'data';
      }
    } else if (line === '') this.done(x);
    return this.socket.destroyed ? rest.subarray(rest.length) : rest;
  }

  private push(x: Exchanging, b: Buffer): void {
    if (b.length && !x.body!.push(b)) this.socket.pause();
  }

  /** The response has arrived in full: its body ends, the connection goes back to the pool when it can. */
  private done(x: Exchanging): void {
    this.current = undefined;
    x.source?.destroy();
    x.body!.push(null);
    if (x.keepAlive && x.sent && this.pending === undefined) {
      this.socket.unref();
      this.release(this);
    } else {
      this.dead = true;
      this.socket.destroy();
    }
  }

  private fail(err: Error): void {
    this.dead = true;
    this.forget(this);
    const x = this.current;
    this.current = undefined;
    if (!x) return;
    x.source?.destroy();
    if (x.framing?.kind === 'close' && err.message === 'socket hang up') x.body!.push(null);
    // As node:http's answers: the error goes to a body's readers, and a body nobody listens to
    // (a PUT's empty answer, resumed) just ends, not as an uncaught error.
    else if (x.body) x.body.destroy(x.body.listenerCount('error') > 0 ? err : undefined);
    else x.reject(err);
  }
}

/** The connections of one store (its endpoint, or AWS's hosts), kept alive between requests. */
export function httpConnections(): { exchange: Exchange; close(): void } {
  const idle = new Map<string, Connection[]>();
  const all = new Set<Connection>();
  const forget = (c: Connection) => {
    all.delete(c);
    for (const list of idle.values()) {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
    }
  };
  const exchange: Exchange = (request, body) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const origin = `${request.protocol}//${request.hostname}:${request.port ?? ''}`;
      const free = idle.get(origin) ?? [];
      idle.set(origin, free);
      let c = free.pop();
      while (c && !c.usable) c = free.pop();
      if (!c) {
        const https = request.protocol === 'https:';
        const port = request.port ?? (https ? 443 : 80);
        const socket = https ? tlsConnect({ host: request.hostname, port, servername: isIP(request.hostname) ? undefined : request.hostname }) : netConnect({ host: request.hostname, port });
        const connecting = setTimeout(() => socket.destroy(Object.assign(new Error(`no connection to ${request.hostname} in ${CONNECT_MS / 1000} s`), { name: 'TimeoutError' })), CONNECT_MS);
        socket.once(https ? 'secureConnect' : 'connect', () => clearTimeout(connecting));
        socket.once('close', () => clearTimeout(connecting));
        c = new Connection(socket, (done) => free.push(done), forget);
        all.add(c);
      }
      c.send(request, body, resolve, reject);
    });
  return {
    exchange,
    close() {
      for (const c of all) c.socket.destroy();
      all.clear();
      idle.clear();
    },
  };
}
