import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { listSequences, listTables, serverInfo, type TableInfo } from './catalog';
import { describeUrl, forEachLimit, open, quoteIdent, quoteLiteral } from './db';
import { MoveError } from './errors';
import { log } from './log';
import { checkTarget, checkVersions, warnMissingPrimaryKeys } from './preflight';
import { applySection, dumpSection } from './schema';
import { readSequences, writeSequences } from './sequences';
import { copiedTables, createState, dropState, markTableCopied, reached, setPhase } from './state';
import { dataDigest, verify, type DataDigest, type VerifyReport } from './verify';

export interface CopyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs: number;
  maintenanceWorkMem: string;
}

export interface CopyResult {
  report: VerifyReport;
  rows: number;
  bytes: number;
  seconds: number;
}

/**
 * One table, in one target transaction: TRUNCATE, COPY … FREEZE, mark as copied, COMMIT.
 * If the process dies mid-stream the transaction never commits, so a rerun finds the table empty
 * and unmarked, and copies it again: no duplicate, no missing row. FREEZE (allowed because the
 * table was truncated in this transaction) spares the target the hint-bit rewrite of every page
 * on first read.
 */
async function copyTable(source: Client, target: Client, table: TableInfo): Promise<{ rows: number; bytes: number }> {
  const columns = table.copyColumns.map(quoteIdent).join(', ');
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await target.query(`BEGIN; TRUNCATE ONLY ${table.sql}`);
    const into = target.query(copyFrom(`COPY ${table.sql} (${columns}) FROM STDIN WITH (FREEZE)`));
    const out = source.query(copyTo(`COPY ${table.sql} (${columns}) TO STDOUT`));
    await pipeline(out, counter, into);
    await markTableCopied(target, table.name, into.rowCount, bytes);
    await target.query('COMMIT');
    return { rows: into.rowCount, bytes };
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new MoveError(`copying table ${table.name} failed: ${(err as Error).message}`);
  }
}

interface Digests {
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
 * Copies the tables with `jobs` workers. Verification work overlaps the copy: one extra source
 * session digests the source tables under the same snapshot while the copy streams (COPY TO
 * leaves the source mostly idle), and one extra target session digests each table as soon as it
 * commits, which runs on through the post-data index builds.
 */
async function copyData(options: CopyOptions, snapshot: string, tables: TableInfo[], digests: Digests): Promise<CopyDataResult> {
  const workers: { source: Client; target: Client }[] = [];
  let sourceDigester: Client | undefined;
  let targetDigester: Client | undefined;
  let targetDigests: Promise<void> = Promise.resolve();
  let rows = 0;
  let bytes = 0;
  try {
    for (let i = 0; i < Math.min(options.jobs, tables.length); i++) {
      const source = await open(options.sourceUrl, 'source');
      await source.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
      const target = await open(options.targetUrl, 'target');
      // Safe: each table's rows and its "copied" mark commit together, so a lost commit loses both.
      await target.query('SET synchronous_commit = off');
      workers.push({ source, target });
    }
    sourceDigester = await open(options.sourceUrl, 'source');
    await sourceDigester.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
    targetDigester = await open(options.targetUrl, 'target');
    const sourceSide = sourceDigester;
    const targetSide = targetDigester;
    const sourceDigests = forEachLimit(tables, 1, async (table) => {
      digests.source.set(table.name, await dataDigest(sourceSide, table));
    });
    const copies = forEachLimit(tables, options.jobs, async (table, worker) => {
      const started = Date.now();
      const done = await copyTable(workers[worker].source, workers[worker].target, table);
      rows += done.rows;
      bytes += done.bytes;
      log('table_copied', { table: table.name, rows: done.rows, bytes: done.bytes, seconds: (Date.now() - started) / 1000 });
      targetDigests = targetDigests.then(async () => {
        digests.target.set(table.name, await dataDigest(targetSide, table));
      });
    });
    const [copied, digested] = await Promise.allSettled([copies, sourceDigests]);
    if (copied.status === 'rejected') throw copied.reason;
    if (digested.status === 'rejected') throw digested.reason;
    const pending = targetDigests.finally(() => targetSide.end().catch(() => undefined));
    targetDigester = undefined;
    return { rows, bytes, targetDigests: pending };
  } finally {
    const clients = [...workers.flatMap((w) => [w.source, w.target]), ...(sourceDigester ? [sourceDigester] : [])];
    if (targetDigester) clients.push(targetDigester);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  }
}

/**
 * Schema without indexes and constraints, then every table in parallel under one exported source
 * snapshot, then indexes and constraints, then sequences, then verification. Each phase commits
 * with its mark in the target's state, so a rerun after any interruption continues where it stopped.
 */
export async function runCopy(options: CopyOptions): Promise<CopyResult> {
  const started = Date.now();
  const sourceName = describeUrl(options.sourceUrl);
  const source = await open(options.sourceUrl, 'source');
  let target: Client | undefined;
  try {
    target = await open(options.targetUrl, 'target');
    const [si, ti] = await Promise.all([serverInfo(source), serverInfo(target)]);
    checkVersions(si, ti);
    let state = await checkTarget(target, 'copy', sourceName, describeUrl(options.targetUrl));
    if (state) log('resuming', { phase: state.phase });
    else state = await createState(target, 'copy', sourceName);

    await source.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await source.query('SELECT pg_export_snapshot() AS s')).rows[0].s as string;
    const tables = await listTables(source);
    warnMissingPrimaryKeys(tables);

    if (!reached(state, 'pre-data')) {
      await applySection(target, await dumpSection(options.sourceUrl, 'pre-data', snapshot), 'pre-data', options.maintenanceWorkMem);
      log('schema_created', { section: 'pre-data', tables: tables.length });
    }
    let rows = 0;
    let bytes = 0;
    const digests: Digests = { source: new Map(), target: new Map() };
    let targetDigests: Promise<void> = Promise.resolve();
    if (!reached(state, 'data')) {
      const done = await copiedTables(target);
      const todo = tables.filter((t) => !done.has(t.name));
      if (done.size) log('tables_already_copied', { count: done.size, remaining: todo.length });
      const copied = await copyData(options, snapshot, todo, digests);
      ({ rows, bytes } = copied);
      targetDigests = copied.targetDigests;
      targetDigests.catch(() => undefined);
      await setPhase(target, 'data');
    }
    if (!reached(state, 'post-data')) {
      const t0 = Date.now();
      await applySection(target, await dumpSection(options.sourceUrl, 'post-data', snapshot), 'post-data', options.maintenanceWorkMem);
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
    await targetDigests;
    const report = await verify({ sourceUrl: options.sourceUrl, targetUrl: options.targetUrl, jobs: options.jobs, snapshot, precomputed: digests });
    if (report.ok) await dropState(target);
    return { report, rows, bytes, seconds: (Date.now() - started) / 1000 };
  } finally {
    await Promise.all([source.end().catch(() => undefined), target?.end().catch(() => undefined)]);
  }
}
