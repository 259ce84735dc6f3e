import { createHash, createHmac, hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { isServerError, isThrottlingError, isTransientError, StandardRetryStrategy } from '@smithy/core/retry';
import { httpConnections, type Exchange, type HttpResponse } from './http1';
import type { CredentialsProvider } from './storage';

/**
 * The requests made for every object, GetObject on the source and PutObject (or UploadPart) on
 * the target, and the source's listing, with the credentials an S3 client would take (storage.ts
 * credentialsFor: its provider chain) but signed here and sent over kept-alive connections by our HTTP/1.1 client (http1.ts, which
 * costs a third of node:http's CPU per request). The SDK's command pipeline
 * (endpoint rules, serde, its asynchronous signer) costs about 1.4 ms of CPU per request, its HTTP
 * handler alone about 0.35 ms, and its piping of a body gives no way to fail a request whose
 * source stream broke; its XML reader took most of the listing's time (docs/data-migration.md):
 * with thousands of small objects that CPU, not the network, bounded the move; the checks of the
 * buckets (HeadBucket, the listing's first page) go this way too, so that an ordinary run never
 * sets up the SDK's command pipeline. HeadObject and the multipart calls stay on SDK commands. A
 * PUT's payload is signed with the SHA-256 we compute anyway; a streamed one (no SHA-256 of ours)
 * is sent UNSIGNED-PAYLOAD with the source store's MD5 as Content-MD5, which the target checks.
 */
export interface ObjectRequests {
  /** ListObjectsV2, page after page: every key under the prefix with its size and ETag. */
  list(bucket: string, prefix: string): AsyncGenerator<{ key: string; size: number; etag?: string }>;
  get(bucket: string, key: string): Promise<Fetched>;
  put(bucket: string, key: string, body: Body | StreamedBody, headers?: Record<string, string | undefined>, query?: Record<string, string>): Promise<Stored>;
  /** Closes the kept-alive connections. */
  close(): void;
}

/** A store's requests: the object requests, and HeadBucket for the target's check. */
export interface StoreRequests extends ObjectRequests {
  /** Rejects as the SDK would (name, $metadata.httpStatusCode) when the bucket is missing or forbidden. */
  headBucket(bucket: string): Promise<void>;
  /** The store's retry strategy, which its S3 client takes too (storage.ts s3Client): one retry quota per store. */
  retries: StandardRetryStrategy;
}

/**
 * A body piped from the source GET into the PUT as it arrives, never held: `md5` is the source
 * store's own MD5 of it (its ETag). `open(attempt)` gives the stream for an attempt (a retry
 * needs a fresh GET: the first stream is spent).
 */
export interface StreamedBody {
  size: number;
  md5: Buffer;
  open(attempt: number): Promise<Readable>;
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
  /** The GET's Content-Length: the size of the version being read. */
  size?: number;
  contentType?: string;
  cacheControl?: string;
  /**
   * The object's other headers that say how to read or serve its bytes, as the GET answered them:
   * Content-Encoding (a gzip-compressed stylesheet is unreadable without it), Content-Disposition,
   * Content-Language and its user metadata (x-amz-meta-*). Lower-case names.
   */
  objectHeaders?: Record<string, string>;
  /**
   * The object is SSE-KMS (`aws:kms`, `aws:kms:dsse`) or SSE-C (its customer algorithm): its ETag
   * is then no MD5 of its bytes, even at 32 hex digits.
   */
  encrypted?: boolean;
}

/** What the target answered: its ETag, and the SHA-256 it checked when it checks one. */
export interface Stored {
  ETag?: string;
  ChecksumSHA256?: string;
}

const header = (h: IncomingHttpHeaders, name: string) => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The GET's headers an object keeps when copied (Fetched.objectHeaders). */
function objectHeadersOf(h: IncomingHttpHeaders): Record<string, string> | undefined {
  let kept: Record<string, string> | undefined;
  for (const name in h) {
    if (name !== 'content-encoding' && name !== 'content-disposition' && name !== 'content-language' && !name.startsWith('x-amz-meta-')) continue;
    const value = header(h, name);
    if (value !== undefined) (kept ??= {})[name] = value;
  }
  return kept;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** x-amz-date (SigV4's basic ISO 8601, to the second), formatted once a second. */
let stampedSecond = -1;
let stamped = '';
const stamp = () => {
  const second = Math.floor(Date.now() / 1000);
  if (second !== stampedSecond) {
    stampedSecond = second;
    stamped = new Date(second * 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  }
  return stamped;
};
/**
 * Attempts of one request by default (`--max-attempts`): a request throttled 7 times in a row
 * (SlowDown, 503, 429) still goes through, after waiting up to 71 s in all (the SDK's backoff:
 * up to 1 s, 2 s, 4 s … 20 s, drawn at random); a dropped connection or a 5xx up to 6.35 s.
 */
export const MAX_ATTEMPTS = 8;

/**
 * The AWS SDK's standard retry strategy: exponential backoff with full jitter, from a 1 s base for
 * throttling and 50 ms for other transient failures (timeouts, dropped connections, 500/502/503/504),
 * and the store's retry quota (500 tokens, 5 a throttled retry, 14 another, given back by each
 * success), which stops the retries of a store failing everything instead of piling them up.
 * Not the adaptive strategy: its client-side rate starts from the rate measured so far, which a
 * run throttled in its first half second has not measured yet, and falls to its floor of one
 * request every 2 s for the whole store until it climbs back.
 */
export const storeRetries = (maxAttempts = MAX_ATTEMPTS) => new StandardRetryStrategy(maxAttempts);

type RetryErrorType = Parameters<StandardRetryStrategy['refreshRetryTokenForRetry']>[1]['errorType'];
type SdkError = Parameters<typeof isThrottlingError>[0];

/** A failure as the SDK's retry classifies it (our errors carry the SDK's name and $metadata.httpStatusCode, or node's code). */
function errorTypeOf(err: unknown): RetryErrorType {
  const e = (err !== null && typeof err === 'object' ? err : new Error(String(err))) as SdkError;
  return isThrottlingError(e) ? 'THROTTLING' : isTransientError(e) ? 'TRANSIENT' : isServerError(e) ? 'SERVER_ERROR' : 'CLIENT_ERROR';
}

/** RFC 3986 encoding of a path segment or query part, as SigV4 canonicalises it. */
const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * A header's value as SigV4 canonicalises it: trimmed, each run of spaces and tabs one space (as S3
 * and the SDK's signer compute it; a carried Content-Disposition or metadata value may hold such runs).
 */
const canonicalValue = (v: string) => (/[ \t]{2}|\t/.test(v) ? v.replace(/[ \t]+/g, ' ') : v).trim();

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

/**
 * An S3 error as the SDK would raise it (name, $metadata.httpStatusCode), for describeS3Error and
 * the 404 checks; its message names the request, as S3's own text ("Access Denied") names no key.
 */
async function failure(res: HttpResponse, request: string): Promise<Error> {
  const xml = await text(res.body);
  const code = tag(xml, 'Code') ?? (res.statusCode === 404 ? 'NotFound' : `Http${res.statusCode}`);
  const message = tag(xml, 'Message') ?? `HTTP ${res.statusCode}`;
  return Object.assign(new Error(`${request}: ${message} (${code}, HTTP ${res.statusCode})`), { name: code, $metadata: { httpStatusCode: res.statusCode } });
}

export type { Exchange } from './http1';

/** `exchange` replaces the HTTP client (http1.ts) only where the address cannot be reached (the tests' AWS addresses). */
export function objectRequests(credentials: CredentialsProvider, where: { endpoint?: string; region: string; maxAttempts?: number }, exchange?: Exchange): StoreRequests {
  const retries = storeRetries(where.maxAttempts);
  // No cap on connections: the move's pool bounds the requests in flight (--jobs objects, a few parts each).
  const connections = httpConnections();
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

  async function send(
    method: 'GET' | 'PUT' | 'HEAD',
    bucket: string,
    key: string,
    payloadSha256: string,
    headers: Record<string, string | undefined>,
    query: Record<string, string>,
    body?: Body | StreamedBody,
  ): Promise<HttpResponse> {
    const t = target(bucket, key);
    const host = t.port ? `${t.hostname}:${t.port}` : t.hostname;
    let token = await retries.acquireInitialRetryToken('');
    for (let attempt = 1; ; attempt++) {
      const creds = await credentials();
      const amzDate = stamp();
      const day = amzDate.slice(0, 8);
      const signed: Record<string, string> = { host, 'x-amz-content-sha256': payloadSha256, 'x-amz-date': amzDate };
      if (creds.sessionToken) signed['x-amz-security-token'] = creds.sessionToken;
      for (const name in headers) {
        const value = headers[name];
        if (value !== undefined) signed[name.toLowerCase()] = value;
      }
      const names = Object.keys(signed).sort();
      let canonicalQuery = '';
      for (const k of Object.keys(query).sort()) canonicalQuery += `${canonicalQuery ? '&' : ''}${encode(k)}=${encode(query[k])}`;
      let canonical = `${method}\n${t.path}\n${canonicalQuery}\n`;
      for (const n of names) canonical += `${n}:${canonicalValue(signed[n])}\n`;
      const signedNames = names.join(';');
      canonical += `\n${signedNames}\n${payloadSha256}`;
      const scope = `${day}/${where.region}/s3/aws4_request`;
      const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${hash('sha256', canonical, 'hex')}`;
      const signature = createHmac('sha256', signingKey(creds.secretAccessKey, day)).update(toSign).digest('hex');
      signed.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signedNames}, Signature=${signature}`;
      if (body) signed['content-length'] = String(body.size);
      try {
        // A fresh stream per attempt: a retry sends the same chunks again, or reads the source again.
        const payload = !body ? undefined : 'open' in body ? await body.open(attempt) : body.chunks;
        const response = await (exchange ?? connections.exchange)({ ...t, method, path: canonicalQuery ? `${t.path}?${canonicalQuery}` : t.path, headers: signed }, payload);
        if (response.statusCode < 300) {
          retries.recordSuccess(token);
          return response;
        }
        throw await failure(response, `${method} ${bucket}/${key}`);
      } catch (err) {
        // The strategy waits out the backoff; it refuses (no attempt left, not retryable, the
        // store's quota spent) with an error of its own, and the request's is the one to name.
        try {
          token = await retries.refreshRetryTokenForRetry(token, { errorType: errorTypeOf(err) });
        } catch {
          throw err;
        }
      }
    }
  }

  return {
    async *list(bucket, prefix) {
      let next: Record<string, string> | undefined = {};
      while (next) {
        const res = await send('GET', bucket, '', EMPTY_SHA256, {}, { 'list-type': '2', prefix, ...next });
        const xml = await text(res.body);
        let last: string | undefined;
        for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
          last = tag(m[1], 'Key') ?? '';
          yield { key: last, size: Number(tag(m[1], 'Size') ?? 0), etag: tag(m[1], 'ETag') };
        }
        const token = tag(xml, 'NextContinuationToken');
        next = undefined;
        if (tag(xml, 'IsTruncated') !== 'true') break;
        // A store that truncates without a token (some S3-compatible ones) is asked again after the
        // page's last key: taking that page for the last one left the rest of the source unlisted, unsaid.
        if (token) next = { 'continuation-token': token };
        else if (last !== undefined) next = { 'start-after': last };
        else throw new Error(`ListObjectsV2 ${bucket}/${prefix}: a truncated page without a continuation token or a key to go on from`);
      }
    },
    async headBucket(bucket) {
      (await send('HEAD', bucket, '', EMPTY_SHA256, {}, {})).body.resume();
    },
    async get(bucket, key) {
      const res = await send('GET', bucket, key, EMPTY_SHA256, {}, {});
      const length = header(res.headers, 'content-length');
      return {
        body: res.body,
        etag: header(res.headers, 'etag'),
        size: length === undefined ? undefined : Number(length),
        contentType: header(res.headers, 'content-type'),
        cacheControl: header(res.headers, 'cache-control'),
        objectHeaders: objectHeadersOf(res.headers),
        encrypted: /^aws:kms/.test(header(res.headers, 'x-amz-server-side-encryption') ?? '') || header(res.headers, 'x-amz-server-side-encryption-customer-algorithm') !== undefined,
      };
    },
    async put(bucket, key, body, headers = {}, query = {}) {
      const streamed = 'open' in body;
      const res = await send(
        'PUT',
        bucket,
        key,
        streamed ? 'UNSIGNED-PAYLOAD' : body.sha256.toString('hex'),
        { ...headers, 'content-md5': body.md5?.toString('base64'), 'x-amz-checksum-sha256': streamed ? undefined : body.sha256.toString('base64') },
        query,
        body,
      );
      res.body.resume();
      return { ETag: header(res.headers, 'etag'), ChecksumSHA256: header(res.headers, 'x-amz-checksum-sha256') };
    },
    close() {
      connections.close();
    },
    retries,
  };
}
