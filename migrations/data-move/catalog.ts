import type { Client } from 'pg';
import { qualifiedName, quoteIdent } from './db';

/** Schema holding the resumable-copy bookkeeping on the target; never part of the data. */
export const STATE_SCHEMA = '_data_move';

export interface TableInfo {
  /** Quoted, schema-qualified name usable in SQL. */
  sql: string;
  /** The table's identity in state, maps and reports (db.ts qualifiedName). */
  name: string;
  schema: string;
  table: string;
  /** Columns COPY must carry: generated columns are recomputed by the target. */
  copyColumns: string[];
  primaryKey: string[];
  /** Type of a single-column primary key (e.g. bigint), which allows splitting the table by key range. */
  primaryKeyType?: string;
  /**
   * Every copied column has a built-in type or an enum (or a domain over one, an array of a built-in
   * type): their binary COPY format is the same on both sides of one major version and carries no
   * database-local OID (an enum travels as its label; an array of enums would carry the enum's OID).
   */
  binaryCopy: boolean;
  /**
   * An extension's configuration table: the WHERE clause (or '') selecting the user's rows, the only
   * ones copied and compared; the target's CREATE EXTENSION makes the others.
   */
  extensionFilter?: string;
  /** Replica identity is usable for UPDATE/DELETE replication (primary key, index or FULL). */
  replicaIdentityOk: boolean;
  /** UNLOGGED: no WAL, so no publication may hold it. */
  unlogged: boolean;
  bytes: number;
}

export interface SequenceInfo {
  sql: string;
  name: string;
}

/** Objects with an OID below this one come with the server (FirstNormalObjectId); pg_dump leaves such extensions out. */
export const FIRST_NORMAL_OID = 16384;

const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', '${STATE_SCHEMA}')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

/** Objects that belong to an extension are recreated by CREATE EXTENSION, not copied. */
const NOT_EXTENSION_MEMBER = `NOT EXISTS (SELECT 1 FROM pg_depend d
  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/**
 * The condition an extension gave its configuration table (pg_extension_config_dump: a WHERE
 * clause, or '' for every row), null for any other table: those rows are the user's, which
 * pg_dump dumps and CREATE EXTENSION does not make (PostGIS's own spatial_ref_sys rows are made by
 * it, a user's SRIDs are not).
 */
const EXTENSION_FILTER = `(SELECT e.extcondition[array_position(e.extconfig, c.oid)] FROM pg_extension e WHERE c.oid = ANY (e.extconfig))`;

/**
 * Tables holding user rows, and sequences whose position is the user's: an extension's members
 * only when it marked them as configuration (pg_cron's cron.job and its jobid_seq: the jobs copied
 * with the sequence left at its start, the next cron.schedule took the first job's id).
 */
const USER_ROWS = `(${NOT_EXTENSION_MEMBER} OR ${EXTENSION_FILTER} IS NOT NULL)`;

/** Leaf tables holding rows (partitioned parents hold none), largest first so parallel work balances. */
export async function listTables(client: Client): Promise<TableInfo[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS table, pg_relation_size(c.oid) AS bytes,
      ARRAY(SELECT a.attname::text FROM pg_attribute a
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            ORDER BY a.attnum) AS copy_columns,
      ARRAY(SELECT a.attname::text FROM pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos) ON true
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
            WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.pos) AS primary_key,
      (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_index i JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1) AS primary_key_type,
      NOT EXISTS (SELECT 1 FROM pg_attribute a
            JOIN pg_type t ON t.oid = a.atttypid
            JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
              AND b.typtype <> 'e' AND (b.oid >= ${FIRST_NORMAL_OID} OR b.typelem >= ${FIRST_NORMAL_OID})) AS binary_copy,
      (c.relreplident = 'f' OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident))
        OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))) AS replica_identity_ok,
      ${EXTENSION_FILTER} AS extension_filter, c.relpersistence = 'u' AS unlogged
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND ${USER_SCHEMAS} AND ${USER_ROWS}
    ORDER BY pg_relation_size(c.oid) DESC, n.nspname, c.relname`);
  return rows.map((r) => ({
    sql: `${quoteIdent(r.schema)}.${quoteIdent(r.table)}`,
    name: qualifiedName(r.schema, r.table),
    schema: r.schema,
    table: r.table,
    copyColumns: r.copy_columns,
    primaryKey: r.primary_key,
    primaryKeyType: r.primary_key_type ?? undefined,
    binaryCopy: r.binary_copy,
    extensionFilter: r.extension_filter ?? undefined,
    replicaIdentityOk: r.replica_identity_ok,
    unlogged: r.unlogged,
    bytes: Number(r.bytes),
  }));
}

/** The user's rows (its condition's) in each extension configuration table of `tables` that holds any. */
export async function extensionConfigRows(client: Client, tables: TableInfo[]): Promise<{ table: string; rows: number }[]> {
  const held: { table: string; rows: number }[] = [];
  for (const t of tables.filter((t) => t.extensionFilter !== undefined)) {
    const { rows } = await client.query(`SELECT count(*)::int AS n FROM ONLY ${t.sql} ${t.extensionFilter}`);
    if (rows[0].n > 0) held.push({ table: t.name, rows: rows[0].n });
  }
  return held;
}

