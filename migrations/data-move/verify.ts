import type { Client } from 'pg';
import { listMaterializedViews, listSequences, listTables, sourceSearchPath, tableColumns, type Column, type MaterializedView, type TableInfo } from './catalog';
import { forEachLimit, open, quoteIdent, quoteLiteral } from './db';
import { LARGE_OBJECTS, largeObjectDigest } from './large-objects';
import { log } from './log';
import { checkRowSecurity } from './preflight';
import { behindData, highWaters, nextValue, readSequences, type HighWater, type SequenceValue } from './sequences';

/**
 * What one side says about a table. The checksum is the sum of 64-bit per-row hashes (see
 * DigestMethod), computed in SQL: memory stays O(1), it
 * needs no sort and no index, and it is a multiset digest, so it is just as exact for tables
 * without a primary key (duplicate rows count twice). Sessions on both sides pin TimeZone,
 * DateStyle, extra_float_digits and bytea_output so the row text is canonical.
 */
export interface TableDigest {
  rows: string;
  checksum: string;
  indexes: number;
  constraints: number;
  /**
   * MD5 of the table's index and constraint definitions as this session prints them (the same
   * search_path on both sides): a count alone took a unique index rebuilt plain, on another
   * column, or a CHECK with another condition, for the same.
   */
  definitions?: string;
}

export interface TableCheck {
  table: string;
  source?: TableDigest;
  target?: TableDigest;
  primaryKey: boolean;
  /** A materialized view: its content on the target against its query run on the source (materializedViewCheck). */
  materializedView?: boolean;
  ok: boolean;
  problem?: string;
}

export interface SequenceCheck {
  sequence: string;
  source?: SequenceValue;
  target?: SequenceValue;
  ok: boolean;
  /** Why it is not ok, or why an ok target differs from the source. */
  note?: string;
}

export interface VerifyReport {
  tables: TableCheck[];
  sequences: SequenceCheck[];
  ok: boolean;
  seconds: number;
}

/**
 * How rows are hashed. `record`: one hash per column, from the column type's own hash function
 * where its value alone decides it and it tells apart every value with a distinct text form
 * (integers, booleans, text, uuid, timestamps), from the column's text otherwise; each seeded with
 * the column's position, XORed, and the result hashed again, so a row hash is a non-linear
 * function of the whole row. About two and a half times cheaper than hash_record_extended (no
 * whole-row datum is built and taken apart again), and stronger: hash_record_extended combines
 * column hashes linearly (h * 31 + next), so a sum of row hashes misses values of one column
 * swapped between rows. It is only used when every column is a built-in type whose hash does not
 * depend on the database, or an enum (or an array of one), hashed by its label's text: its own hash
 * is of the label's OID, which differs between databases, as reg* types are OIDs.
 * `text`: hashtextextended of the row's canonical text, for everything else.
 * Chosen per table from the source's catalog, used on both sides.
 */
export type DigestMethod = 'record' | 'text';

/** A table's row hash: SQL over the row alias `t`, built once from the source's catalog and run on both sides. */
export interface RowHash {
  method: DigestMethod;
  sql: string;
}

// t.*, not t: a column named t would be taken for the row, and only that column hashed.
const TEXT_ROW_HASH: RowHash = { method: 'text', sql: 'hashtextextended((t.*)::text, 0)' };

const VALUE_HASHED_TYPES = [
  'bool', 'int2', 'int4', 'int8', 'numeric', 'float4', 'float8', 'text', 'varchar', 'bpchar',
  'bytea', 'uuid', 'date', 'time', 'timestamp', 'timestamptz', 'interval', 'jsonb',
];

/**
 * Column hash per base type, where the type's hash function separates every pair of values whose
 * text differs. Left out, and hashed by their text: numeric, jsonb and interval (1.0 and 1.00, or
 * 1 day and 24 hours, hash alike), floats (-0 and 0), bytea and date (no SQL-callable hash
 * function of their own), arrays, enums. Text, and every column's text, hashes in the C collation:
 * a nondeterministic column collation would hash 'A' and 'a' alike (or {A} and {a} in an array). timestamptz goes through timestamp under the sessions'
 * pinned TimeZone=UTC, which maps it one to one.
 */
