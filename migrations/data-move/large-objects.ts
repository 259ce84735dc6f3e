import type { Client } from 'pg';
import { UsageError } from '../../core/cli';
import type { DataDigest } from './verify';

/**
 * Large objects are rows of pg_largeobject, no table of the schema: pg_dump's pre-data section
 * creates each one empty (lo_create of its OID, which the tables' oid columns hold), so their bytes
 * are copied here, and compared by the verification, or they would arrive empty and verify OK.
 */
export const LARGE_OBJECTS = 'pg_catalog.pg_largeobject (large objects)';

/** Bytes read per lo_get: a large object of any size goes through in pieces. */
const PIECE = 1024 * 1024;

export async function countLargeObjects(client: Client): Promise<number> {
  return Number((await client.query('SELECT count(*) AS n FROM pg_largeobject_metadata')).rows[0].n);
}

/** The source user may not read one of them: the grant to give, not a rerun. */
function unreadable(err: unknown): never {
  if ((err as { code?: string }).code === '42501')
    throw new UsageError('--source', `${(err as Error).message}: the move reads every large object; GRANT SELECT ON LARGE OBJECT … to this user (or run it as their owner), then rerun`);
  throw err;
}

/**
 * Copies every large object of the source's snapshot (`source` inside it) into the target's open
 * transaction, whose commit marks them copied: a kill leaves none half-written.
 */
export async function copyLargeObjects(source: Client, target: Client): Promise<{ objects: number; bytes: number }> {
  const { rows } = await source.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_largeobject_metadata ORDER BY oid');
  let bytes = 0;
  for (const { oid } of rows) {
    // pre-data made it, empty; a pg_dump that did not gets it here.
    await target.query('SELECT lo_create($1::oid) WHERE NOT EXISTS (SELECT FROM pg_largeobject_metadata WHERE oid = $1::oid)', [oid]);
    for (let offset = 0; ; offset += PIECE) {
      const piece = (await source.query<{ data: Buffer }>('SELECT lo_get($1::oid, $2, $3) AS data', [oid, offset, PIECE]).catch(unreadable)).rows[0].data;
      if (piece.length > 0) await target.query('SELECT lo_put($1::oid, $2, $3)', [oid, offset, piece]);
      bytes += piece.length;
      if (piece.length < PIECE) break;
    }
  }
  return { objects: rows.length, bytes };
}

/** Count and checksum of the large objects, as a table's digest: each object's OID and the MD5 of its bytes. */
export async function largeObjectDigest(client: Client): Promise<DataDigest> {
  const { rows } = await client
    .query(
      `SELECT count(*)::text AS rows, coalesce(sum(hashtextextended(oid::text || ':' || md5(lo_get(oid)), 0)), 0)::text AS checksum
       FROM pg_largeobject_metadata`,
    )
    .catch(unreadable);
  return rows[0];
}
