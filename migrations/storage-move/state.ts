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
export type Verified = { sourceKey: string; targetKey: string; size: number; sourceVersion?: string; orderId?: string; replaced?: Replaced } & (
  | { sha256: string; md5?: never }
  | { md5: string; sha256?: never }
);

/** Where this target's row had the object before the key map changed (move.ts targetFor). */
export interface Replaced {
  targetKey: string;
  orderId?: string;
}

/**
 * Each order's document_key as it was before a move first re-pointed it: what an order gets back
 * when a corrected key map gives its object to another order.
 */
export const KEYS_BEFORE_TABLE = '_storage_move.keys_before';

export interface StateRow {
  target_key: string;
  size: string;
  /** The source object's version when it was copied (storage.ts SourceObject); null in a row of an earlier version of the tool. */
  source_version: string | null;
  sha256: string | null;
  md5: string | null;
  /** The order re-pointed to target_key (reports); null for an asset. */
  order_id: string | null;
}

/**
 * A move's target as its progress is keyed: bucket, prefix and endpoint (none: AWS, where bucket
 * names are global), as the source is by its description. Two moves that differ in any of them
 * (a rehearsal into another store's bucket of the same name, another --target-prefix) each copy
 * their own objects.
 */
export const describeTarget = (bucket: string, prefix: string, endpoint: string | undefined): string => `s3://${bucket}/${prefix}${endpoint ? ` at ${endpoint}` : ''}`;

export async function ensureState(db: Client): Promise<void> {
  await db.query(`CREATE SCHEMA IF NOT EXISTS _storage_move;
    CREATE TABLE IF NOT EXISTS ${STATE_TABLE} (
      target text NOT NULL, target_bucket text NOT NULL, source text NOT NULL, source_key text NOT NULL,
      target_key text NOT NULL, size bigint NOT NULL, source_version text, sha256 text, md5 text, order_id uuid,
      status text NOT NULL DEFAULT 'verified' CHECK (status IN ('verified')),
      verified_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (target, source, source_key));
    CREATE TABLE IF NOT EXISTS ${KEYS_BEFORE_TABLE} (order_id uuid PRIMARY KEY, document_key text, recorded_at timestamptz NOT NULL DEFAULT now());
    -- A table made by an earlier version, whose every row had a SHA-256.
    ALTER TABLE ${STATE_TABLE} ADD COLUMN IF NOT EXISTS md5 text;
    ALTER TABLE ${STATE_TABLE} ALTER COLUMN sha256 DROP NOT NULL;
    -- Its rows, without the source's version, are copied and verified again by the next run.
    ALTER TABLE ${STATE_TABLE} ADD COLUMN IF NOT EXISTS source_version text;
    DO $$ BEGIN
      ALTER TABLE ${STATE_TABLE} ADD CONSTRAINT objects_one_checksum CHECK (sha256 IS NOT NULL OR md5 IS NOT NULL);
    EXCEPTION WHEN duplicate_object THEN NULL; END $$;
    -- Rows keyed by the bucket alone (an earlier version) do not say which endpoint or prefix they
    -- were copied to: they match no target, so the next run copies and verifies again once, and
    -- they still give a reports move the orders of their old keys.
    ALTER TABLE ${STATE_TABLE} ADD COLUMN IF NOT EXISTS target text;
    UPDATE ${STATE_TABLE} SET target = 's3://' || target_bucket || '/ (endpoint and prefix not recorded)' WHERE target IS NULL;
    ALTER TABLE ${STATE_TABLE} ALTER COLUMN target SET NOT NULL;
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                     WHERE c.conrelid = '${STATE_TABLE}'::regclass AND c.contype = 'p' AND a.attname = 'target') THEN
        ALTER TABLE ${STATE_TABLE} DROP CONSTRAINT objects_pkey, ADD PRIMARY KEY (target, source, source_key);
      END IF;
    END $$`);
}

export interface State {
  /** Objects of this source already verified in this target, by source key. */
  done: Map<string, StateRow>;
  /** Source keys whose orders an earlier move of this source re-pointed (to any target), with that order and its key. */
  moved: Map<string, { targetKey: string; orderId: string }>;
}

/** This source's progress (empty before the first run). */
export async function readState(db: Client, target: string, source: string): Promise<State> {
  const state: State = { done: new Map(), moved: new Map() };
  const { rows: exists } = await db.query(`SELECT to_regclass('${STATE_TABLE}') IS NOT NULL AS ok`);
  if (!exists[0].ok) return state;
  // Read before ensureState alters a table of an earlier version (a dry run never does): each row
  // as JSON, since such a table may lack target, md5 and source_version, and naming a column it
  // lacks failed every run on it (exit 3) before ensureState could add them.
  type Found = Partial<StateRow> & { target?: string; source_key: string; target_key: string; size: number };
  const { rows: found } = await db.query<{ r: Found }>(`SELECT to_jsonb(o) AS r FROM ${STATE_TABLE} o WHERE source = $1`, [source]);
  const rows = found.map(({ r }) => ({
    ...r,
    target: r.target ?? null,
    size: String(r.size),
    source_version: r.source_version ?? null,
    sha256: r.sha256 ?? null,
    md5: r.md5 ?? null,
    order_id: r.order_id ?? null,
  }));
  for (const r of rows) {
    if (r.target === target) state.done.set(r.source_key, r);
    if (r.order_id) state.moved.set(r.source_key, { targetKey: r.target_key, orderId: r.order_id });
  }
  return state;
}

