import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { listSequences, listTables, serverInfo, sourceSearchPath, tableShapes, type TableInfo } from './catalog';
import { closeNow, describeUrl, forEachLimit, open, quoteIdent, quoteLiteral } from './db';
import { UsageError } from '../../core/cli';
import { copyFailure, StepFailed } from './errors';
import { log } from './log';
import { planPostData, startIndexBuilds, type IndexBuilds } from './indexes';
import { copyLargeObjects, LARGE_OBJECTS } from './large-objects';
import { checkExtensionVersions, checkRowSecurity, checkSourceUnchanged, checkTarget, checkVersions, lockTarget, shapeChanges, warnDatabaseSettings, warnMissingPrimaryKeys } from './preflight';
import { applySection, atSourceVersions, dumpSection } from './schema';
import { RelayIn, RelayOut } from './relay';
import { readSequences, writeSequences } from './sequences';
import { chunkPlans, copiedTables, createState, dropState, indexedTables, markTableCopied, reached, savedShapes, saveChunkPlan, saveShapes, setPhase, type Chunk } from './state';
import { dataDigest, rowHash, verify, type DataDigest, type RowHash, type VerifyReport } from './verify';

export interface CopyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs: number;
  chunkMb: number;
  maintenanceWorkMem: string;
}

export interface CopyResult {
  report: VerifyReport;
  rows: number;
  bytes: number;
  seconds: number;
}

const INTEGER_KEYS = new Set(['smallint', 'integer', 'bigint']);

/** What one transaction copies: a whole table, or one key range of a large one. */
interface WorkItem {
  table: TableInfo;
  chunk?: Chunk;
  /** Name of the mark in the target's state. */
  mark: string;
}

function copyFilter(table: TableInfo, chunk?: Chunk): string {
  if (table.extensionFilter !== undefined) return table.extensionFilter ? ` ${table.extensionFilter}` : '';
  if (!chunk) return '';
  const key = quoteIdent(table.primaryKey[0]);
  const bounds = [chunk.lower !== null ? `${key} >= ${chunk.lower}` : '', chunk.upper !== null ? `${key} < ${chunk.upper}` : ''];
  return bounds.some(Boolean) ? ` WHERE ${bounds.filter(Boolean).join(' AND ')}` : '';
}

/** Bytes handed on per stream read: fewer, larger writes to the target socket. */
const STREAM_BUFFER = 1024 * 1024;

/**
 * One work item, in one target transaction, committed together with its mark. If the process dies
 * mid-stream the transaction never commits, so a rerun finds nothing of it and copies it again: no
 * duplicate, no missing row. A whole table is TRUNCATEd first, which also allows COPY FREEZE (no
 * hint-bit rewrite of every page on first read); a key range cannot truncate, so it loads plainly.
 * Binary COPY (when `binary`) spares both servers the text conversion of every value: measured on
 * pgbench_accounts, loading 25 % and unloading 15 % cheaper than text.
 */
async function copyItem(source: Client, target: Client, item: WorkItem, binary: boolean): Promise<{ rows: number; bytes: number }> {
  const { table, chunk } = item;
  const columns = table.copyColumns.map(quoteIdent).join(', ');
  const format = binary ? ' (FORMAT binary)' : '';
  try {
    // An extension's configuration table keeps the rows its CREATE EXTENSION made: only the user's
    // rows (its condition's) are replaced, so it is neither truncated nor frozen.
    const config = table.extensionFilter !== undefined;
    await target.query(chunk ? 'BEGIN' : config ? `BEGIN; DELETE FROM ONLY ${table.sql}${copyFilter(table)}` : `BEGIN; TRUNCATE ONLY ${table.sql}`);
    const options = [...(binary ? ['FORMAT binary'] : []), ...(chunk || config ? [] : ['FREEZE'])];
    const into = target.query(
      // A table of no column (or only generated ones) still has rows, and an empty column list is a
      // syntax error: without one, COPY takes every column but the generated ones, here none.
      new RelayIn(`COPY ${table.sql}${columns ? ` (${columns})` : ''} FROM STDIN${options.length ? ` (${options.join(', ')})` : ''}`, { highWaterMark: STREAM_BUFFER }),
    );
    const out = source.query(
      new RelayOut(`COPY (SELECT ${columns} FROM ONLY ${table.sql}${copyFilter(table, chunk)}) TO STDOUT${format}`, { highWaterMark: STREAM_BUFFER }),
    );
    await pipeline(out, into);
    await markTableCopied(target, item.mark, into.rowCount, out.bytes);
    await target.query('COMMIT');
    return { rows: into.rowCount, bytes: out.bytes };
  } catch (err) {
    // Nothing of the item committed; the run ends here and a rerun copies it again.
    await Promise.all([closeNow(target), closeNow(source)]);
    throw copyFailure(`copying ${item.mark}`, err);
  }
}

