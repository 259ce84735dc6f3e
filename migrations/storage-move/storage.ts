import { createHash } from 'node:crypto';
import { createReadStream, type BigIntStats, type Dirent } from 'node:fs';
import { readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { requestHandlerOptions, s3Sdk } from '../../core/aws-sdk';
import { BUCKETS, ENV, namePrefix, type BucketName } from '../../core/contract';
import { UsageError } from '../../core/cli';
import { log } from '../data-move/log';
import type { Source } from './args';
import { MAX_ATTEMPTS, objectRequests, type Fetched, type StoreRequests } from './object-requests';

export interface SourceObject {
  /** Key relative to the source prefix (file: path relative to the folder, `/`-separated). */
  key: string;
  size: number;
  /**
   * What changes with the content when the size does not: an S3 source's ETag, a file's
   * modification time (nanoseconds). A rerun copies again an object whose version is not the one recorded.
   */
  version?: string;
  /** Why a listed entry cannot be copied (a file: source's broken link or a FIFO): the run skips it, naming it. */
  unreadable?: string;
}

export interface SourceStore {
  describe: string;
  check(): Promise<void>;
  list(): AsyncGenerator<SourceObject>;
  open(key: string): Promise<Fetched>;
  close(): void;
}

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}
export type CredentialsProvider = () => Promise<Credentials>;

/**
 * The keys given, else the SDK's default chain as an S3 client without keys resolves it (memoized,
 * renewed before they expire), without loading the S3 client: an ordinary run signs its requests
 * itself (object-requests.ts), and evaluating the S3 client's modules was about 15 % of its start.
 */
export function credentialsFor(region: string, keys?: Credentials): CredentialsProvider {
  if (keys) return async () => keys;
  return defaultProvider({ parentClientConfig: { region } });
}

/**
 * One S3 client: path-style on any custom endpoint (the emulator, Scaleway, MinIO …), retrying
 * with its store's strategy (object-requests.ts storeRetries) when given it.
 */
export function s3Client(opts: { endpoint?: string; region: string; credentials?: Credentials | CredentialsProvider; retries?: StoreRequests['retries'] }): S3Client {
  return new (s3Sdk().S3Client)({
    region: opts.region,
    endpoint: opts.endpoint,
    forcePathStyle: Boolean(opts.endpoint),
    credentials: opts.credentials,
    maxAttempts: MAX_ATTEMPTS,
    retryStrategy: opts.retries,
    // The SDK's default CRC32 on every request is replaced by our explicit SHA-256 where we ask for it.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: requestHandlerOptions({ connectMs: 5_000, requestMs: 120_000 }),
  });
}

interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: { code?: string };
}

/** An S3 failure met while checking an endpoint or bucket, as a sentence naming what to fix. */
export function describeS3Error(field: string, what: string, err: unknown): UsageError {
  const e = err as AwsLikeError;
  const code = e.code ?? e.cause?.code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const name = e.name ?? '';
  const reason =
    ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET'].includes(code)
      ? `endpoint unreachable (${code})`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `endpoint host name does not resolve (${code})`
        : name === 'TimeoutError' || code === 'ETIMEDOUT'
          ? 'endpoint timed out'
          : name === 'NoSuchBucket' || (status === 404 && /bucket|NotFound/i.test(name))
            ? 'bucket does not exist'
            : ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden', 'InvalidToken', 'ExpiredToken'].includes(name) || status === 403 || status === 401
              ? `credentials rejected (${name || status}): wrong key or secret, or no permission on the bucket`
              : `${name ? `${name}: ` : ''}${e.message ?? String(err)}`;
  return new UsageError(field, `${what ? `${what}: ` : ''}${reason}`);
}

/**
 * The S3 client of a store, made on first use (the multipart calls, HeadObject, a read-back,
 * ListBuckets): a run whose objects go up in single PUTs proved on receipt never makes one.
 */
export interface LazyClient {
  (): S3Client;
  destroy(): void;
}

export function lazyS3Client(opts: { endpoint?: string; region: string; credentials: CredentialsProvider; retries: StoreRequests['retries'] }): LazyClient {
  let made: S3Client | undefined;
  return Object.assign(() => (made ??= s3Client(opts)), { destroy: () => made?.destroy() });
}

