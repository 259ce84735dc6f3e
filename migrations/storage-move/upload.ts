import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { CompletedPart, S3Client } from '@aws-sdk/client-s3';
import { s3Sdk } from '../../core/aws-sdk';
import type { ObjectRequests, Stored } from './object-requests';

/**
 * How the target proved it holds the bytes we sent, without reading them back:
 * - `checksum`: it answered the SHA-256 we sent (`x-amz-checksum-sha256`), which S3 checks on
 *   receipt and refuses (BadDigest) when the body differs;
 * - `md5`: its ETag is the MD5 it computed over the body it stored (single PUT on S3 without
 *   SSE-KMS/SSE-C, the emulator, Scaleway, MinIO), equal to ours;
 * - `null`: neither (an ETag that is no MD5, no checksum answered): the caller reads it back.
 * A multipart object is proved only when every part is, and the completed object's ETag (MD5 of
 * the parts' MD5s) or composite SHA-256 is the one of our parts in our order.
 */
export type Proof = 'checksum' | 'md5' | null;

export interface Uploaded {
  size: number;
  /** Base64 SHA-256 of the whole object, as read from the source. */
  sha256: string;
  proof: Proof;
  parts: number;
}

interface Sums {
  md5: Buffer;
  sha256: Buffer;
}

const sumsOf = (b: Buffer): Sums => ({ md5: createHash('md5').update(b).digest(), sha256: createHash('sha256').update(b).digest() });

const unquoted = (etag: string | undefined) => etag?.replace(/"/g, '');

function proofOf(answer: Stored, md5Hex: string, sha256: string): Proof {
  if (answer.ChecksumSHA256 !== undefined) return answer.ChecksumSHA256 === sha256 ? 'checksum' : null;
  return unquoted(answer.ETag) === md5Hex ? 'md5' : null;
}

/** The source body in pieces of exactly `size` bytes (the last one shorter): the parts of an upload. */
async function* piecesOf(body: Readable, size: number): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    let rest = chunk;
    while (heldBytes + rest.length >= size) {
      const take = size - heldBytes;
      held.push(rest.subarray(0, take));
      yield Buffer.concat(held, size);
      rest = rest.subarray(take);
      held = [];
      heldBytes = 0;
    }
    if (rest.length) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes) yield Buffer.concat(held, heldBytes);
}

export interface UploadTarget {
  /** The multipart calls. */
  client: S3Client;
  /** The PUTs of objects and parts. */
  requests: ObjectRequests;
  bucket: string;
  key: string;
  contentType: string;
  cacheControl?: string;
}

/**
 * One object from the source body into the target. Below `partSize` (known from the listing):
 * read whole (at most one part in memory, as a part of a multipart upload would be) and sent in
 * one PutObject carrying its Content-MD5 and SHA-256, so that S3 checks both on receipt. From
 * `partSize` on: a multipart upload with up to `partsInFlight` parts sent at once, each with its
 * own Content-MD5 and SHA-256 (at most `partsInFlight` + 1 parts of the object in memory).
 * A body whose size is not the listed one is not written (or its upload is aborted): the caller
 * reports the source as changed.
 */
export async function uploadObject(t: UploadTarget, body: Readable, listedSize: number, partSize: number, partsInFlight: number): Promise<Uploaded> {
  return listedSize < partSize ? putWhole(t, body, listedSize, partSize) : putInParts(t, body, listedSize, partSize, partsInFlight);
}

async function putWhole(t: UploadTarget, body: Readable, listedSize: number, partSize: number): Promise<Uploaded> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    // Grown past the listing: no more than a part is ever held.
    if (size >= partSize) {
      body.destroy();
      break;
    }
  }
  const whole = Buffer.concat(chunks, size);
  const { md5, sha256 } = sumsOf(whole);
  if (size !== listedSize) return { size, sha256: sha256.toString('base64'), proof: null, parts: 0 };
  const answer = await t.requests.put(t.bucket, t.key, whole, { md5, sha256 }, { 'content-type': t.contentType, 'cache-control': t.cacheControl });
  return { size, sha256: sha256.toString('base64'), proof: proofOf(answer, md5.toString('hex'), sha256.toString('base64')), parts: 1 };
}

async function putInParts(t: UploadTarget, body: Readable, listedSize: number, partSize: number, partsInFlight: number): Promise<Uploaded> {
  const sdk = s3Sdk();
  const { UploadId } = await t.client.send(
    new sdk.CreateMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, ContentType: t.contentType, CacheControl: t.cacheControl, ChecksumAlgorithm: 'SHA256' }),
  );
  const whole = createHash('sha256');
  const parts: CompletedPart[] = [];
  const sums: Sums[] = [];
  const proofs: Proof[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let size = 0;
  const abort = () => t.client.send(new sdk.AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId })).then(() => undefined, () => undefined);
  try {
    for await (const piece of piecesOf(body, partSize)) {
      if (failure !== undefined) break;
      whole.update(piece);
      size += piece.length;
      const n = sums.length + 1;
      const s = sumsOf(piece);
      sums.push(s);
      const sha = s.sha256.toString('base64');
      const sent = t.requests
        .put(t.bucket, t.key, piece, s, {}, { partNumber: String(n), uploadId: UploadId! })
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
    const done = await t.client.send(new sdk.CompleteMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId, MultipartUpload: { Parts: parts } }));
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
