import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

/**
 * The requests made for every object, GetObject on the source and PutObject (or UploadPart) on
 * the target, and the source's listing, sent through the S3 client's own credentials and HTTP
 * handler (its keep-alive agent and timeouts) but signed here. The SDK's command pipeline
 * (endpoint rules, serde, its asynchronous signer) costs about 1.4 ms of CPU per request against
 * 0.35 ms for this path, and its XML reader most of the listing's time (docs/data-migration.md):
 * with thousands of small objects that CPU, not the network, bounded the move. HeadObject, the
 * multipart calls and the checks of buckets (whose errors the SDK names) stay on SDK commands. A
 * PUT's payload is signed with the SHA-256 we compute anyway.
 */
export interface ObjectRequests {
  /** ListObjectsV2, page after page: every key under the prefix with its size. */
  list(bucket: string, prefix: string): AsyncGenerator<{ key: string; size: number }>;
  get(bucket: string, key: string): Promise<Fetched>;
  put(bucket: string, key: string, body: Body, headers?: Record<string, string | undefined>, query?: Record<string, string>): Promise<Stored>;
}

/** A body to PUT as it was read (chunks never joined into one buffer), with its sums. */
export interface Body {
  chunks: Buffer[];
  size: number;
  /** Sent as Content-MD5 when we computed it. */
  md5?: Buffer;
  sha256: Buffer;
}

export interface Fetched {
  body: Readable;
  etag?: string;
  contentType?: string;
  cacheControl?: string;
}

/** What the target answered: its ETag, and the SHA-256 it checked when it checks one. */
export interface Stored {
  ETag?: string;
  ChecksumSHA256?: string;
}

interface HttpResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: Readable;
}

/** The handler and credentials every SDK client carries (NodeHttpHandler, the provider chain). */
interface ClientParts {
  requestHandler: { handle(request: unknown): Promise<{ response: HttpResponse }> };
  credentials(): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string }>;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');
const ATTEMPTS = 3;

/** RFC 3986 encoding of a path segment or query part, as SigV4 canonicalises it. */
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string) =>
  s.includes('&') ? s.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (m, e: string) => (e[0] === '#' ? String.fromCodePoint(Number(e[1] === 'x' ? `0${e.slice(1)}` : e.slice(1))) : (ENTITIES[e] ?? m))) : s;
/** A whole response body as UTF-8 (decoded once: a character may straddle two chunks). */
async function text(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const tag = (xml: string, name: string) => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]) : undefined;
};

/** An S3 error as the SDK would raise it (name, $metadata.httpStatusCode), for describeS3Error and the 404 checks. */
async function failure(res: HttpResponse): Promise<Error> {
  const xml = await text(res.body);
  const code = tag(xml, 'Code') ?? (res.statusCode === 404 ? 'NotFound' : `Http${res.statusCode}`);
  const message = tag(xml, 'Message') ?? `HTTP ${res.statusCode}`;
  return Object.assign(new Error(message), { name: code, $metadata: { httpStatusCode: res.statusCode } });
}

/** Throttling, server errors and dropped connections are tried again, as the SDK's standard retry does. */
function retryable(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; code?: string; name?: string };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED'].includes(e.code ?? '') || e.name === 'TimeoutError';
}

