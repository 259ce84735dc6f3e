import type { Client } from 'pg';
import { listSequences, listTables, type TableInfo } from './catalog';
import { forEachLimit, open, quoteLiteral } from './db';
import { log } from './log';
import { readSequences, type SequenceValue } from './sequences';

/**
 * What one side says about a table. The checksum is the sum of 64-bit per-row hashes
 * (hashtextextended of the row's text), computed in SQL: memory stays O(1), it
 * needs no sort and no index, and it is a multiset digest, so it is just as exact for tables
 * without a primary key (duplicate rows count twice). Sessions on both sides pin TimeZone,
 * DateStyle, extra_float_digits and bytea_output so the row text is canonical.
 */
export interface TableDigest {
  rows: string;
  checksum: string;
  indexes: number;
  constraints: number;
}

export interface TableCheck {
  table: string;
  source?: TableDigest;
  target?: TableDigest;
  primaryKey: boolean;
  ok: boolean;
  problem?: string;
}

export interface SequenceCheck {
  sequence: string;
  source?: SequenceValue;
  target?: SequenceValue;
  ok: boolean;
}

export interface VerifyReport {
  tables: TableCheck[];
  sequences: SequenceCheck[];
  ok: boolean;
  seconds: number;
}

/** Row count and checksum: the expensive part, done per table (overlapped with the copy in copy mode). */
export interface DataDigest {
  rows: string;
  checksum: string;
}

export async function dataDigest(client: Client, table: Pick<TableInfo, 'sql'>): Promise<DataDigest> {
  const { rows } = await client.query(
    `SELECT count(*)::text AS rows, coalesce(sum(hashtextextended(t::text, 0)), 0)::text AS checksum FROM ONLY ${table.sql} t`,
  );
  return rows[0];
}

async function tableDigest(client: Client, table: TableInfo, data?: DataDigest): Promise<TableDigest> {
  const { rows } = await client.query(`
    SELECT (SELECT count(*) FROM pg_index WHERE indrelid = ${quoteLiteral(table.sql)}::regclass)::int AS indexes,
      (SELECT count(*) FROM pg_constraint WHERE conrelid = ${quoteLiteral(table.sql)}::regclass)::int AS constraints`);
  return { ...(data ?? (await dataDigest(client, table))), ...rows[0] };
}

function compare(table: string, primaryKey: boolean, source?: TableDigest, target?: TableDigest): TableCheck {
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
            : undefined;
  return { table, source, target, primaryKey, ok: !problem, problem };
}

export interface VerifyOptions {
  sourceUrl: string;
  targetUrl: string;
  jobs: number;
  /** Exported source snapshot to verify against (the one the copy used); a fresh one otherwise. */
  snapshot?: string;
  /** Data digests already taken (by the copy, under the same snapshot), by table name. */
  precomputed?: { source: Map<string, DataDigest>; target: Map<string, DataDigest> };
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
      targets.push(await open(options.targetUrl, 'target'));
    }
    const [sourceTables, targetTables] = await Promise.all([listTables(sources[0]), listTables(targets[0])]);
    const targetByName = new Map(targetTables.map((t) => [t.name, t]));
    const checks: TableCheck[] = [];
    await forEachLimit(sourceTables, jobs, async (table, worker) => {
      const onTarget = targetByName.get(table.name);
      const [s, t] = await Promise.all([
        tableDigest(sources[worker], table, options.precomputed?.source.get(table.name)),
        onTarget ? tableDigest(targets[worker], onTarget, options.precomputed?.target.get(table.name)) : Promise.resolve(undefined),
      ]);
      const check = compare(table.name, table.primaryKey.length > 0, s, t);
      if (!check.primaryKey) log('verify_without_primary_key', { table: table.name, checksum: 'order-independent row-hash sum' }, 'warn');
      checks.push(check);
    });
    const sourceNames = new Set(sourceTables.map((t) => t.name));
    for (const extra of targetTables.filter((t) => !sourceNames.has(t.name))) {
      checks.push(compare(extra.name, extra.primaryKey.length > 0, undefined, await tableDigest(targets[0], extra)));
    }
    checks.sort((a, b) => a.table.localeCompare(b.table));

    const [sourceSeqs, targetSeqs] = await Promise.all([listSequences(sources[0]), listSequences(targets[0])]);
    const sourceValues = await readSequences(sources[0], sourceSeqs);
    const targetValues = new Map((await readSequences(targets[0], targetSeqs)).map((v) => [v.name, v]));
    const sequences: SequenceCheck[] = sourceValues.map((sv) => {
      const tv = targetValues.get(sv.name);
      return { sequence: sv.name, source: sv, target: tv, ok: !!tv && tv.lastValue === sv.lastValue && tv.isCalled === sv.isCalled };
    });
    const ok = checks.every((c) => c.ok) && sequences.every((s) => s.ok);
    return { tables: checks, sequences, ok, seconds: (Date.now() - started) / 1000 };
  } finally {
    await Promise.all([...sources, ...targets, ...(holder ? [holder] : [])].map((c) => c.end().catch(() => undefined)));
  }
}

/** Human-readable report for stdout; the JSON log carries the same facts. */
export function formatReport(report: VerifyReport): string {
  const lines: string[] = [];
  const width = Math.max(5, ...report.tables.map((t) => t.table.length));
  lines.push(`${'table'.padEnd(width)}  ${'rows source'.padStart(12)}  ${'rows target'.padStart(12)}  result`);
  for (const t of report.tables) {
    const note = t.primaryKey ? '' : ' (no primary key: order-independent checksum)';
    lines.push(
      `${t.table.padEnd(width)}  ${(t.source?.rows ?? '-').padStart(12)}  ${(t.target?.rows ?? '-').padStart(12)}  ${t.ok ? 'ok' : `MISMATCH: ${t.problem}`}${note}`,
    );
  }
  for (const s of report.sequences) {
    const show = (v?: SequenceValue) => (v ? `${v.lastValue}${v.isCalled ? '' : ' (not called)'}` : '-');
    lines.push(`sequence ${s.sequence}: source ${show(s.source)}, target ${show(s.target)}  ${s.ok ? 'ok' : 'MISMATCH'}`);
  }
  const bad = [...report.tables.filter((t) => !t.ok).map((t) => t.table), ...report.sequences.filter((s) => !s.ok).map((s) => s.sequence)];
  lines.push(
    report.ok
      ? `verification OK: ${report.tables.length} tables, ${report.sequences.length} sequences (${report.seconds.toFixed(1)} s)`
      : `verification FAILED: mismatch in ${bad.join(', ')}`,
  );
  return lines.join('\n');
}
