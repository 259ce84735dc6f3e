import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { isMissingObject } from '../../core/storage';
import { UnreadableSource } from './rows';

/** The batch source as a stream straight from S3, so a large file never sits in memory. */
export async function openSource(s3: S3Client, bucket: string, key: string): Promise<Readable> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return out.Body as Readable;
  } catch (err) {
    if (isMissingObject(err)) throw new UnreadableSource(`source ${key} does not exist`);
    throw err;
  }
}
