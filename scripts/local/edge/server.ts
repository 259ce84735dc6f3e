import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Agent, createServer, IncomingMessage, request as httpRequest, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { API_GATEWAY_TIMEOUT_MS, ORIGIN_SECRET_KEY } from '../../../core/contract';
import { apiRouteOf, gatewayAnswer } from '../../../modules/api-routes';
import {
  API_BEHAVIOUR,
  API_PATH_PATTERN,
  API_REQUEST,
  CACHE_POLICY_ENCODINGS,
  cacheControlOf,
  COMPRESSIBLE_BYTES,
  COMPRESSIBLE_CONTENT_TYPES,
  contentTypeOf,
  EdgeBehaviour,
  FRONTEND_BEHAVIOUR,
  MAX_REQUEST_BYTES,
  MAX_URL_BYTES,
  SECURITY_RESPONSE_HEADERS,
  SPA_REWRITE,
} from '../../../modules/edge-behaviour';
import { CfRequest, CfResponse, CfValue, loadCloudFrontFunction, ViewerRequestEvent } from './cloudfront-function';

/**
 * The local edge: one origin, as CloudFront gives the browser in AWS (stacks/edge.ts). Each
 * request runs the viewer-request function of its behaviour, the very code the edge stack
 * deploys (modules/edge-behaviour.ts, executed by ./cloudfront-function.ts): `/api/*` runs the
 * API function (strips `/api`, writes the viewer address and the origin secret from its key
 * value store) and goes to the gateways the way the REST API routes them; everything else runs
 * the SPA rewrite and is read from the front end's folder or bucket, with the Content-Type and
 * Cache-Control publish:frontend stores. Each behaviour takes the methods, and compresses as, the
 * edge stack configures it (FRONTEND_BEHAVIOUR, API_BEHAVIOUR). Every answer carries the response
 * headers policy's security headers, over whatever the origin sent.
 */

/** The user metadata a local publish also keeps Cache-Control in: the emulator drops the header itself (scripts/release/publish-frontend.ts). */
export const CACHE_CONTROL_METADATA = 'cache-control';

/** Where the front end is read: the build folder, or the bucket publish:frontend wrote to. */
export type FrontendSource = { kind: 'folder'; dir: string } | { kind: 'bucket'; bucket: string; s3: S3Client };

export interface EdgeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  frontend: FrontendSource;
  /** The gateways' base URLs. */
  gateways: { b2c: string; b2b: string };
  /** The origin secret in the API function's key value store; without it the header stays out, as in AWS before it is put. */
  originSecret?: string;
  /** Answered at `/api/openapi.json`: the public API's contract (a local convenience, the REST API has no such route). */
  openApiFile: string;
  /** How long a gateway may take to answer before API Gateway's 504; its integration timeout (29 s) unless a test shortens it. */
  apiTimeoutMs?: number;
}

export interface LocalEdge {
  url: string;
  port: number;
  /** What the front end is served from, for a banner. */
  describe: string;
  close(): Promise<void>;
}

/** The gateway the REST API's routes (API_ROUTES, core/contract.ts) send `method path` to. */
function apiTarget(gateways: EdgeOptions['gateways'], method: string, path: string): string | undefined {
  const service = apiRouteOf(method, path);
  return service === undefined ? undefined : service === 'gateway-b2c' ? gateways.b2c : gateways.b2b;
}

/** Connection-level headers a proxy does not pass on (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

const apiPattern = new RegExp(`^${API_PATH_PATTERN.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);

/**
 * The path CloudFront matches a request against the cache behaviours' patterns: normalised as
 * RFC 3986 says (percent-encoded unreserved characters decoded, §6.2.2.2; dot segments removed,
 * §5.2.4) and with runs of slashes made one, as the CloudFront developer guide's "Path pattern"
 * describes. Only the matching uses it: the function, and then the origin, get the path as the
 * viewer sent it.
 */
export function behaviourPath(uri: string): string {
  const decoded = uri.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : escape.toUpperCase();
  });
  const out: string[] = [];
  const segments = decoded.replace(/\/{2,}/g, '/').split('/').slice(1);
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '..') out.pop();
    if (segment !== '.' && segment !== '..') out.push(segment);
    // A path ending in a dot segment names the folder it leaves: `/a/b/..` is `/a/`.
    else if (last) out.push('');
  });
  return `/${out.join('/')}`;
}

