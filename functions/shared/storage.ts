import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { AppConfig } from './config';

/** S3 access for the reports and assets buckets (path-style against the local emulator). */
export function createS3Client(config: Pick<AppConfig, 'aws'>): S3Client {
  return new S3Client({ region: config.aws.region, endpoint: config.aws.endpoint, forcePathStyle: config.aws.s3ForcePathStyle });
}

export interface Storage {
  put(bucket: string, key: string, body: Buffer | string, contentType: string): Promise<void>;
  get(bucket: string, key: string): Promise<Buffer>;
  /** A time-limited GET link; the object stays private. */
  presignGet(bucket: string, key: string, expiresInSeconds?: number, downloadName?: string): Promise<string>;
}

export function createStorage(config: Pick<AppConfig, 'aws'>, s3: S3Client = createS3Client(config)): Storage {
  return {
    put: async (bucket, key, body, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    get: async (bucket, key) => {
      const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    presignGet: (bucket, key, expiresInSeconds = 900, downloadName) =>
      getSignedUrl(
        s3,
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(downloadName ? { ResponseContentDisposition: `attachment; filename="${downloadName.replace(/[^A-Za-z0-9._-]/g, '_')}"` } : {}),
        }),
        { expiresIn: expiresInSeconds },
      ),
  };
}
