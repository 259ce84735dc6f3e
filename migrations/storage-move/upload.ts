import { createHash, webcrypto, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { s3Sdk } from '../../core/aws-sdk';
import type { Fetched, ObjectRequests, Stored, StreamedBody } from './object-requests';

/**
 * How the target proved it holds the bytes we sent, without reading them back:
 * - `checksum`: it answered the SHA-256 we sent (`x-amz-checksum-sha256`), which S3 checks on
 *   receipt and refuses (BadDigest) when the body differs;
 * - `md5`: its ETag is the MD5 it computed over the body it stored (single PUT on S3 without
 *   SSE-KMS/SSE-C, the emulator, Scaleway, MinIO), equal to ours or to the S3 source's own (its
 *   single-part ETag: the MD5 the store holding the original computed over it);
 * - `null`: neither (an ETag that is no MD5, no checksum answered): the caller reads it back.
 * A multipart object is proved only when every part is, and the completed object's ETag (MD5 of
 * the parts' MD5s) or composite SHA-256 is the one of our parts in our order.
 */
export type Proof = 'checksum' | 'md5' | null;

export interface Uploaded {
  size: number;
  /** Base64 SHA-256 of the whole object, as read from the source; none for a streamed object. */
  sha256?: string;
  /** Hex MD5 of a streamed object: the source store's, which the target's matched when `proof` is `md5`. */
  md5?: string;
  proof: Proof;
  parts: number;
}

/** One part (or a whole small object) as read: its chunks, never copied into one buffer, and their sums. */
interface Piece {
  chunks: Buffer[];
  size: number;
  md5?: Buffer;
  sha256: Buffer;
}

const unquoted = (etag: string | undefined) => etag?.replace(/"/g, '');

/**
 * The source store's MD5 of the object, when its ETag is one: a single-part upload (32 hex digits)
 * stored unencrypted or SSE-S3; an SSE-KMS or SSE-C object's ETag has the same shape and is not.
 */
const md5OfEtag = (source: Fetched) => {
  const e = unquoted(source.etag);
  return !source.encrypted && e && /^[0-9a-f]{32}$/.test(e) ? e : undefined;
};

function proofOf(answer: Stored, md5Hex: string | undefined, sha256: string | undefined): Proof {
  if (answer.ChecksumSHA256 !== undefined && sha256 !== undefined) return answer.ChecksumSHA256 === sha256 ? 'checksum' : null;
  return md5Hex !== undefined && unquoted(answer.ETag) === md5Hex ? 'md5' : null;
}

/**
 * The source body cut into pieces of exactly `size` bytes (the last one shorter), each hashed as
 * its chunks arrive, and every chunk also fed to `whole` (the object's SHA-256 when it has several
 * pieces). `withMd5` false leaves the MD5 out.
 */
async function* piecesOf(body: Readable, size: number, withMd5: boolean, whole?: Hash): AsyncGenerator<Piece> {
  let piece = { chunks: [] as Buffer[], size: 0, md5: withMd5 ? createHash('md5') : undefined, sha256: createHash('sha256') };
  const done = (): Piece => ({ chunks: piece.chunks, size: piece.size, md5: piece.md5?.digest(), sha256: piece.sha256.digest() });
  const add = (b: Buffer) => {
    piece.chunks.push(b);
    piece.size += b.length;
    piece.md5?.update(b);
    piece.sha256.update(b);
    whole?.update(b);
  };
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let rest = chunk;
    while (piece.size + rest.length >= size) {
      const take = size - piece.size;
      add(rest.subarray(0, take));
      yield done();
      piece = { chunks: [], size: 0, md5: withMd5 ? createHash('md5') : undefined, sha256: createHash('sha256') };
      rest = rest.subarray(take);
    }
    if (rest.length) add(rest);
  }
  if (piece.size) yield done();
}

/** Parts of one multipart object sent at once: a few large objects still fill the connection. */
export const PARTS_IN_FLIGHT = 4;

export interface UploadTarget {
  /** The multipart calls (the client made on first use). */
  client(): S3Client;
  /** The PUTs of objects and parts. */
  requests: ObjectRequests;
  bucket: string;
  key: string;
  contentType: string;
  cacheControl?: string;
  /** The source object's other headers it keeps (Fetched.objectHeaders). */
  objectHeaders?: Record<string, string>;
  /** The source object read again, for a retried streamed PUT (the first body is spent). */
  reopen(): Promise<Fetched>;
}

/**
 * One object from the source into the target. Below `partSize` (known from the listing), from an
 * S3 source whose ETag is a single-part MD5 (md5OfEtag) and whose GET is the listed size: the GET's body piped
 * into one PUT as it arrives, never held nor hashed by us, sent with that MD5 as Content-MD5 (the
 * target refuses a body that does not match it) and proved by the target's ETag equal to it: two
 * MD5s computed by the two stores over the bytes each holds. Other objects below `partSize`: read
 * whole (at most one part in memory, as a part of a multipart upload would be) and sent in one
 * PUT carrying its SHA-256 and, when we computed it, its Content-MD5, which S3 checks on
 * receipt. The MD5 compared with the target's ETag is the source store's own when its ETag is one
 * (an S3 source's single-part object: computed by the store that holds the original, so this
 * path hashes only SHA-256), else ours. From `partSize` on: a multipart upload with up to
 * `partsInFlight` parts sent at once, each with its own Content-MD5 and SHA-256 (at most
 * `partsInFlight` + 1 parts of the object in memory). A body whose size is not the listed one is
 * not written (or its upload is aborted): the caller reports the source as changed.
 */
export async function uploadObject(t: UploadTarget, source: Fetched, listedSize: number, partSize: number, partsInFlight: number): Promise<Uploaded> {
  return listedSize < partSize ? putWhole(t, source, listedSize, partSize) : putInParts(t, source.body, listedSize, partSize, partsInFlight);
}

/** From this size on a single-PUT object's SHA-256 is computed on the thread pool (WebCrypto), not on the event loop. */
const HASH_OFF_LOOP = 1024 * 1024;

async function putWhole(t: UploadTarget, source: Fetched, listedSize: number, partSize: number): Promise<Uploaded> {
  const sourceMd5 = md5OfEtag(source);
  if (sourceMd5 !== undefined && source.size !== undefined) return putStreamed(t, { ...source, size: source.size }, sourceMd5, listedSize);
  const md5 = sourceMd5 === undefined ? createHash('md5') : undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    md5?.update(chunk);
    // A body grown past the listing is cut at one part: no more is ever held.
    if (size >= partSize) break;
  }
  const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
  const digest = size >= HASH_OFF_LOOP ? Buffer.from(await webcrypto.subtle.digest('SHA-256', whole)) : createHash('sha256').update(whole).digest();
  const sha256 = digest.toString('base64');
  if (size !== listedSize) return { size, sha256, proof: null, parts: 0 };
  const piece: Piece = { chunks: [whole], size, md5: md5?.digest(), sha256: digest };
  const answer = await t.requests.put(t.bucket, t.key, piece, { ...t.objectHeaders, 'content-type': t.contentType, 'cache-control': t.cacheControl });
  return { size, sha256, proof: proofOf(answer, sourceMd5 ?? piece.md5!.toString('hex'), sha256), parts: 1 };
}

