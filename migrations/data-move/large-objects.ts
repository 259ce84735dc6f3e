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

/**
 * Count and checksum of the large objects, as a table's digest: each object's OID and the MD5 of
 * the MD5s of its PIECE-byte pieces in order, which tells apart the same objects as the MD5 of its
 * bytes would. Each piece is read with lo_get(oid, offset, PIECE) and only its MD5 is kept, so
 * the server holds one piece at a time: lo_get(oid) of the whole object held all of it (and
 * refuses one of 1 GB or more: "large object read request is too large").
 */
export async function largeObjectDigest(client: Client): Promise<DataDigest> {
  const { rows } = await client
    .query(
      `SELECT count(*)::text AS rows, coalesce(sum(hashtextextended(m.oid::text || ':' || d.md5, 0)), 0)::text AS checksum
       FROM pg_largeobject_metadata m
       CROSS JOIN LATERAL (
         WITH RECURSIVE piece(at, size, md5) AS (
           SELECT 0::bigint, length(p), md5(p) FROM lo_get(m.oid, 0, $1) AS p
           UNION ALL
           SELECT piece.at + $1, length(p), md5(p) FROM piece, lo_get(m.oid, piece.at + $1, $1) AS p WHERE piece.size = $1
         )
         SELECT md5(string_agg(piece.md5, '' ORDER BY piece.at)) AS md5 FROM piece
       ) d`,
      [PIECE],
    )
    .catch(unreadable);
  return rows[0];
}