/**
 * Each table's columns with their types, by table name (partitioned parents included): the shape
 * of the schema a run creates on the target, which a resumed run's source must still have.
 */
export async function tableShapes(client: Client): Promise<Map<string, string>> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS table,
      coalesce((SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') AS columns
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relpersistence <> 't' AND ${USER_SCHEMAS} AND ${USER_ROWS}`);
  return new Map(rows.map((r) => [qualifiedName(r.schema, r.table), r.columns]));
}

export interface Column {
  name: string;
  type: string;
}

/** Each leaf table's and materialized view's columns (quoted where SQL needs it) and types in order, by name: the shape verify compares. */
export async function tableColumns(client: Client): Promise<Map<string, Column[]>> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS table,
      coalesce((SELECT json_agg(json_build_object('name', quote_ident(a.attname), 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm') AND c.relpersistence <> 't' AND ${USER_SCHEMAS} AND ${USER_ROWS}`);
  return new Map(rows.map((r) => [qualifiedName(r.schema, r.table), r.columns]));
}

export interface MaterializedView {
  sql: string;
  name: string;
  populated: boolean;
  /** Its query as this session prints it (pg_get_viewdef, without the closing semicolon), to run in the same session. */
  query: string;
  /** Its columns, quoted: the names the query's output takes. */
  columns: string[];
  /** Its query reads another materialized view. */
  readsViews: boolean;
}

export async function listMaterializedViews(client: Client): Promise<MaterializedView[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS name, c.relispopulated AS populated, rtrim(pg_get_viewdef(c.oid), '; ') AS query,
      ARRAY(SELECT quote_ident(a.attname) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
      EXISTS (SELECT 1 FROM pg_rewrite w
        JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid AND d.refclassid = 'pg_class'::regclass
        JOIN pg_class r ON r.oid = d.refobjid
        WHERE w.ev_class = c.oid AND r.relkind = 'm' AND r.oid <> c.oid) AS reads_views
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'm' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
    ORDER BY 1, 2`);
  return rows.map((r) => ({
    sql: `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`,
    name: qualifiedName(r.schema, r.name),
    populated: r.populated,
    query: r.query,
    columns: r.columns,
    readsViews: r.reads_views,
  }));
}

/**
 * Tables whose rows row-level security would filter for the session's user, as PostgreSQL decides
 * it (check_enable_rls): neither a superuser nor BYPASSRLS, and not the table's owner (or a member
 * of its role), or the table FORCEs it on its owner too. pg_read_all_data bypasses none of it.
 */
export async function rowSecuredTables(client: Client): Promise<string[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS table
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND c.relrowsecurity AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
      AND NOT (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user)
      AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))
    ORDER BY 1, 2`);
  return rows.map((r) => qualifiedName(r.schema, r.table));
}

export async function listSequences(client: Client): Promise<SequenceInfo[]> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS seq FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'S' AND ${USER_SCHEMAS} AND ${USER_ROWS} ORDER BY 1, 2`);
  return rows.map((r) => ({ sql: `${quoteIdent(r.schema)}.${quoteIdent(r.seq)}`, name: qualifiedName(r.schema, r.seq) }));
}

/** User relations of any kind: a target holding any of them is not empty. */
export async function listUserRelations(client: Client, limit = 5): Promise<{ count: number; sample: string[] }> {
  const { rows } = await client.query(`
    SELECT n.nspname AS schema, c.relname AS name, count(*) OVER () AS total
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER}
    ORDER BY 1, 2 LIMIT ${limit}`);
  return { count: rows.length ? Number(rows[0].total) : 0, sample: rows.map((r) => qualifiedName(r.schema, r.name)) };
}

export interface ServerInfo {
  versionNum: number;
  major: number;
  version: string;
  database: string;
  walLevel: string;
  user: string;
  superuser: boolean;
  replication: boolean;
}

export async function serverInfo(client: Client): Promise<ServerInfo> {
  const { rows } = await client.query(`
    SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version,
      current_database() AS db, current_setting('wal_level') AS wal_level, current_user AS usr,
      r.rolsuper AS superuser, r.rolreplication AS replication
    FROM pg_roles r WHERE r.rolname = current_user`);
  const r = rows[0];
  return {
    versionNum: r.num,
    major: Math.floor(r.num / 10000),
    version: r.version,
    database: r.db,
    walLevel: r.wal_level,
    user: r.usr,
    superuser: r.superuser,
    replication: r.replication,
  };
}

/**
 * The search_path a session of the source gets (its database's or user's setting, else the
 * server's), which the source's function bodies were written for and ran under (schema.ts
 * underSearchPath). No session of the tool's sets it on the source.
 */
export async function sourceSearchPath(source: Client): Promise<string> {
  const { rows } = await source.query(`SELECT reset_val FROM pg_settings WHERE name = 'search_path'`);
  return rows[0].reset_val;
}