const viewerIp = (req: IncomingMessage) => (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');

/** The request as the runtime hands it to a function: lower-case headers, the query and cookies split out, values as received. */
function eventOf(req: IncomingMessage, host: string): ViewerRequestEvent {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const querystring: Record<string, CfValue> = {};
  for (const pair of q >= 0 ? url.slice(q + 1).split('&').filter(Boolean) : []) {
    const eq = pair.indexOf('=');
    const [name, value] = eq >= 0 ? [pair.slice(0, eq), pair.slice(eq + 1)] : [pair, ''];
    addValue(querystring, name, value);
  }
  const headers: Record<string, CfValue> = {};
  const cookies: Record<string, CfValue> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    for (const value of values ?? []) {
      if (name !== 'cookie') {
        addValue(headers, name, value);
        continue;
      }
      for (const part of value.split(';').map((c) => c.trim()).filter(Boolean)) {
        const eq = part.indexOf('=');
        addValue(cookies, eq >= 0 ? part.slice(0, eq) : part, eq >= 0 ? part.slice(eq + 1) : '');
      }
    }
  }
  return {
    version: '1.0',
    context: { distributionDomainName: host, distributionId: 'LOCALEDGE', eventType: 'viewer-request', requestId: randomUUID() },
    viewer: { ip: viewerIp(req) },
    request: { method: req.method ?? 'GET', uri: q >= 0 ? url.slice(0, q) : url, querystring, headers, cookies },
  };
}

function addValue(into: Record<string, CfValue>, name: string, value: string): void {
  const existing = into[name];
  if (!existing) into[name] = { value };
  else into[name] = { value: existing.value, multiValue: [...(existing.multiValue ?? [{ value: existing.value }]), { value }] };
}

const valuesOf = (v: CfValue): string[] => (v.multiValue ?? [v]).map((m) => m.value);

/**
 * The query the gateway's Lambda adapter rebuilds from API Gateway's event, where a name given
 * without a value (`?a`) and one given an empty one (`?a=`) are both the empty string: `a=`.
 */
function queryOf(request: CfRequest): string {
  const pairs = Object.entries(request.querystring).flatMap(([name, v]) => valuesOf(v).map((value) => `${name}=${value}`));
  return pairs.length > 0 ? `?${pairs.join('&')}` : '';
}

