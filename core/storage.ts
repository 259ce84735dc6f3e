import type { S3Client } from '@aws-sdk/client-s3';
import { HttpTimeouts, presignerSdk, requestHandlerOptions, s3Sdk } from './aws-sdk';
import type { AppConfig } from './config';
import { DependencyUnavailableError, endedBySignal } from './failures';
import { withinRequestDeadline } from './request-deadline';

/**
 * Per attempt; the SDK makes up to 3 attempts (with backoff), so a put to an S3 that never
 * answers fails within about 3 × (connect + request) ≈ 100 s, not never. 30 s is far more than
 * a document or a 5 MiB batch source takes in-region.
 */
export const STORAGE_TIMEOUTS: HttpTimeouts = { connectMs: 3_000, requestMs: 30_000 };

/** S3 access for the reports and assets buckets (path-style against the local emulator). */
export function createS3Client(config: Pick<AppConfig, 'aws'>, timeouts: HttpTimeouts = STORAGE_TIMEOUTS): S3Client {
  return new (s3Sdk().S3Client)({
    region: config.aws.region,
    endpoint: config.aws.endpoint,
    forcePathStyle: config.aws.s3ForcePathStyle,
    requestHandler: requestHandlerOptions(timeouts),
  });
}

export interface Storage {
  put(bucket: string, key: string, body: Buffer | string, contentType: string): Promise<void>;
  get(bucket: string, key: string): Promise<Buffer>;
  /**
   * Whether this caller can read the object, asked with a HEAD (no bytes move) bounded at
   * `timeoutMs` over all of the SDK's attempts: false when S3 answers 404, or 403, which is its
   * answer for a missing key to a caller that may read the key but not list the bucket (the
   * gateways, stacks/access.ts), and for an object it may not read at all, whose link would
   * answer 403 as well.
   */
  readable(bucket: string, key: string, timeoutMs: number): Promise<boolean>;
  /** A time-limited GET link; the object stays private. */
  presignGet(bucket: string, key: string, expiresInSeconds?: number, downloadName?: string): Promise<string>;
}

/**
 * S3's answer for a key that does not exist (GetObject, HeadObject). S3 gives it only to a caller
 * that may list the bucket under that key (`listObjects` in stacks/access.ts); any other gets 403
 * AccessDenied, which is no answer about the object and stays an error.
 */
export const isMissingObject = (err: unknown): boolean => (err as { name?: string } | undefined)?.name === 'NoSuchKey';

/** `s3` defaults to a client created (and the SDK loaded) on the first call. */
export function createStorage(config: Pick<AppConfig, 'aws'>, s3?: S3Client): Storage {
  let client = s3;
  const s3Client = () => (client ??= createS3Client(config));
  return {
    put: async (bucket, key, body, contentType) => {
      await s3Client().send(new (s3Sdk().PutObjectCommand)({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    get: async (bucket, key) => {
      const out = await s3Client().send(new (s3Sdk().GetObjectCommand)({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    readable: async (bucket, key, timeoutMs) => {
      try {
        await s3Client().send(new (s3Sdk().HeadObjectCommand)({ Bucket: bucket, Key: key }), { abortSignal: AbortSignal.timeout(timeoutMs) });
        return true;
      } catch (err) {
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || status === 403) return false;
        if (endedBySignal(err)) {
          throw new DependencyUnavailableError('storage', `storage did not answer a HEAD within ${timeoutMs} ms`, 'storage unavailable, please retry shortly');
        }
        throw err;
      }
    },
    presignGet: (bucket, key, expiresInSeconds = 900, downloadName) =>
      presignerSdk().getSignedUrl(
        s3Client(),
        new (s3Sdk().GetObjectCommand)({
          Bucket: bucket,
          Key: key,
          ...(downloadName ? { ResponseContentDisposition: `attachment; filename="${downloadName.replace(/[^A-Za-z0-9._-]/g, '_')}"` } : {}),
        }),
        { expiresIn: expiresInSeconds },
      ),
  };
}

/** The longest a gateway waits to learn whether an object it links to is stored. */
export const STORED_CHECK_MS = 3_000;

/**
 * A presigned GET link to the object, or null when S3 does not hold it for this caller: a link
 * signed without asking would answer the client S3's bare 403. One HEAD per link (a GET-class
 * request, about 10 ms in-region), bounded at STORED_CHECK_MS and the request's deadline.
 */
export async function presignIfStored(storage: Storage, bucket: string, key: string, expiresInSeconds: number, downloadName: string): Promise<string | null> {
  if (!(await storage.readable(bucket, key, withinRequestDeadline(STORED_CHECK_MS)))) return null;
  return storage.presignGet(bucket, key, expiresInSeconds, downloadName);
}
