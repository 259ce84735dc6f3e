import type { Client } from 'pg';

/**
 * Progress, kept in the TARGET database (the source storage is never written): one row per
 * object verified in the target bucket. A batch of rows commits in the same transaction as the
 * orders' new document keys, so an order points at its new key only once its object is verified,
 * and a run killed at any point leaves rows for exactly the objects whose keys moved.
 */
export const STATE_TABLE = '_storage_move.objects';

export interface Verified {
  sourceKey: string;
  targetKey: string;
  size: number;
  sha256: string;
  orderId?: string;
}

export interface StateRow {
  target_key: string;
  size: string;
  sha256: string;
}

export async function ensureState(db: Client): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS _storage_move;
    CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (
      target_bucket text NOT NULL, source text NOT NULL, source_key text NOT NULL,
      target_key text NOT NULL, size bigint NOT NULL, sha256 text NOT NULL, order_id uuid,
      status text NOT NULL DEFAULT 'verified' CHECK (status IN ('verified')),
      verified_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (target_bucket, source, source_key))`);
}

/** Objects already verified for this source and bucket, by source key (empty before the first run). */
export async function readState(db: Client, bucket: string, source: string): Promise<Map<string, StateRow>> {
  const { rows: exists } = await db.query(`SELECT to_regclass('${STATE_TABLE}') IS NOT NULL AS ok`);
  if (!exists[0].ok) return new Map();
  const { rows } = await db.query<StateRow & { source_key: string }>(
    `SELECT source_key, target_key, size, sha256 FROM ${STATE_TABLE} WHERE target_bucket = $1 AND source = $2`,
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
      `INSERT INTO ${STATE_TABLE} (target_bucket, source, source_key, target_key, size, sha256, order_id)
       SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::bigint[], $6::text[], $7::uuid[])
       ON CONFLICT (target_bucket, source, source_key) DO UPDATE SET target_key = EXCLUDED.target_key,
         size = EXCLUDED.size, sha256 = EXCLUDED.sha256, order_id = EXCLUDED.order_id, verified_at = now()`,
      [bucket, source, batch.map((b) => b.sourceKey), batch.map((b) => b.targetKey), batch.map((b) => b.size), batch.map((b) => b.sha256), batch.map((b) => b.orderId ?? null)],
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