function send(res: ServerResponse, status: number, headers: Record<string, string | string[]>, body: Buffer | string, head: boolean): void {
  res.writeHead(status, { ...headers, ...SECURITY_RESPONSE_HEADERS });
  res.end(head ? undefined : body);
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * CloudFront's own error page, the HTML it answers when it refuses a request or cannot reach the
 * origin (it has no custom error responses: stacks/edge.ts). `detail` is the local cause, for
 * the developer; CloudFront names none.
 */
function cloudFrontErrorPage(status: number, reason: string, detail?: string): string {
  return [
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">',
    '<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">',
    '<TITLE>ERROR: The request could not be satisfied</TITLE>',
    '</HEAD><BODY>',
    `<H1>${status} ERROR</H1>`,
    '<H2>The request could not be satisfied.</H2>',
    '<HR noshade size="1px">',
    reason,
    ...(detail ? ['<BR clear="all">', `Local edge: ${escapeHtml(detail)}`] : []),
    '<BR clear="all">',
    '<HR noshade size="1px">',
    '<PRE>',
    'Generated by cloudfront (CloudFront)',
    `Request ID: ${randomUUID()}`,
    '</PRE>',
    '<ADDRESS>',
    '</ADDRESS>',
    '</BODY></HTML>',
  ].join('\n');
}

const CLOUDFRONT_ERROR_HEADERS = { 'content-type': 'text/html', 'x-cache': 'Error from cloudfront' };

function sendCloudFrontError(res: ServerResponse, status: number, reason: string, head: boolean, detail?: string): void {
  send(res, status, CLOUDFRONT_ERROR_HEADERS, cloudFrontErrorPage(status, reason, detail), head);
}

/**
 * The bytes of a request before its body, as the viewer sent them: the request line and each
 * header line, then the blank line (CloudFront's request quota, MAX_REQUEST_BYTES).
 */
function requestBytes(req: IncomingMessage): number {
  let bytes = Buffer.byteLength(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n\r\n`);
  for (let i = 0; i < req.rawHeaders.length; i += 2) bytes += Buffer.byteLength(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`);
  return bytes;
}

const tooLong = (bytes: string) => `the request line and headers are ${bytes} bytes, over CloudFront's ${MAX_REQUEST_BYTES}`;

/** Read by node up to here, so the edge can count a request past CloudFront's quota and answer it as CloudFront does. */
const READ_HEADER_BYTES = 4 * MAX_REQUEST_BYTES;

const METHOD_NOT_ALLOWED = 'This distribution is not configured to allow the HTTP request method that was used for this request. The distribution supports only cachable requests.';
const ORIGIN_UNREACHABLE = "CloudFront wasn't able to connect to the origin.";
const BAD_REQUEST = 'Bad request.';

/** API Gateway's own answer, as its gateway responses (GATEWAY_RESPONSES) write it. */
function sendGatewayAnswer(res: ServerResponse, type: string, status: number, message: string, head: boolean, extra: Record<string, string> = {}): void {
  const answer = gatewayAnswer(type, status, message);
  send(res, answer.status, { ...answer.headers, ...extra }, answer.body, head);
}

// CloudFront does not say its levels; a fast Brotli level keeps each answer of `npm run dev` cheap.
const compressors = {
  br: promisify((body: Buffer, done: (err: Error | null, out: Buffer) => void) => brotliCompress(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } }, done)),
  gzip: promisify((body: Buffer, done: (err: Error | null, out: Buffer) => void) => gzip(body, done)),
};

/**
 * The encoding CloudFront answers in under a behaviour: one its cache policy enables and the
 * viewer accepts (not with `q=0`), Brotli first; none for an HTTP/1.0 request, whose
 * Accept-Encoding CloudFront drops.
 */
export function edgeEncoding(behaviour: EdgeBehaviour, acceptEncoding: string | undefined, httpVersion = '1.1'): 'br' | 'gzip' | undefined {
  if (!behaviour.compress || httpVersion === '1.0') return undefined;
  const accepted = new Set(
    (acceptEncoding ?? '')
      .split(',')
      .map((part) => part.trim().toLowerCase().split(/\s*;\s*/))
      .filter(([, ...params]) => !params.some((p) => /^q=0(\.0*)?$/.test(p)))
      .map(([name]) => name),
  );
  return (CACHE_POLICY_ENCODINGS[behaviour.cachePolicyId] ?? []).find((encoding) => accepted.has(encoding));
}

/** Whether CloudFront compresses an answer of this type and size (COMPRESSIBLE_CONTENT_TYPES, COMPRESSIBLE_BYTES). */
const compressible = (contentType: string, size: number) =>
  COMPRESSIBLE_CONTENT_TYPES.has(contentType.split(';')[0].trim().toLowerCase()) && size >= COMPRESSIBLE_BYTES.min && size <= COMPRESSIBLE_BYTES.max;

/** What S3 answers an OPTIONS with: the SPA bucket has no CORS configuration (modules/secure-bucket.ts), the app being same-origin. */
const CORS_NOT_ENABLED = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessForbidden</Code><Message>CORSResponse: CORS is not enabled for this bucket.</Message></Error>';

/** What S3 answers through Origin Access Control for a key it does not hold (the policy grants no ListBucket). */
const ACCESS_DENIED = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

/** S3's answer to a path whose percent-encoding does not decode. */
const INVALID_URI = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidURI</Code><Message>Couldn't parse the specified URI.</Message></Error>";