/**
 * One transaction: the verified objects' rows and, for documents, their orders' new keys (each
 * order's key before the first of them kept in keys_before). An object the key map now gives
 * another order takes its previous order off the key that held it: that order gets its key from
 * before the move back, unless another object of this target is recorded at that key for it.
 */
export async function commitBatch(db: Client, target: { id: string; bucket: string }, source: string, batch: Verified[]): Promise<void> {
  if (batch.length === 0) return;
  await db.query('BEGIN');
  try {
    await db.query(
      `INSERT INTO ${STATE_TABLE} (target, target_bucket, source, source_key, target_key, size, sha256, md5, order_id, source_version)
       SELECT $1, $2, $3, * FROM unnest($4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::uuid[], $10::text[])
       ON CONFLICT (target, source, source_key) DO UPDATE SET target_key = EXCLUDED.target_key,
         size = EXCLUDED.size, source_version = EXCLUDED.source_version, sha256 = EXCLUDED.sha256, md5 = EXCLUDED.md5, order_id = EXCLUDED.order_id, verified_at = now()`,
      [
        target.id,
        target.bucket,
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
        `WITH v AS (SELECT * FROM unnest($1::uuid[], $2::text[]) AS v(id, key)),
           kept AS (INSERT INTO ${KEYS_BEFORE_TABLE} (order_id, document_key)
             SELECT o.id, o.document_key FROM orders o JOIN v ON o.id = v.id WHERE o.document_key IS DISTINCT FROM v.key
             ON CONFLICT (order_id) DO NOTHING)
         UPDATE orders o SET document_key = v.key, updated_at = now() FROM v WHERE o.id = v.id AND o.document_key IS DISTINCT FROM v.key`,
        [orders.map((b) => b.orderId), orders.map((b) => b.targetKey)],
      );
    const left = batch.filter((b) => b.replaced?.orderId);
    if (left.length > 0)
      await db.query(
        `UPDATE orders o SET document_key = k.document_key, updated_at = now()
         FROM unnest($2::uuid[], $3::text[]) AS v(id, key) JOIN ${KEYS_BEFORE_TABLE} k ON k.order_id = v.id
         WHERE o.id = v.id AND o.document_key = v.key
           AND NOT EXISTS (SELECT FROM ${STATE_TABLE} s WHERE s.target = $1 AND s.order_id = v.id AND s.target_key = v.key)`,
        [target.id, left.map((b) => b.replaced!.orderId), left.map((b) => b.replaced!.targetKey)],
      );
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** What became of the key an object had before the key map changed, once the run's rows are committed. */
export interface Outcome {
  sourceKey: string;
  /** The source key of the object now recorded at the old key (another order's document), if any. */
  keyNowHolds?: string;
  /** The previous order's document_key now (its key from before the move, or still the old key). */
  orderKeyNow?: string;
}

export async function replacedOutcomes(db: Client, target: string, moved: { sourceKey: string; from: Replaced }[]): Promise<Outcome[]> {
  if (moved.length === 0) return [];
  const { rows } = await db.query<{ source_key: string; holder: string | null; order_key: string | null }>(
    `SELECT v.source_key,
       (SELECT s.source_key FROM ${STATE_TABLE} s WHERE s.target = $1 AND s.target_key = v.key LIMIT 1) AS holder,
       (SELECT o.document_key FROM orders o WHERE o.id = v.order_id) AS order_key
     FROM unnest($2::text[], $3::text[], $4::uuid[]) AS v(source_key, key, order_id)`,
    [target, moved.map((m) => m.sourceKey), moved.map((m) => m.from.targetKey), moved.map((m) => m.from.orderId ?? null)],
  );
  return rows.map((r) => ({ sourceKey: r.source_key, keyNowHolds: r.holder ?? undefined, orderKeyNow: r.order_key ?? undefined }));
}

/** Rows whose objects the next move copies and verifies again, as it does a row without its source version. */
export async function markUnverified(db: Client, target: string, source: string, sourceKeys: string[]): Promise<void> {
  if (sourceKeys.length === 0) return;
  await db.query(`UPDATE ${STATE_TABLE} SET source_version = NULL WHERE target = $1 AND source = $2 AND source_key = ANY($3::text[])`, [target, source, sourceKeys]);
}