/** Equal key ranges between the snapshot's min and max key, open-ended at both ends. */
async function planChunks(source: Client, table: TableInfo, chunkBytes: number, jobs: number): Promise<Chunk[]> {
  const key = quoteIdent(table.primaryKey[0]);
  const { rows } = await source.query(`SELECT min(${key})::text AS lo, max(${key})::text AS hi FROM ONLY ${table.sql}`);
  // A multiple of the stream count, so no range is left to run alone at the end.
  const n = Math.ceil(Math.ceil(table.bytes / chunkBytes) / jobs) * jobs;
  if (rows[0].lo === null) return [{ index: 0, lower: null, upper: null }];
  const lo = BigInt(rows[0].lo);
  const span = BigInt(rows[0].hi) - lo + 1n;
  const bounds = Array.from({ length: n - 1 }, (_, i) => (lo + (span * BigInt(i + 1)) / BigInt(n)).toString());
  return Array.from({ length: n }, (_, i) => ({ index: i, lower: i === 0 ? null : bounds[i - 1], upper: i === n - 1 ? null : bounds[i] }));
}

/** Splits large tables (plans persisted before any chunk commits), and drops items already copied. */
async function workItems(source: Client, target: Client, tables: TableInfo[], options: CopyOptions): Promise<WorkItem[]> {
  const chunkBytes = options.chunkMb * 1024 * 1024;
  const plans = await chunkPlans(target);
  const copied = await copiedTables(target);
  const items: WorkItem[] = [];
  await target.query('BEGIN');
  for (const table of tables) {
    let plan = plans.get(table.name);
    const splittable = options.jobs > 1 && table.extensionFilter === undefined && table.bytes > chunkBytes && !!table.primaryKeyType && INTEGER_KEYS.has(table.primaryKeyType);
    if (!plan && splittable && !copied.has(table.name)) {
      plan = await planChunks(source, table, chunkBytes, options.jobs);
      await saveChunkPlan(target, table.name, plan);
    }
    if (!plan) items.push({ table, mark: table.name });
    else items.push(...plan.map((chunk) => ({ table, chunk, mark: `${table.name}#${chunk.index}` })));
  }
  await target.query('COMMIT');
  const todo = items.filter((i) => !copied.has(i.mark));
  if (todo.length < items.length) log('already_copied', { done: items.length - todo.length, remaining: todo.length });
  return todo;
}

interface Digests {
  rowHashes: Map<string, RowHash>;
  source: Map<string, DataDigest>;
  target: Map<string, DataDigest>;
}

interface CopyDataResult {
  rows: number;
  bytes: number;
  /** Target digests still running: they overlap the post-data index builds. */
  targetDigests: Promise<void>;
}

/**
 * Digests the source tables in one extra session under the copy's snapshot, started before the
 * schema is even applied: it fills the otherwise idle start (pg_dump, pre-data) and runs on beside
 * the copy. `stop` ends the session early when the copy fails.
 */
async function digestSource(sourceUrl: string, snapshot: string, tables: TableInfo[], digests: Digests): Promise<{ done: Promise<void>; stop(): void }> {
  const session = await open(sourceUrl, 'source');
  const done = (async () => {
    try {
      await session.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      for (const table of tables) digests.source.set(table.name, await dataDigest(session, table, digests.rowHashes.get(table.name)!));
    } finally {
      await session.end().catch(() => undefined);
    }
  })();
  done.catch(() => undefined);
  return { done, stop: () => void session.end().catch(() => undefined) };
}

/**
 * Copies the work items with `jobs` workers. As soon as a table's last item commits, its indexes
 * start building (`tableDone`) and one extra target session digests it for the verification; both
 * overlap the copy of the other tables.
 */
