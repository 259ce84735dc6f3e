import type { Client } from 'pg';
import { open } from './db';
import { MoveError } from './errors';
import { log } from './log';
import { markTableIndexed } from './state';

/**
 * pg_dump's post-data section, split so that a table's indexes are built as soon as its data is
 * in, while other tables still copy (as pgcopydb does), instead of every index after every table.
 */
export interface PostDataPlan {
  /** The section's session settings (empty search_path…), run before each part. */
  preamble: string;
  /** Per table (schema.table): its indexes and its primary key, unique and exclusion constraints. */
  byTable: Map<string, string>;
  /** Everything else in dump order, after every table's part: foreign keys (they need the referenced keys), triggers, rules, partitions' indexes and their ATTACH. */
  rest: string;
}

/** pg_dump's header of each archive entry in a plain script (unchanged since PostgreSQL 9). */
const HEADER = /^-- Name: (.+); Type: ([^;]+); Schema: ([^;]*); Owner: /;

/**
 * Which table each INDEX and CONSTRAINT entry belongs to, keyed as pg_dump names the entry
 * (`type|schema|tag`). Only plain tables that are not partitions: a partition's index must wait
 * for its parent's (it is attached to it), so those stay in `rest`. A tag that two tables could
 * produce (names with spaces) is left out too: unsure means `rest`, which is always correct.
 */
async function entryTables(source: Client): Promise<Map<string, string>> {
  const { rows } = await source.query(`
    SELECT 'INDEX|' || n.nspname || '|' || c.relname AS key, tn.nspname || '.' || t.relname AS table_name
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    WHERE t.relkind = 'r' AND NOT t.relispartition
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x'))
    UNION ALL
    SELECT 'CONSTRAINT|' || n.nspname || '|' || t.relname || ' ' || k.conname, n.nspname || '.' || t.relname
    FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE k.contype IN ('p', 'u', 'x') AND t.relkind = 'r' AND NOT t.relispartition`);
  const tables = new Map<string, string>();
  const ambiguous = new Set<string>();
  for (const r of rows) {
    if (tables.has(r.key) && tables.get(r.key) !== r.table_name) ambiguous.add(r.key);
    tables.set(r.key, r.table_name);
  }
  for (const key of ambiguous) tables.delete(key);
  return tables;
}

export async function planPostData(source: Client, sql: string): Promise<PostDataPlan> {
  const owners = await entryTables(source);
  const preamble: string[] = [];
  const entries: { table?: string; lines: string[] }[] = [];
  for (const line of sql.split('\n')) {
    const header = HEADER.exec(line);
    if (header) entries.push({ table: owners.get(`${header[2]}|${header[3]}|${header[1]}`), lines: [] });
    (entries.length ? entries[entries.length - 1].lines : preamble).push(line);
  }
  const byTable = new Map<string, string>();
  const rest: string[] = [];
  for (const entry of entries) {
    if (entry.table) byTable.set(entry.table, `${byTable.get(entry.table) ?? ''}${entry.lines.join('\n')}\n`);
    else rest.push(entry.lines.join('\n'));
  }
  return { preamble: preamble.join('\n'), byTable, rest: rest.join('\n') };
}

/**
 * One table's part, in one transaction with its mark: a rerun finds the table's indexes complete
 * and marked, or absent.
 */
async function buildTable(target: Client, plan: PostDataPlan, table: string, maintenanceWorkMem: string): Promise<void> {
  try {
    await target.query('BEGIN');
    await target.query(`SET LOCAL maintenance_work_mem = '${maintenanceWorkMem.replace(/'/g, '')}'`);
    await target.query(`${plan.preamble}\n${plan.byTable.get(table)}`);
    await markTableIndexed(target, table);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new MoveError(`building the indexes of ${table} on the target failed: ${(err as Error).message}`);
  } finally {
    await target.query('RESET search_path').catch(() => undefined);
  }
}

export interface IndexBuilds {
  /** Queues the table's part once the plan is known (a table without one, or already built, is skipped). */
  schedule(table: string): void;
  /** Waits for every scheduled build; the first failure rejects. Closes the sessions. */
  finish(): Promise<void>;
  /** Closes the sessions at once (the copy failed). */
  stop(): void;
}

/** At most `jobs` builds at once, each in its own target session. */
export function startIndexBuilds(targetUrl: string, jobs: number, plan: Promise<PostDataPlan>, built: Set<string>, maintenanceWorkMem: string): IndexBuilds {
  const sessions: Client[] = [];
  const idle: Client[] = [];
  const queue: string[] = [];
  let running = 0;
  /** Tables scheduled whose plan has not been looked at yet: finish() waits for them too. */
  let deciding = 0;
  let failure: unknown;
  let drained: (() => void) | undefined;
  const settle = () => {
    if (running === 0 && deciding === 0 && (failure || queue.length === 0)) drained?.();
  };
  const pump = () => {
    while (!failure && running < jobs && queue.length) {
      const table = queue.shift()!;
      running++;
      (async () => {
        const resolved = await plan;
        let session = idle.pop();
        if (!session) {
          session = await open(targetUrl, 'target');
          sessions.push(session);
        }
        const started = Date.now();
        await buildTable(session, resolved, table, maintenanceWorkMem);
        idle.push(session);
        log('indexes_built', { table, seconds: (Date.now() - started) / 1000 });
      })()
        .catch((err) => {
          failure ??= err;
        })
        .finally(() => {
          running--;
          pump();
          settle();
        });
    }
  };
  const close = () => Promise.all(sessions.map((s) => s.end().catch(() => undefined)));
  return {
    schedule(table) {
      if (built.has(table)) return;
      built.add(table);
      deciding++;
      plan
        .then(
          (resolved) => {
            if (resolved.byTable.has(table)) queue.push(table);
          },
          () => undefined,
        )
        .finally(() => {
          deciding--;
          pump();
          settle();
        });
    },
    async finish() {
      try {
        await plan;
        await new Promise<void>((resolve) => {
          drained = resolve;
          settle();
        });
        if (failure) throw failure;
      } finally {
        await close();
      }
    },
    stop() {
      void close();
    },
  };
}