export function s3Source(src: Extract<Source, { kind: 's3' }>, maxAttempts?: number): SourceStore {
  const accessKeyId = process.env[ENV.storageSourceAccessKeyId];
  const secretAccessKey = process.env[ENV.storageSourceSecretAccessKey];
  const keys = accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined;
  const requests = objectRequests(credentialsFor(src.region, keys), { ...src, maxAttempts });
  const describe = `s3://${src.bucket}/${src.prefix}${src.endpoint ? ` at ${src.endpoint}` : ''}`;
  // The check is the listing's first page, asked for at once; list() goes on from it.
  type Listed = { key: string; size: number; etag?: string };
  let begun: { pages: AsyncGenerator<Listed>; first: Promise<IteratorResult<Listed>> } | undefined;
  const begin = () => {
    const pages = requests.list(src.bucket, src.prefix);
    return { pages, first: pages.next() };
  };
  return {
    describe,
    async check() {
      begun = begin();
      try {
        await begun.first;
      } catch (err) {
        throw describeS3Error('--source', describe, err);
      }
    },
    async *list() {
      const { pages, first } = begun ?? begin();
      begun = undefined;
      // An empty key ending in / is a folder marker (consoles make them), not an object to move;
      // one holding bytes is an object like any other, but for the prefix's own key, which has no
      // name under the prefix.
      for (let next = await first; !next.done; next = await pages.next()) {
        const { key, size, etag } = next.value;
        if ((size > 0 || !key.endsWith('/')) && key.length > src.prefix.length) yield { key: key.slice(src.prefix.length), size, version: etag };
      }
    },
    open: (key) => requests.get(src.bucket, src.prefix + key),
    close() {
      requests.close();
    },
  };
}