const COLUMN_HASH: Record<string, (column: string, seed: number) => string> = {
  bool: (c, s) => `hashint4extended(${c}::int, ${s})`,
  int2: (c, s) => `hashint2extended(${c}, ${s})`,
  int4: (c, s) => `hashint4extended(${c}, ${s})`,
  int8: (c, s) => `hashint8extended(${c}, ${s})`,
  text: (c, s) => `hashtextextended(${c}::text COLLATE "C", ${s})`,
  varchar: (c, s) => `hashtextextended(${c}::text COLLATE "C", ${s})`,
  // Its stored form: bpchar's hash and its cast to text both drop trailing spaces, which an
  // unbounded bpchar keeps ('a' and 'a  ' would hash alike).
  bpchar: (c, s) => `hashtextextended(bpcharout(${c})::text COLLATE "C", ${s})`,
  uuid: (c, s) => `uuid_hash_extended(${c}, ${s})`,
  time: (c, s) => `time_hash_extended(${c}, ${s})`,
  timestamp: (c, s) => `timestamp_hash_extended(${c}, ${s})`,
  timestamptz: (c, s) => `timestamp_hash_extended(${c}::timestamp, ${s})`,
};

export async function digestMethod(source: Client, table: Pick<TableInfo, 'sql'>, sourceMajor: number): Promise<DigestMethod> {
  if (sourceMajor < 14) return 'text';
  const { rows } = await source.query(
    `SELECT coalesce(bool_and((coalesce(e.typname, b.typname) = ANY($2) AND coalesce(e.typnamespace, b.typnamespace) = 'pg_catalog'::regnamespace)
       OR coalesce(e.typtype, b.typtype) = 'e'), true) AS ok
     FROM pg_attribute a
     JOIN pg_type t ON t.oid = a.atttypid
     JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
     LEFT JOIN pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [table.sql, VALUE_HASHED_TYPES],
  );
  return rows[0].ok ? 'record' : 'text';
}

/** The row hash expression of a table (see DigestMethod). */
export async function rowHash(source: Client, table: Pick<TableInfo, 'sql'>, sourceMajor: number): Promise<RowHash> {
  const method = await digestMethod(source, table, sourceMajor);
  if (method === 'text') return TEXT_ROW_HASH;
  const { rows } = await source.query(
    `SELECT a.attname::text AS name, CASE WHEN b.typcategory = 'A' THEN 'array' WHEN b.typtype = 'e' THEN 'enum' ELSE b.typname::text END AS type
     FROM pg_attribute a
     JOIN pg_type t ON t.oid = a.atttypid
     JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
     WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`,
    [table.sql],
  );
  if (rows.length === 0) return { method, sql: '0' };
  // A NULL column contributes its position, so NULL and a value are told apart like two values.
  const columns = rows.map((r: { name: string; type: string }, i: number) => {
    const column = `t.${quoteIdent(r.name)}`;
    // In the C collation too: an array's text keeps its elements' collation, and a nondeterministic
    // one (case-insensitive) would hash {Red} and {red} alike.
    const hash = COLUMN_HASH[r.type]?.(column, i + 1) ?? `hashtextextended(${column}::text COLLATE "C", ${i + 1})`;
    return `coalesce(${hash}, ${i + 1})`;
  });
  return { method, sql: `hashint8extended(${columns.join(' # ')}, 0)` };
}

/**
 * The source's row hash names the source's columns: on a target whose table lacks one of them or
 * holds it with another type, the digest query fails, and that is a mismatch to report, not a crash.
 */
function columnsDiffer(err: unknown): Error {
  const code = (err as { code?: string }).code;
  if (typeof code === 'string' && code.startsWith('42')) return new Error(`columns differ (${(err as Error).message})`);
  throw err;
}

/**
 * How a target table's columns differ from the source's, or undefined when they are the same in
 * the same order. The row hash reads the source's columns by name, so a column only the target
 * has, the same columns in another order, or a column of another type whose text is the same
 * (int against text) hashed alike: the shape is compared on its own.
 */
export function columnDifference(source: Column[], target: Column[]): string | undefined {
  const onTarget = new Map(target.map((c) => [c.name, c.type]));
  const onSource = new Set(source.map((c) => c.name));
  const problems = [
    ...source.filter((c) => !onTarget.has(c.name)).map((c) => `${c.name} (${c.type}) missing on the target`),
    ...target.filter((c) => !onSource.has(c.name)).map((c) => `${c.name} (${c.type}) on the target only`),
    ...source.filter((c) => onTarget.has(c.name) && onTarget.get(c.name) !== c.type).map((c) => `${c.name} is ${c.type} on the source, ${onTarget.get(c.name)} on the target`),
  ];
  const names = (columns: Column[]) => columns.map((c) => c.name).join(', ');
  if (problems.length === 0 && names(source) !== names(target)) problems.push(`in another order (source ${names(source)}; target ${names(target)})`);
  return problems.length ? `columns differ: ${problems.join('; ')}` : undefined;
}

function mismatch(table: TableInfo, source: TableDigest, problem: string): TableCheck {
  return { table: table.name, source, primaryKey: table.primaryKey.length > 0, ok: false, problem };
}

/** Row count and checksum: the expensive part, done per table (overlapped with the copy in copy mode). */
export interface DataDigest {
  rows: string;
  checksum: string;
}

/**
 * An extension's configuration table is digested on both sides with the source's condition: the
 * rows its CREATE EXTENSION made are not the move's, and may differ with the target's version.
 */
export async function dataDigest(client: Client, table: Pick<TableInfo, 'sql' | 'extensionFilter'>, hash: RowHash): Promise<DataDigest> {
  // The condition names the table's columns (or the table) unqualified, as pg_dump runs it: under the alias t it could not name the table.
  const from = table.extensionFilter ? `(SELECT * FROM ONLY ${table.sql} ${table.extensionFilter}) t` : `ONLY ${table.sql} t`;
  const { rows } = await client.query(`SELECT count(*)::text AS rows, coalesce(sum(${hash.sql}), 0)::text AS checksum FROM ${from}`);
  return rows[0];
}

async function tableDigest(client: Client, table: Pick<TableInfo, 'sql' | 'extensionFilter'>, hash: RowHash, data?: DataDigest): Promise<TableDigest> {
  const { rows } = await client.query(`
    SELECT (SELECT count(*) FROM pg_index WHERE indrelid = ${quoteLiteral(table.sql)}::regclass)::int AS indexes,
      (SELECT count(*) FROM pg_constraint WHERE conrelid = ${quoteLiteral(table.sql)}::regclass)::int AS constraints,
      md5(coalesce((SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY pg_get_indexdef(indexrelid) COLLATE "C")
                    FROM pg_index WHERE indrelid = ${quoteLiteral(table.sql)}::regclass), '') || E'\n\n' ||
          coalesce((SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conname || ' ' || pg_get_constraintdef(oid) COLLATE "C")
                    FROM pg_constraint WHERE conrelid = ${quoteLiteral(table.sql)}::regclass), '')) AS definitions`);
  return { ...(data ?? (await dataDigest(client, table, hash))), ...rows[0] };
}

/**
 * `definitions`: compare the index and constraint definitions too, which only a server of the
 * same major version is sure to print alike.
 */
function compare(table: string, primaryKey: boolean, source?: TableDigest, target?: TableDigest, definitions = false): TableCheck {
  const problem = !target
    ? 'missing on target'
    : !source
      ? 'not on source'
      : source.rows !== target.rows
        ? `row count differs (source ${source.rows}, target ${target.rows})`
        : source.checksum !== target.checksum
          ? 'content checksum differs'
          : source.indexes !== target.indexes || source.constraints !== target.constraints
            ? `indexes/constraints differ (source ${source.indexes}/${source.constraints}, target ${target.indexes}/${target.constraints})`
            : definitions && source.definitions !== target.definitions
              ? 'index or constraint definitions differ (compare pg_indexes and pg_constraint of both sides)'
              : undefined;
  return { table, source, target, primaryKey, ok: !problem, problem };
}

/**
 * A materialized view is moved as pg_dump moves it, as its query, run again on the target by its
 * REFRESH; the rows the source's holds are those of its last refresh, older than its tables when
 * they changed since. So its content on the target is compared with its query run on the source
 * under the verification's snapshot: the same rows when the query means the same on both sides
 * (its functions moved and resolving alike, no clock or random() in it), whatever the source's
 * own refresh left. A view the source holds unpopulated (WITH NO DATA) must be so on the target.
 */
async function materializedViewCheck(
  source: Client,
  target: Client,
  view: MaterializedView,
  onTarget: MaterializedView | undefined,
  shape: string | undefined,
  sourceMajor: number,
  definitions: boolean,
): Promise<TableCheck> {
  const check = { table: view.name, primaryKey: true, materializedView: true };
  if (!onTarget) return { ...check, ok: false, problem: 'missing on target' };
  if (shape) return { ...check, ok: false, problem: shape };
  if (view.populated !== onTarget.populated) {
    return { ...check, ok: false, problem: view.populated ? 'populated on the source, not on the target (never refreshed there)' : 'unpopulated on the source (WITH NO DATA), populated on the target' };
  }
  if (!view.populated) return { ...check, ok: true };
  const hash = await rowHash(source, view, sourceMajor);
  // A view over another one runs on the target, over the target's copy of that one (itself
  // compared with its query on the source): on the source it would read the inner view's rows of
  // its last refresh there, which may be older than its tables.
  const [side, printed] = view.readsViews ? [target, onTarget] : [source, view];
  const [queried] = (await side.query(`SELECT count(*)::text AS rows, coalesce(sum(${hash.sql}), 0)::text AS checksum FROM (${printed.query}) t(${printed.columns.join(', ')})`)).rows;
  const [s, t] = await Promise.all([tableDigest(source, { sql: view.sql }, hash, queried), tableDigest(target, { sql: onTarget.sql }, hash)]);
  const result = compare(view.name, true, s, t, definitions);
  const problem =
    result.problem === 'content checksum differs' || result.problem?.startsWith('row count differs')
      ? `${result.problem} from its query run on the ${view.readsViews ? "target's rows (it reads another materialized view)" : "source's rows"}: the query reads the clock, random() or a session setting, or a function it calls differs or resolves otherwise on the target`
      : result.problem;
  return { ...result, ...check, problem };
}

export interface VerifyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs: number;
  /** Exported source snapshot to verify against (the one the copy used); a fresh one otherwise. */
  snapshot?: string;
  /** Data digests already taken (by the copy, under the same snapshot), by table name. */
  precomputed?: { source: Map<string, DataDigest>; target: Map<string, DataDigest> };
  /** Row hash per table, when the caller already built them (copy mode). */
  rowHashes?: Map<string, RowHash>;
}

/** Compares every table and sequence of both sides, `jobs` tables at a time, each side in parallel. */
export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const jobs = Math.max(1, options.jobs);
  const sources: Client[] = [];
  const targets: Client[] = [];
  let holder: Client | undefined;
  try {
    let snapshot = options.snapshot;
    if (!snapshot) {
      holder = await open(options.sourceUrl, 'source');
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      snapshot = (await holder.query('SELECT pg_export_snapshot() AS s')).rows[0].s as string;
    }
    for (let i = 0; i < jobs; i++) {
      const s = await open(options.sourceUrl, 'source');
      await s.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      sources.push(s);
      const t = await open(options.targetUrl, 'target');
      // A view's query run on the target calls its functions as the target's REFRESH did (schema.ts underSearchPath).
      await t.query(`SELECT pg_catalog.set_config('search_path', $1, false)`, [await sourceSearchPath(s)]);
      targets.push(t);
    }
    await checkRowSecurity(sources[0], (await sources[0].query('SELECT current_user AS u')).rows[0].u);
    const [sourceTables, targetTables] = await Promise.all([listTables(sources[0]), listTables(targets[0])]);
    const targetByName = new Map(targetTables.map((t) => [t.name, t]));
    const [sourceColumns, targetColumns] = await Promise.all([tableColumns(sources[0]), tableColumns(targets[0])]);
    const [sourceMajor, targetMajor] = await Promise.all(
      [sources[0], targets[0]].map(async (c) => Math.floor(Number((await c.query(`SELECT current_setting('server_version_num') AS v`)).rows[0].v) / 10000)),
    );
    const definitions = sourceMajor === targetMajor;
    const hashes = new Map(options.rowHashes);
    for (const table of sourceTables) {
      if (!hashes.has(table.name)) hashes.set(table.name, await rowHash(sources[0], table, sourceMajor));
    }
    const checks: TableCheck[] = [];
    await forEachLimit(sourceTables, jobs, async (table, worker) => {
      const onTarget = targetByName.get(table.name);
      const hash = hashes.get(table.name)!;
      const shape = onTarget && columnDifference(sourceColumns.get(table.name) ?? [], targetColumns.get(table.name) ?? []);
      const [s, t] = await Promise.all([
        tableDigest(sources[worker], table, hash, options.precomputed?.source.get(table.name)),
        shape
          ? new Error(shape)
          : onTarget
            ? tableDigest(targets[worker], { ...onTarget, extensionFilter: table.extensionFilter }, hash, options.precomputed?.target.get(table.name)).catch(columnsDiffer)
            : undefined,
      ]);
      const check = t instanceof Error ? mismatch(table, s, t.message) : compare(table.name, table.primaryKey.length > 0, s, t, definitions);
      if (!check.primaryKey) log('verify_without_primary_key', { table: table.name, checksum: 'order-independent row-hash sum' }, 'warn');
      checks.push(check);
    });
    const sourceNames = new Set(sourceTables.map((t) => t.name));
    for (const extra of targetTables.filter((t) => !sourceNames.has(t.name))) {
      checks.push(compare(extra.name, extra.primaryKey.length > 0, undefined, await tableDigest(targets[0], extra, TEXT_ROW_HASH)));
    }
    const [sourceViews, targetViews] = await Promise.all([listMaterializedViews(sources[0]), listMaterializedViews(targets[0])]);
    const targetViewByName = new Map(targetViews.map((v) => [v.name, v]));
    await forEachLimit(sourceViews, jobs, async (view, worker) => {
      const shape = columnDifference(sourceColumns.get(view.name) ?? [], targetColumns.get(view.name) ?? []);
      checks.push(await materializedViewCheck(sources[worker], targets[worker], view, targetViewByName.get(view.name), shape, sourceMajor, definitions));
    });
    const sourceViewNames = new Set(sourceViews.map((v) => v.name));
    for (const extra of targetViews.filter((v) => !sourceViewNames.has(v.name))) {
      checks.push({ table: extra.name, primaryKey: true, materializedView: true, ok: false, problem: 'not on source' });
    }
    const [sourceObjects, targetObjects] = await Promise.all([largeObjectDigest(sources[0]), largeObjectDigest(targets[0])]);
    if (sourceObjects.rows !== '0' || targetObjects.rows !== '0') {
      const none = { indexes: 0, constraints: 0 };
      checks.push(compare(LARGE_OBJECTS, true, { ...sourceObjects, ...none }, { ...targetObjects, ...none }));
    }
    checks.sort((a, b) => a.table.localeCompare(b.table));

    const [sourceSeqs, targetSeqs] = await Promise.all([listSequences(sources[0]), listSequences(targets[0])]);
    const sourceValues = await readSequences(sources[0], sourceSeqs);
    const targetValues = new Map((await readSequences(targets[0], targetSeqs)).map((v) => [v.name, v]));
    const targetMarks = await highWaters(targets[0], targetSeqs);
    const sequences: SequenceCheck[] = sourceValues.map((sv) => checkSequence(sv, targetValues.get(sv.name), targetMarks.get(sv.name)));
    const ok = checks.every((c) => c.ok) && sequences.every((s) => s.ok);
    return { tables: checks, sequences, ok, seconds: (Date.now() - started) / 1000 };
  } finally {
    await Promise.all([...sources, ...targets, ...(holder ? [holder] : [])].map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * A target sequence is right when its next value is the source's or further on (db:move sets it
 * past its table's highest value when the source's lags behind it: sequences.ts writeSequences),
 * and wrong when it is behind the source, or would hand out a value its table on the target
 * already holds: the first insert after the switch would fail on its key.
 */
function checkSequence(sv: SequenceValue, tv: SequenceValue | undefined, mark: HighWater | undefined): SequenceCheck {
  const check = { sequence: sv.name, source: sv, target: tv };
  if (!tv || !mark) return { ...check, ok: false, note: 'missing on target' };
  if (behindData(tv, mark)) return { ...check, ok: false, note: `behind ${mark.column} (highest ${mark.value}): the next insert would collide` };
  const [s, t] = [nextValue(sv, mark.increment), nextValue(tv, mark.increment)];
  if (mark.increment > 0n ? t < s : t > s) return { ...check, ok: false, note: 'behind the source' };
  if (s !== t) return { ...check, ok: true, note: `ahead of the source (past the highest ${mark.column ?? 'value'})` };
  return { ...check, ok: true };
}

/** Human-readable report for stdout; the JSON log carries the same facts. */
export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  const width = Math.max(5, ...report.tables.map((t) => t.table.length));
  lines.push(`${'table'.padEnd(width)}  ${'rows source'.padStart(12)}  ${'rows target'.padStart(12)}  result`);
  for (const t of report.tables) {
    const note = t.materializedView ? ' (materialized view: against its query)' : t.primaryKey || !t.source ? '' : ' (no primary key: order-independent checksum)';
    lines.push(
      `${t.table.padEnd(width)}  ${(t.source?.rows ?? '-').padStart(12)}  ${(t.target?.rows ?? '-').padStart(12)}  ${t.ok ? 'ok' : `MISMATCH: ${t.problem}`}${note}`,
    );
  }
  for (const s of report.sequences) {
    const show = (v?: SequenceValue) => (v ? `${v.lastValue}${v.isCalled ? '' : ' (not called)'}` : '-');
    lines.push(`sequence ${s.sequence}: source ${show(s.source)}, target ${show(s.target)}  ${s.ok ? 'ok' : 'MISMATCH'}${s.note ? `: ${s.note}` : ''}`);
  }
  const bad = [...report.tables.filter((t) => !t.ok).map((t) => t.table), ...report.sequences.filter((s) => !s.ok).map((s) => s.sequence)];
  lines.push(
    report.ok
      ? `verification OK: ${report.tables.length} tables, ${report.sequences.length} sequences (${report.seconds.toFixed(1)} s)`
      : `verification FAILED: mismatch in ${bad.join(', ')}`,
  );
  return lines.join('\n');
}