export function objectRequests(client: S3Client, where: { endpoint?: string; region: string }): ObjectRequests {
  const parts = client.config as unknown as ClientParts;
  const base = where.endpoint ? new URL(where.endpoint) : undefined;
  const keys = new Map<string, Buffer>();
  const signingKey = (secret: string, day: string) => {
    const id = `${secret}/${day}`;
    let k = keys.get(id);
    if (!k) {
      k = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), where.region), 's3'), 'aws4_request');
      keys.clear();
      keys.set(id, k);
    }
    return k;
  };

  /** Path-style on a custom endpoint (as the SDK client is configured there), virtual-hosted on AWS. */
  // The bucket itself (a listing) is `/bucket` path-style and `/` virtual-hosted.
  const target = (bucket: string, key: string) => {
    const path = key.split('/').map(encode).join('/');
    if (base) return { protocol: base.protocol, hostname: base.hostname, port: base.port ? Number(base.port) : undefined, path: `${base.pathname.replace(/\/$/, '')}/${bucket}${key ? `/${path}` : ''}` };
    return bucket.includes('.')
      ? { protocol: 'https:', hostname: `s3.${where.region}.amazonaws.com`, port: undefined, path: `/${bucket}${key ? `/${path}` : ''}` }
      : { protocol: 'https:', hostname: `${bucket}.s3.${where.region}.amazonaws.com`, port: undefined, path: `/${path}` };
  };

  async function send(method: 'GET' | 'PUT', bucket: string, key: string, payloadSha256: string, headers: Record<string, string | undefined>, query: Record<string, string>, body?: Body): Promise<HttpResponse> {
    const t = target(bucket, key);
    const host = t.port ? `${t.hostname}:${t.port}` : t.hostname;
    for (let attempt = 1; ; attempt++) {
      const creds = await parts.credentials();
      const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
      const day = amzDate.slice(0, 8);
      const signed: Record<string, string> = { host, 'x-amz-content-sha256': payloadSha256, 'x-amz-date': amzDate };
      if (creds.sessionToken) signed['x-amz-security-token'] = creds.sessionToken;
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) signed[name.toLowerCase()] = value;
      const names = Object.keys(signed).sort();
      const canonicalQuery = Object.keys(query)
        .sort()
        .map((k) => `${encode(k)}=${encode(query[k])}`)
        .join('&');
      const canonical = [method, t.path, canonicalQuery, ...names.map((n) => `${n}:${signed[n].trim()}`), '', names.join(';'), payloadSha256].join('\n');
      const scope = `${day}/${where.region}/s3/aws4_request`;
      const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
      const signature = createHmac('sha256', signingKey(creds.secretAccessKey, day)).update(toSign).digest('hex');
      const request = {
        method,
        protocol: t.protocol,
        hostname: t.hostname,
        port: t.port,
        path: t.path,
        query,
        headers: {
          ...signed,
          ...(body ? { 'content-length': String(body.size) } : {}),
          authorization: `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
        },
        // A fresh stream per attempt: a retry sends the same chunks again.
        body: body && (body.chunks.length === 1 ? body.chunks[0] : Readable.from(body.chunks)),
      };
      try {
        const { response } = await parts.requestHandler.handle(request);
        if (response.statusCode < 300) return response;
        throw await failure(response);
      } catch (err) {
        if (attempt >= ATTEMPTS || !retryable(err)) throw err;
        await new Promise((r) => setTimeout(r, 100 * 2 ** attempt * Math.random()));
      }
    }
  }

  return {
    async *list(bucket, prefix) {
      let token: string | undefined;
      do {
        const res = await send('GET', bucket, '', EMPTY_SHA256, {}, { 'list-type': '2', prefix, ...(token ? { 'continuation-token': token } : {}) });
        const xml = await text(res.body);
        for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) yield { key: tag(m[1], 'Key') ?? '', size: Number(tag(m[1], 'Size') ?? 0) };
        token = tag(xml, 'IsTruncated') === 'true' ? tag(xml, 'NextContinuationToken') : undefined;
      } while (token);
    },
    async get(bucket, key) {
      const res = await send('GET', bucket, key, EMPTY_SHA256, {}, {});
      return { body: res.body, etag: res.headers.etag, contentType: res.headers['content-type'], cacheControl: res.headers['cache-control'] };
    },
    async put(bucket, key, body, headers = {}, query = {}) {
      const res = await send(
        'PUT',
        bucket,
        key,
        body.sha256.toString('hex'),
        { ...headers, 'content-md5': body.md5?.toString('base64'), 'x-amz-checksum-sha256': body.sha256.toString('base64') },
        query,
        body,
      );
      res.body.resume();
      return { ETag: res.headers.etag, ChecksumSHA256: res.headers['x-amz-checksum-sha256'] };
    },
  };
}
