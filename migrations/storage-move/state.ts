import type { Client } from 'pg';

/**
 * Progress, kept in the TARGET database (the source storage is never written): one row per
 * object verified in the target bucket. A batch of rows commits in the same transaction as the
 * orders' new document keys, so an order points at its new key only once its object is verified,
 * and a run killed at any point leaves rows for exactly the objects whose keys moved.
 */
export const STATE_TABLE = '_storage_move.objects';

/**
 * The checksum recorded is the object's SHA-256 where we computed it, else (an object streamed
 * from an S3 source and proved by the two stores' MD5s, upload.ts) that MD5.
 */
export type Verified = { sourceKey: string; targetKey: string; size: number; sourceVersion?: string; orderId?: string } & ({ sha256: string; md5?: never } | { md5: string; sha256?: never });

export interface StateRow {
  target_key: string;
  size: string;
  /** The source object's version when it was copied (storage.ts SourceObject); null in a row of an earlier version of the tool. */
  source_version: string | null;
  sha256: string | null;
  md5: string | null;
}

export async function ensureState(db: Client): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS _storage_move;
    CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (
      target_bucket text NOT NULL, source text NOT NULL, source_key text NOT NULL,
      target_key text NOT NULL, size bigint NOT NULL, source_version text, sha256 text, md5 text, order_id uuid,
      status text NOT NULL DEFAULT 'verified' CHECK (status IN ('verified')),
      verified_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (target_bucket, source, source_key));
    -- A table made by an earlier version, whose every row had a SHA-256.
    ALTER TABLE ${STATE_TABLE} ADD COLUMN IF NOT EXISTS md5 text;
    ALTER TABLE ${STATE_TABLE} ALTER COLUMN sha256 DROP NOT NULL;
    -- Its rows, without the source's version, are copied and verified again by the next run.
    ALTER TABLE ${STATE_TABLE} ADD COLUMN IF NOT EXISTS source_version text;
    DO $$ BEGIN
      ALTER TABLE ${STATE_TABLE} ADD CONSTRAINT objects_one_checksum CHECK (sha256 IS NOT NULL OR md5 IS NOT NULL);
    EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
}

/** Objects already verified for this source and bucket, by source key (empty before the first run). */
export async function readState(db: Client, bucket: string, source: string): Promise<Map<string, StateRow>> {
  const { rows: exists } = await db.query(`SELECT to_regclass('${STATE_TABLE}') IS NOT NULL AS ok`);
  if (!exists[0].ok) return new Map();
  const { rows } = await db.query<StateRow & { source_key: string }>(
    `SELECT source_key, target_key, size, source_version, sha256, md5 FROM ${STATE_TABLE} WHERE target_bucket = $1 AND source = $2`,
    [bucket, source],
  );
  return new Map(rows.map((r) => [r.source_key, r]));
}

/** One transaction: the verified objects' rows and, for documents, their orders' new keys. */
export async function commitBatch(db: Client, bucket: string, source: string, batch: Verified[]): Promise<void> {
  if (batch.length === 0) return;
  await db.query('BEGIN');
  try {
    await db.query(
      `INSERT INTO ${STATE_TABLE} (target_bucket, source, source_key, target_key, size, sha256, md5, order_id, source_version)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::uuid[], $9::text[])
       ON CONFLICT (target_bucket, source, source_key) DO UPDATE SET target_key = EXCLUDED.target_key,
         size = EXCLUDED.size, source_version = EXCLUDED.source_version, sha256 = EXCLUDED.sha256, md5 = EXCLUDED.md5, order_id = EXCLUDED.order_id, verified_at = now()`,
      [
        bucket,
        source,
        batch.map((b) => b.sourceKey),
        batch.map((b) => b.targetKey),
        batch.map((b) => b.size),
        batch.map((b) => b.sha256 ?? null),
        batch.map((b) => b.md5 ?? null),
        batch.map((b) => b.orderId ?? null),
        batch.map((b) => b.sourceVersion ?? null),
      ],
    );
    const orders = batch.filter((b) => b.orderId);
    if (orders.length > 0)
      await db.query(
        `UPDATE orders o SET document_key = v.key, updated_at = now()
         FROM unnest($1::uuid[], $2::text[]) AS v(id, key) WHERE o.id = v.id AND o.document_key IS DISTINCT FROM v.key`,
        [orders.map((b) => b.orderId), orders.map((b) => b.targetKey)],
      );
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