async function putStreamed(t: UploadTarget, source: Fetched & { size: number }, md5: string, listedSize: number): Promise<Uploaded> {
  if (source.size !== listedSize) {
    source.body.destroy();
    return { size: source.size, md5, proof: null, parts: 0 };
  }
  const body: StreamedBody = {
    size: listedSize,
    md5: Buffer.from(md5, 'hex'),
    async open(attempt) {
      if (attempt === 1) return source.body;
      const again = await t.reopen();
      if (again.etag !== source.etag) {
        again.body.destroy();
        throw new Error(`${t.key}: the source object changed while it was copied (ETag ${source.etag}, now ${again.etag})`);
      }
      return again.body;
    },
  };
  const answer = await t.requests.put(t.bucket, t.key, body, { ...t.objectHeaders, 'content-type': t.contentType, 'cache-control': t.cacheControl });
  return { size: listedSize, md5, proof: proofOf(answer, md5, undefined), parts: 1 };
}

async function putInParts(t: UploadTarget, body: Readable, listedSize: number, partSize: number, partsInFlight: number): Promise<Uploaded> {
  const sdk = s3Sdk();
  const kept = t.objectHeaders ?? {};
  const meta = Object.entries(kept).filter(([name]) => name.startsWith('x-amz-meta-'));
  const metadata = meta.length ? Object.fromEntries(meta.map(([name, value]) => [name.slice('x-amz-meta-'.length), value])) : undefined;
  const { UploadId } = await t.client().send(
    new sdk.CreateMultipartUploadCommand({
      Bucket: t.bucket,
      Key: t.key,
      ContentType: t.contentType,
      CacheControl: t.cacheControl,
      ContentEncoding: kept['content-encoding'],
      ContentDisposition: kept['content-disposition'],
      ContentLanguage: kept['content-language'],
      Metadata: metadata,
      ChecksumAlgorithm: 'SHA256',
    }),
  );
  const whole = createHash('sha256');
  const parts: CompletedPart[] = [];
  const sums: { md5: Buffer; sha256: Buffer }[] = [];
  const proofs: Proof[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  const abort = () => t.client().send(new sdk.AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId })).then(() => undefined, () => undefined);
  try {
    for await (const piece of piecesOf(body, partSize, true, whole)) {
      if (failure !== undefined) break;
      size += piece.size;
      const n = sums.length + 1;
      const s = { md5: piece.md5!, sha256: piece.sha256 };
      sums.push(s);
      const sha = s.sha256.toString('base64');
      const sent = t.requests
        .put(t.bucket, t.key, piece, {}, { partNumber: String(n), uploadId: UploadId! })
        .then(
          (answer) => {
            // The part's checksum goes into the completion only where the target answered one:
            // S3 then requires it, and the emulator drops every part of a list that carries it.
            parts[n - 1] = { PartNumber: n, ETag: answer.ETag, ChecksumSHA256: answer.ChecksumSHA256 };
            proofs[n - 1] = proofOf(answer, s.md5.toString('hex'), sha);
          },
          (err) => {
            failure ??= err;
          },
        );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
      if (inFlight.size >= partsInFlight) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    if (size !== listedSize) {
      await abort();
      return { size, sha256: whole.digest('base64'), proof: null, parts: 0 };
    }
    const done = await t.client().send(new sdk.CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId, MultipartUpload: { Parts: parts } }));
    const composite = (of: 'md5' | 'sha256') => createHash(of).update(Buffer.concat(sums.map((x) => x[of])));
    const assembled =
      done.ChecksumSHA256 !== undefined
        ? done.ChecksumSHA256 === `${composite('sha256').digest('base64')}-${sums.length}`
        : unquoted(done.ETag) === `${composite('md5').digest('hex')}-${sums.length}`;
    const proof: Proof = !assembled || proofs.includes(null) ? null : proofs.every((p) => p === 'checksum') ? 'checksum' : 'md5';
    return { size, sha256: whole.digest('base64'), proof, parts: sums.length };
  } catch (err) {
    await Promise.allSettled(inFlight);
    await abort();
    throw err;
  }
}