function keyOf(uri: string): string | undefined {
  try {
    return decodeURIComponent(uri.replace(/^\//, ''));
  } catch {
    return undefined;
  }
}

interface StoredObject {
  body: Buffer;
  contentType: string;
  cacheControl?: string;
  etag?: string;
  lastModified?: Date;
}

/** The object at a key, or undefined when the source holds none. */
async function readObject(source: FrontendSource, key: string): Promise<StoredObject | undefined> {
  // An S3 key is a name, not a path: `api/../index.html` or `/index.html` is no key a build publishes, where a file system
  // (or the emulator's HTTP path) would resolve it to one.
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) return undefined;
  if (source.kind === 'folder') {
    const root = resolve(source.dir);
    const file = resolve(root, key);
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return undefined;
    const body = readFileSync(file);
    return {
      body,
      contentType: contentTypeOf(key),
      cacheControl: cacheControlOf(key),
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      lastModified: statSync(file).mtime,
    };
  }
  try {
    const out = await source.s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: key }));
    return {
      body: Buffer.from(await out.Body!.transformToByteArray()),
      contentType: out.ContentType ?? 'application/octet-stream',
      cacheControl: out.CacheControl ?? out.Metadata?.[CACHE_CONTROL_METADATA],
      etag: out.ETag,
      lastModified: out.LastModified,
    };
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket') return undefined;
    throw err;
  }
}

/**
 * Whether a conditional GET or HEAD matches the stored object, which CloudFront (and S3 behind it)
 * answers with a 304: If-None-Match (weak comparison, `*` included) decides when it is sent, else
 * If-Modified-Since (RFC 9110 §13.2.2). `index.html` is `no-cache`, so every load revalidates it.
 */
function notModified(req: IncomingMessage, object: StoredObject): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    if (!object.etag) return false;
    const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
    return ifNoneMatch.split(',').some((tag) => tag.trim() === '*' || opaque(tag) === opaque(object.etag!));
  }
  const since = Date.parse(req.headers['if-modified-since'] ?? '');
  return object.lastModified !== undefined && !Number.isNaN(since) && Math.floor(object.lastModified.getTime() / 1000) * 1000 <= since;
}