async function copyData(
  options: CopyOptions,
  snapshot: string,
  searchPath: string,
  items: WorkItem[],
  digests: Digests,
  binary: boolean,
  tableDone: (table: string) => void,
): Promise<CopyDataResult> {
  const workers: { source: Client; target: Client }[] = [];
  let targetDigester: Client | undefined;
  let targetDigests: Promise<void> = Promise.resolve();
  let rows = 0;
  let bytes = 0;
  const remaining = new Map<string, number>();
  for (const item of items) remaining.set(item.table.name, (remaining.get(item.table.name) ?? 0) + 1);
  try {
    for (let i = 0; i < Math.min(options.jobs, items.length); i++) {
      const source = await open(options.sourceUrl, 'source');
      await source.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      const target = await open(options.targetUrl, 'target');
      // Safe: each item's rows and its "copied" mark commit together, so a lost commit loses both.
      // The source's search_path: a CHECK constraint's function runs on each row loaded (schema.ts underSearchPath).
      await target.query(`SET synchronous_commit = off; SELECT pg_catalog.set_config('search_path', ${quoteLiteral(searchPath)}, false)`);
      workers.push({ source, target });
    }
    targetDigester = await open(options.targetUrl, 'target');
    const targetSide = targetDigester;
    const copies = forEachLimit(items, options.jobs, async (item, worker) => {
      const started = Date.now();
      const format = binary && item.table.binaryCopy ? 'binary' : 'text';
      const done = await copyItem(workers[worker].source, workers[worker].target, item, format === 'binary');
      rows += done.rows;
      bytes += done.bytes;
      log('table_copied', { table: item.mark, format, rows: done.rows, bytes: done.bytes, seconds: (Date.now() - started) / 1000 });
      const left = remaining.get(item.table.name)! - 1;
      remaining.set(item.table.name, left);
      if (left === 0) {
        tableDone(item.table.name);
        targetDigests = targetDigests.then(async () => {
          try {
            digests.target.set(item.table.name, await dataDigest(targetSide, item.table, digests.rowHashes.get(item.table.name)!));
          } catch (err) {
            throw new StepFailed(`the target digest of ${item.table.name}`, err);
          }
        });
        // Awaited once the copies are done; until then a failure (a dropped target session) must
        // wait for that await, not end the process as an unhandled rejection.
        targetDigests.catch(() => undefined);
      }
    });
    await copies;
    const pending = targetDigests.finally(() => targetSide.end().catch(() => undefined));
    // It may reject while the workers' sessions close below, before the caller holds it.
    pending.catch(() => undefined);
    targetDigester = undefined;
    return { rows, bytes, targetDigests: pending };
  } finally {
    const clients = workers.flatMap((w) => [w.source, w.target]);
    if (targetDigester) clients.push(targetDigester);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Schema without indexes and constraints, then every table in parallel under one exported source
 * snapshot, each table's indexes and keys as soon as its data is in, then the rest of the
 * post-data section (foreign keys, triggers…), then sequences, then verification. Each step commits
 * with its mark in the target's state, so a rerun after any interruption continues where it stopped.
 */
export async function runCopy(options: CopyOptions): Promise<CopyResult> {
  const started = Date.now();
  const sourceName = describeUrl(options.sourceUrl);
  const source = await open(options.sourceUrl, 'source');
  let target: Client | undefined;
  let sourceDigests: Awaited<ReturnType<typeof digestSource>> | undefined;
  let builds: IndexBuilds | undefined;
  try {
    target = await open(options.targetUrl, 'target');
    const [si, ti] = await Promise.all([serverInfo(source), serverInfo(target)]);
    checkVersions(si, ti);
    await checkRowSecurity(source, si.user);
    const extensions = await checkExtensionVersions(source, target);
    await lockTarget(target);
    let state = await checkTarget(target, 'copy', sourceName, describeUrl(options.targetUrl));
    if (state) log('resuming', { phase: state.phase });
    else state = await createState(target, 'copy', sourceName);

    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await source.query('SELECT pg_export_snapshot() AS s')).rows[0].s as string;
    const shapes = await tableShapes(source);
    if (reached(state, 'pre-data')) checkSourceUnchanged(await savedShapes(target), shapes);
    else await saveShapes(target, shapes);
    // Both sections are dumped from the moment the snapshot exists: the pg_dump runs overlap the
    // catalog reads below, and post-data's the schema and the copy too.
    const searchPath = await sourceSearchPath(source);
    const preData = reached(state, 'pre-data')
      ? undefined
      : dumpSection(options.sourceUrl, 'pre-data', searchPath, snapshot).then((sql) => atSourceVersions(sql, extensions));
    preData?.catch(() => undefined);
    const postData = reached(state, 'post-data')
      ? undefined
      : dumpSection(options.sourceUrl, 'post-data', searchPath, snapshot).then((sql) => planPostData(source, sql));
    postData?.catch(() => undefined);
    const tables = await listTables(source);
    warnMissingPrimaryKeys(tables);
    await warnDatabaseSettings(source);
    const digests: Digests = { rowHashes: new Map(), source: new Map(), target: new Map() };
    for (const table of tables) digests.rowHashes.set(table.name, await rowHash(source, table, si.major));
    sourceDigests = await digestSource(options.sourceUrl, snapshot, tables, digests);

    if (preData) {
      await applySection(target, await preData, 'pre-data', options.maintenanceWorkMem);
      log('schema_created', { section: 'pre-data', tables: tables.length });
    }
    let rows = 0;
    let bytes = 0;
    let targetDigests: Promise<void> = Promise.resolve();
    if (postData) builds = startIndexBuilds(options.targetUrl, options.jobs, postData, await indexedTables(target), options.maintenanceWorkMem);
    const tableDone = (table: string) => builds?.schedule(table);
    if (!reached(state, 'data')) {
      const todo = await workItems(source, target, tables, options);
      const copying = new Set(todo.map((item) => item.table.name));
      for (const table of tables) if (!copying.has(table.name)) tableDone(table.name);
      // Binary COPY formats of built-in types are only promised within one major version.
      const copied = await copyData(options, snapshot, searchPath, todo, digests, si.major === ti.major, tableDone);
      ({ rows, bytes } = copied);
      targetDigests = copied.targetDigests;
      if (!(await copiedTables(target)).has(LARGE_OBJECTS)) {
        const t0 = Date.now();
        try {
          await target.query('BEGIN');
          const lo = await copyLargeObjects(source, target);
          await markTableCopied(target, LARGE_OBJECTS, lo.objects, lo.bytes);
          await target.query('COMMIT');
          if (lo.objects) log('table_copied', { table: LARGE_OBJECTS, rows: lo.objects, bytes: lo.bytes, seconds: (Date.now() - t0) / 1000 });
        } catch (err) {
          await target.query('ROLLBACK').catch(() => undefined);
          throw err instanceof UsageError ? err : new StepFailed(`copying ${LARGE_OBJECTS}`, err);
        }
      }
      await setPhase(target, 'data');
    }
    if (postData && builds) {
      for (const table of tables) tableDone(table.name);
      await builds.finish();
      const t0 = Date.now();
      const plan = await postData;
      await applySection(target, `${plan.preamble}\n${plan.rest}`, 'post-data', options.maintenanceWorkMem);
      log('schema_created', { section: 'post-data', seconds: (Date.now() - t0) / 1000 });
    }
    if (!reached(state, 'sequences')) {
      const sequences = await listSequences(source);
      const values = await readSequences(source, sequences);
      await target.query('BEGIN');
      await writeSequences(target, sequences, values);
      await setPhase(target, 'sequences');
      await target.query('COMMIT');
      log('sequences_set', { count: sequences.length });
    }
    await Promise.all([sourceDigests.done, targetDigests]);
    const report = await verify({ sourceUrl: options.sourceUrl, targetUrl: options.targetUrl, jobs: options.jobs, snapshot, precomputed: digests, rowHashes: digests.rowHashes });
    // The verification compares with the snapshot, which holds no table made or altered since:
    // the source as it is now must have the same tables, or what the copy did not see is lost.
    const now = await open(options.sourceUrl, 'source');
    const changed = await tableShapes(now).finally(() => now.end().catch(() => undefined));
    for (const c of shapeChanges(shapes, changed)) {
      const problem = `${c.change === 'new' ? 'created' : c.change === 'dropped' ? 'dropped' : 'altered'} on the source during the copy (after its snapshot): not what the target holds; start over on a fresh target with the writers stopped`;
      const check = report.tables.find((t) => t.table === c.table);
      if (check) Object.assign(check, { ok: false, problem });
      else report.tables.push({ table: c.table, primaryKey: false, ok: false, problem });
      report.ok = false;
    }
    report.tables.sort((a, b) => a.table.localeCompare(b.table));
    if (report.ok) await dropState(target);
    return { report, rows, bytes, seconds: (Date.now() - started) / 1000 };
  } finally {
    sourceDigests?.stop();
    builds?.stop();
    await Promise.all([source.end().catch(() => undefined), target?.end().catch(() => undefined)]);
  }
}