export function fileSource(dir: string): SourceStore {
  // A link is followed, as a web server serving the old folder would have: links to files and
  // folders elsewhere were part of what it served. `above` holds the real paths of the folders
  // being walked, so that a link back up to one of them is named instead of walked forever. A
  // folder that cannot be read (root's alone, or removed since its parent was listed) is named
  // and the listing goes on: a listing that failed there ended the run, the folders after it not copied.
  async function* walk(d: string, above: Set<string>): AsyncGenerator<SourceObject> {
    const key = `${relative(dir, d).split(sep).join('/')}/`;
    let real: string;
    let entries: Dirent[];
    try {
      real = await realpath(d);
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      const why = `a folder it cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      if (d === dir) throw new UsageError('--source', `file://${dir}: ${why}`);
      yield { key, size: 0, unreadable: `${why}: nothing under it copied` };
      return;
    }
    if (above.has(real)) {
      yield { key: key.slice(0, -1), size: 0, unreadable: `a symbolic link to ${real}, a folder it is in: not followed (a loop)` };
      return;
    }
    const inside = new Set(above).add(real);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // A name in another encoding (an old server's Latin-1 'caf\xe9.png') reads with U+FFFD in its
    // place: that path names no file, and a key is UTF-8. Its bytes are named instead.
    const notUtf8 = entries.some((e) => e.name.includes('\uFFFD'))
      ? new Map((await readdir(d, { encoding: 'buffer' })).filter((b) => !Buffer.from(b.toString('utf8')).equals(b)).map((b) => [b.toString('utf8'), b.toString('hex')]))
      : undefined;
    for (const e of entries) {
      const p = join(d, e.name);
      const bytes = notUtf8?.get(e.name);
      if (bytes !== undefined) {
        yield { key: relative(dir, p).split(sep).join('/'), size: 0, unreadable: `its name is not UTF-8 (bytes ${bytes}), which a key must be: rename it (e.g. convmv -f latin1 -t utf8), then run again` };
        continue;
      }
      if (e.isDirectory()) {
        yield* walk(p, inside);
        continue;
      }
      const fileKey = relative(dir, p).split(sep).join('/');
      let s: BigIntStats;
      try {
        s = await stat(p, { bigint: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        yield { key: fileKey, size: 0, unreadable: e.isSymbolicLink() ? `a symbolic link to ${await readlink(p).catch(() => '?')} that does not resolve (${code})` : `cannot read it (${code})` };
        continue;
      }
      // What a link brings in from outside the folder is named: a run, or its --dry-run, shows it.
      if (e.isSymbolicLink() && (s.isFile() || s.isDirectory())) {
        const to = await realpath(p);
        if (!inside.has(to)) log('link_followed', { key: fileKey, to }, 'warn');
      }
      if (s.isFile()) yield { key: fileKey, size: Number(s.size), version: `mtime ${s.mtimeNs}` };
      else if (s.isDirectory()) yield* walk(p, inside);
      else yield { key: fileKey, size: 0, unreadable: 'not a regular file (a FIFO, socket or device)' };
    }
  }
  return {
    describe: `file://${dir}`,
    async check() {
      const s = await stat(dir).catch(() => null);
      if (!s?.isDirectory()) throw new UsageError('--source', `file://${dir}: no such directory`);
    },
    list: () => walk(dir, new Set()),
    open: async (key) => ({ body: createReadStream(join(dir, ...key.split('/'))) }),
    close() {},
  };
}

export const openSource = (src: Source, maxAttempts?: number): SourceStore => (src.kind === 's3' ? s3Source(src, maxAttempts) : fileSource(src.dir));

/**
 * The target bucket: `local` is the emulator's plain name (scripts/local/defaults.ts); an AWS
 * environment's bucket is `<namePrefix(env)>-<name>-<suffix>` (stacks/data.ts bucketPrefix), found by listing.
 */
export async function resolveBucket(client: () => S3Client, target: BucketName, env: string, explicit?: string): Promise<string> {
  if (explicit) return explicit;
  if (env === 'local') return BUCKETS[target];
  const prefix = `${namePrefix(env)}-${BUCKETS[target]}-`;
  let names: string[];
  try {
    names = ((await client().send(new (s3Sdk().ListBucketsCommand)({}))).Buckets ?? []).map((b) => b.Name ?? '');
  } catch (err) {
    throw describeS3Error('--target', `${target} --env ${env} (listing buckets)`, err);
  }
  const found = names.filter((n) => n.startsWith(prefix));
  if (found.length !== 1)
    throw new UsageError('--target', `${target} --env ${env}: ${found.length} buckets named ${prefix}*${found.length ? ` (${found.join(', ')})` : ''}; deploy the data stack or pass --target-bucket`);
  return found[0];
}

export async function checkBucket(requests: StoreRequests, bucket: string, field: string, what: string): Promise<void> {
  try {
    await requests.headBucket(bucket);
  } catch (err) {
    throw describeS3Error(field, `${what} bucket ${bucket}`, err);
  }
}

/** Size and SHA-256 of a stream, read to its end. */
export async function digestOf(body: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('base64') };
}

const TYPES: Record<string, string> = {
  pdf: 'application/pdf',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  json: 'application/json',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  woff: 'font/woff',
};

export function contentTypeFor(key: string, fromSource?: string): string {
  if (fromSource && fromSource !== 'application/octet-stream' && fromSource !== 'binary/octet-stream') return fromSource;
  const ext = key.includes('.') ? key.slice(key.lastIndexOf('.') + 1).toLowerCase() : '';
  return TYPES[ext] ?? 'application/octet-stream';
}

/** Documents are private (presigned links); assets are served and may be cached a day. */
export const cacheControlFor = (target: BucketName, fromSource?: string): string | undefined =>
  fromSource ?? (target === 'assets' ? 'public, max-age=86400' : undefined);

/**
 * What a move sets on an object besides its bytes, by lower-case header name: content-type,
 * cache-control, content-encoding, content-disposition, content-language and x-amz-meta-*.
 */
export type Served = Record<string, string>;

/** The move's headers of a target object (upload.ts), as `--verify-only` compares them with the target's. */
export function servedFor(target: BucketName, targetKey: string, source: Fetched): Served {
  const served: Served = { ...source.objectHeaders, 'content-type': contentTypeFor(targetKey, source.contentType) };
  const cacheControl = cacheControlFor(target, source.cacheControl);
  if (cacheControl !== undefined) served['cache-control'] = cacheControl;
  return served;
}

function servedOf(out: { ContentType?: string; CacheControl?: string; ContentEncoding?: string; ContentDisposition?: string; ContentLanguage?: string; Metadata?: Record<string, string> }): Served {
  const served: Served = {};
  const put = (name: string, value: string | undefined) => {
    if (value !== undefined) served[name] = value;
  };
  put('content-type', out.ContentType);
  put('cache-control', out.CacheControl);
  put('content-encoding', out.ContentEncoding);
  put('content-disposition', out.ContentDisposition);
  put('content-language', out.ContentLanguage);
  for (const [name, value] of Object.entries(out.Metadata ?? {})) put(`x-amz-meta-${name.toLowerCase()}`, value);
  return served;
}

/**
 * Size and SHA-256 of the target object: S3's own full-object ChecksumSHA256 when it keeps one
 * (HeadObject ChecksumMode ENABLED), else the object read back and hashed; and its headers as
 * HeadObject or the GET answered them. `null` when missing.
 */
export async function targetDigest(client: S3Client, bucket: string, key: string): Promise<{ size: number; sha256: string; how: 'checksum' | 'reread'; served: Served } | null> {
  const sdk = s3Sdk();
  const missing = (err: unknown) => {
    const e = err as AwsLikeError;
    return e.$metadata?.httpStatusCode === 404 || e.name === 'NotFound' || e.name === 'NoSuchKey';
  };
  // A store that kept no SHA-256 for one object (the emulator, some S3-compatible ones) is read back
  // from then on without asking first: one request per object fewer, the same check.
  if (!keepsNoChecksums.has(client)) {
    let head;
    try {
      head = await client.send(new sdk.HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    } catch (err) {
      if (missing(err)) return null;
      throw err;
    }
    const sum = head.ChecksumSHA256;
    if (sum && !sum.includes('-') && head.ChecksumType !== 'COMPOSITE') return { size: head.ContentLength ?? -1, sha256: sum, how: 'checksum', served: servedOf(head) };
    if (!sum) keepsNoChecksums.add(client);
  }
  try {
    const out = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
    return { ...(await digestOf(out.Body as Readable)), how: 'reread', served: servedOf(out) };
  } catch (err) {
    if (missing(err)) return null;
    throw err;
  }
}

const keepsNoChecksums = new WeakSet<S3Client>();
