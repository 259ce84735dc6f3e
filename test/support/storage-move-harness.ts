import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import knexFactory from 'knex';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { migrateLatest } from '../../migrations/migrate';
import { CliResult, runCliProcess } from './cli-process';

const CLI = join(__dirname, '../../migrations/storage-move/cli.ts');

/** The emulator takes any key; the SDK wants one. */
export const AWS_ENV = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'eu-west-3' };

export type { CliResult } from './cli-process';

/** The real CLI in its own node process; `killWhen` sends `killWith` (SIGKILL) on the first stderr line it accepts. */
export const runCli = (args: string[], killWhen?: (line: string) => boolean, killWith?: NodeJS.Signals): Promise<CliResult> =>
  runCliProcess(CLI, args, { env: AWS_ENV, killWhen, killWith });

export function s3(endpoint: string): S3Client {
  return new S3Client({ endpoint, region: 'eu-west-3', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
}

/**
 * Bodies over 8 MiB go in parts (the emulator caps a single PUT's body near 10 MB); up to it in one
 * PUT, as the old platform wrote its documents, so they carry an MD5 ETag.
 */
export async function putObject(c: S3Client, bucket: string, key: string, body: Buffer, contentType?: string): Promise<void> {
  if (body.length > 8 * 1024 * 1024) {
    await new Upload({ client: c, partSize: 5 * 1024 * 1024, params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType } }).done();
    return;
  }
  await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
}

export async function getObject(c: S3Client, bucket: string, key: string): Promise<Buffer | null> {
  try {
    const out = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return null;
    throw err;
  }
}

export async function headObject(c: S3Client, bucket: string, key: string) {
  return c.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

export async function listKeys(c: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await c.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

export { query } from './data-move-harness';

export interface SeededOrder {
  id: string;
  clientId: string;
  oldKey: string;
  format: 'pdf' | 'docx' | 'html';
}

/** The platform schema, three themes (one per format), a few clients, and one ready order per old key. */
export async function seedOrders(url: string, oldKeys: string[]): Promise<SeededOrder[]> {
  const knex = knexFactory({ client: 'pg', connection: url });
  try {
    await migrateLatest(knex);
    const formats = ['pdf', 'docx', 'html'] as const;
    const themes = await knex('themes')
      .insert(formats.map((f) => ({ slug: `t-${f}`, title: f, prompt_template: 'x', output_format: f, price_cents: 100 })))
      .returning(['id', 'output_format']);
    const clients = await knex('clients')
      .insert(Array.from({ length: 5 }, (_, i) => ({ kind: 'b2c', name: `c${i}`, email: `c${i}@example.test` })))
      .returning('id');
    const orders: SeededOrder[] = oldKeys.map((oldKey, i) => ({
      id: randomUUID(),
      clientId: clients[i % clients.length].id,
      oldKey,
      format: formats[i % 3],
    }));
    const themeOf = new Map(themes.map((t) => [t.output_format, t.id]));
    for (let i = 0; i < orders.length; i += 500)
      await knex('orders').insert(
        orders.slice(i, i + 500).map((o) => ({ id: o.id, client_id: o.clientId, theme_id: themeOf.get(o.format), status: 'ready', document_key: o.oldKey })),
      );
    return orders;
  } finally {
    await knex.destroy();
  }
}

/** Old keys with a few awkward ones: spaces, UTF-8, nested folders. */
export function oldKeyFor(i: number): string {
  if (i % 250 === 0) return `docs/été ${i}/rapport final ${i}.pdf`;
  if (i % 250 === 1) return `docs/日本語/文書 ${i}.docx`;
  return `docs/${i % 20}/doc-${i}.bin`;
}

/** Deterministic content of `size` bytes. */
export function content(i: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let j = 0; j < size; j += 4) b.writeUInt32LE((i * 2654435761 + j * 40503) >>> 0, Math.min(j, size - 4));
  return b;
}