/**
 * The part of an object a `Range` header asks for, as S3 reads it behind CloudFront: one
 * `bytes=first-last`, `bytes=first-` or `bytes=-suffix` range, the last byte clamped to the
 * object. A header S3 does not act on (another unit, a malformed or reversed range, several
 * ranges, which S3 does not serve) is ignored and the whole object answered; a range that starts
 * past the end is unsatisfiable (RFC 9110 §14.1.1).
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return undefined;
  return start >= size ? 'unsatisfiable' : { start, end: Math.min(last, size - 1) };
}

function notBuilt(source: FrontendSource): string {
  return source.kind === 'folder'
    ? `The front end is not built: ${source.dir} has no index.html.\nnpm run dev builds it (frontend/, ng build); the API is at /api/ meanwhile.\n`
    : `The front end is not published: bucket ${source.bucket} has no index.html.\nRun npm run publish:frontend -- --env local while npm run dev runs; the API is at /api/ meanwhile.\n`;
}

export async function startLocalEdge(options: EdgeOptions): Promise<LocalEdge> {
  // Connections to the gateways are kept, as CloudFront keeps its origin connections.
  const agent = new Agent({ keepAlive: true });
  const spaRewrite = loadCloudFrontFunction('spa-rewrite', SPA_REWRITE);
  const apiRequest = loadCloudFrontFunction('api-prefix', API_REQUEST, options.originSecret ? { [ORIGIN_SECRET_KEY]: options.originSecret } : {});

  const answerResponse = (res: ServerResponse, response: CfResponse, head: boolean) => {
    const headers = Object.fromEntries(Object.entries(response.headers ?? {}).map(([k, v]) => [k, valuesOf(v)]));
    const body = typeof response.body === 'string' ? response.body : response.body ? Buffer.from(response.body.data, response.body.encoding === 'base64' ? 'base64' : 'utf8') : '';
    send(res, response.statusCode, headers, body, head);
  };

  const serveFrontend = async (req: IncomingMessage, res: ServerResponse, event: ViewerRequestEvent) => {
    const head = req.method === 'HEAD';
    const result = await spaRewrite(event);
    if ('response' in result) return answerResponse(res, result.response, head);
    if (req.method === 'OPTIONS') return send(res, 403, { 'content-type': 'application/xml' }, CORS_NOT_ENABLED, head);
    // The key is the path after its one leading slash: `//index.html` names the key `/index.html`, as in S3.
    const key = keyOf(result.request.uri);
    if (key === undefined) return send(res, 400, { 'content-type': 'application/xml' }, INVALID_URI, head);
    const object = await readObject(options.frontend, key);
    if (!object) {
      if (key === 'index.html') return send(res, 404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, notBuilt(options.frontend), head);
      return send(res, 403, { 'content-type': 'application/xml' }, ACCESS_DENIED, head);
    }
    const validators = {
      ...(object.cacheControl ? { 'cache-control': object.cacheControl } : {}),
      ...(object.etag ? { etag: object.etag } : {}),
      ...(object.lastModified ? { 'last-modified': object.lastModified.toUTCString() } : {}),
    };
    const size = object.body.length;
    const range = byteRange(req.headers.range, size);
    const encoding = compressible(object.contentType, size) ? edgeEncoding(FRONTEND_BEHAVIOUR, req.headers['accept-encoding'], req.httpVersion) : undefined;
    // A compressed answer is not the stored bytes: CloudFront makes a strong ETag weak, in the 304 that revalidates it too.
    const weakened = encoding && validators.etag?.startsWith('"') ? { ...validators, etag: `W/${validators.etag}` } : validators;
    if (notModified(req, object)) return send(res, 304, range ? validators : weakened, '', true);
    if (range === 'unsatisfiable') {
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message><RangeRequested>${req.headers.range}</RangeRequested><ActualObjectSize>${size}</ActualObjectSize></Error>`;
      return send(res, 416, { 'content-type': 'application/xml', 'content-range': `bytes */${size}` }, body, head);
    }
    if (range) {
      const part = object.body.subarray(range.start, range.end + 1);
      const headers = { 'content-type': object.contentType, 'content-length': String(part.length), 'accept-ranges': 'bytes', 'content-range': `bytes ${range.start}-${range.end}/${size}`, ...validators };
      return send(res, 206, headers, part, head);
    }
    const body = encoding ? await compressors[encoding](object.body) : object.body;
    const headers = {
      'content-type': object.contentType,
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...weakened,
      ...(encoding ? { 'content-encoding': encoding, vary: 'Accept-Encoding' } : {}),
    };
    send(res, 200, headers, body, head);
  };

  const serveApi = async (req: IncomingMessage, res: ServerResponse, event: ViewerRequestEvent) => {
    const head = req.method === 'HEAD';
    const result = await apiRequest(event);
    if ('response' in result) return answerResponse(res, result.response, head);
    const forwarded = result.request;
    if (forwarded.uri === '/openapi.json' && (req.method === 'GET' || head)) {
      return send(res, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }, readFileSync(options.openApiFile), head);
    }
    const target = apiTarget(options.gateways, forwarded.method, forwarded.uri);
    if (!target) {
      // API Gateway's answer for a path or method it has no resource for.
      return sendGatewayAnswer(res, 'MISSING_AUTHENTICATION_TOKEN', 403, 'Missing Authentication Token', head, { 'x-amzn-errortype': 'MissingAuthenticationTokenException' });
    }
    // The origin request policy (all viewer headers but Host), as the function left them.
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(forwarded.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = valuesOf(value);
    const cookies = Object.entries(forwarded.cookies).flatMap(([name, v]) => valuesOf(v).map((value) => `${name}=${value}`));
    if (cookies.length > 0) headers.cookie = cookies.join('; ');
    // CloudFront appends the viewer to the chain the client sent.
    const chain = forwarded.headers['x-forwarded-for'];
    headers['x-forwarded-for'] = chain ? `${valuesOf(chain).join(', ')}, ${event.viewer.ip}` : event.viewer.ip;
    // The path and query go out as the function left them: a URL parser would percent-encode `'`, `"`, `<`, `>` and resolve
    // dot segments and backslashes, which CloudFront hands on as the viewer sent them.
    const { hostname, port } = new URL(target);
    await new Promise<void>((done, fail) => {
      let timedOut = false;
      const path = forwarded.uri + queryOf(forwarded);
      const upstream = httpRequest({ host: hostname, port, path, method: forwarded.method, headers, agent }, (answer) => {
        clearTimeout(timer);
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headersDistinct)) if (!HOP_BY_HOP.has(name) && value) out[name] = value;
        res.writeHead(answer.statusCode ?? 502, { ...out, ...SECURITY_RESPONSE_HEADERS });
        answer.pipe(res);
        answer.on('end', done);
        answer.on('error', fail);
      });
      // In AWS API Gateway ends the integration at 29 s, before CloudFront's 30 s read timeout: a gateway slower than
      // that answers locally what no browser would ever get from the platform.
      const timer = setTimeout(() => {
        timedOut = true;
        upstream.destroy();
        sendGatewayAnswer(res, 'INTEGRATION_TIMEOUT', 504, 'Endpoint request timed out', head);
        done();
      }, options.apiTimeoutMs ?? API_GATEWAY_TIMEOUT_MS);
      upstream.on('error', (err) => {
        clearTimeout(timer);
        if (timedOut) return;
        if (res.headersSent) return fail(err);
        // A gateway that is not running is, in AWS, a function that failed: API Gateway's 502, in the contract's error body.
        sendGatewayAnswer(res, 'INTEGRATION_FAILURE', 502, 'Internal server error', head);
        done();
      });
      req.pipe(upstream);
    });
  };

  // The connections with a response under way.
  const answering = new WeakSet<Socket>();
  const server: Server = createServer({ maxHeaderSize: READ_HEADER_BYTES }, (req, res) => {
    answering.add(req.socket);
    res.on('close', () => answering.delete(req.socket));
    const urlBytes = Buffer.byteLength(req.url ?? '');
    if (urlBytes > MAX_URL_BYTES) return sendCloudFrontError(res, 413, BAD_REQUEST, req.method === 'HEAD', `the URL is ${urlBytes} bytes, over CloudFront's ${MAX_URL_BYTES}`);
    const bytes = requestBytes(req);
    if (bytes > MAX_REQUEST_BYTES) return sendCloudFrontError(res, 413, BAD_REQUEST, req.method === 'HEAD', tooLong(String(bytes)));
    const event = eventOf(req, req.headers.host ?? 'localhost');
    const [behaviour, handle] = apiPattern.test(behaviourPath(event.request.uri)) ? [API_BEHAVIOUR, serveApi] : [FRONTEND_BEHAVIOUR, serveFrontend];
    const head = req.method === 'HEAD';
    if (!behaviour.allowedMethods.includes(event.request.method)) return sendCloudFrontError(res, 403, METHOD_NOT_ALLOWED, head);
    // CloudFront refuses a GET that carries a body ("GET requests that include a body", its developer guide).
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (req.method === 'GET' && hasBody) return sendCloudFrontError(res, 403, BAD_REQUEST, head, 'a GET with a body');
    handle(req, res, event).catch((err: Error) => {
      if (res.headersSent) return res.destroy(err);
      sendCloudFrontError(res, 502, ORIGIN_UNREACHABLE, head, err.message);
    });
  });
  // Past what node reads, the request is refused before it is parsed: CloudFront's 413 all the same, in place of node's
  // bare 431. A 'clientError' listener replaces node's own answer to every request it cannot parse, so the others get
  // that answer here, and neither is written into a response under way on the connection.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || answering.has(socket)) return socket.destroy();
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      const page = cloudFrontErrorPage(413, BAD_REQUEST, tooLong(`over ${READ_HEADER_BYTES}`));
      const headers = { ...CLOUDFRONT_ERROR_HEADERS, ...SECURITY_RESPONSE_HEADERS, 'content-length': String(Buffer.byteLength(page)), connection: 'close' };
      return socket.end(`HTTP/1.1 413 Request Entity Too Large\r\n${Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')}\r\n${page}`);
    }
    socket.end(`HTTP/1.1 ${err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
  });
  const port = await new Promise<number>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => done((server.address() as AddressInfo).port));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    describe: options.frontend.kind === 'folder' ? `front end from ${options.frontend.dir}` : `front end from bucket ${options.frontend.bucket}`,
    close: () =>
      new Promise<void>((done) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
