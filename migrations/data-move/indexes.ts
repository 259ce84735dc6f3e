import type { Client } from 'pg';
import { open, qualifiedName } from './db';
import { raiseMaintenanceWorkMem } from './schema';
import { schemaStepFailure } from './errors';
import { log } from './log';
import { markTableIndexed } from './state';

/**
 * pg_dump's post-data section, split so that a table's indexes are built as soon as its data is
 * in, while other tables still copy (as pgcopydb does), instead of every index after every table,
 * and a foreign key as soon as both its tables' parts are in.
 */
export interface PostDataPlan {
  /** The section's session settings (empty search_path…), run before each part. */
  preamble: string;
  /**
   * Parts built on their own, each with its mark: per table (db.ts qualifiedName), its indexes and its
   * primary key, unique and exclusion constraints; per foreign key between two such tables
   * (the table's qualified name, a space and the constraint's name, as pg_dump tags it), the constraint.
   */
  byTable: Map<string, string>;
  /** A foreign key's part: the tables whose data and parts it waits for (its own and the referenced one). */
  waitsFor: Map<string, string[]>;
  /** Everything else in dump order, after every part: triggers, rules, foreign keys of partitioned tables, partitions' indexes and their ATTACH. */
  rest: string;
}

/** pg_dump's header of each archive entry in a plain script (unchanged since PostgreSQL 9). */
const HEADER = /^-- Name: (.+); Type: ([^;]+); Schema: ([^;]*); Owner: /;

/**
 * Which part each INDEX, CONSTRAINT and FK CONSTRAINT entry belongs to, keyed as pg_dump names the
 * entry (`type|schema|tag`): its table's, or for a foreign key its own, waiting for its two
 * tables. Only plain tables that are not partitions: a partition's index must wait for its
 * parent's (it is attached to it), so those stay in `rest`. A tag that two tables could produce
 * (names with spaces) is left out too, and so is a foreign key touching such a table (its
 * referenced key may be in `rest`): unsure means `rest`, which is always correct.
 */
async function entryParts(source: Client): Promise<Map<string, { part: string; waitsFor?: string[] }>> {
  const { rows } = await source.query(`
    SELECT 'INDEX|' || n.nspname || '|' || c.relname AS key, tn.nspname AS schema, t.relname AS table
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    WHERE t.relkind = 'r' AND NOT t.relispartition
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x'))
    UNION ALL
    SELECT 'CONSTRAINT|' || n.nspname || '|' || t.relname || ' ' || k.conname, n.nspname, t.relname
    FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE k.contype IN ('p', 'u', 'x') AND t.relkind = 'r' AND NOT t.relispartition`);
  const { rows: foreignKeys } = await source.query(`
    SELECT 'FK CONSTRAINT|' || n.nspname || '|' || t.relname || ' ' || k.conname AS key, k.conname AS constraint,
      n.nspname AS schema, t.relname AS table, rn.nspname AS referenced_schema, r.relname AS referenced_table
    FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
    JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
    WHERE k.contype = 'f' AND t.relkind = 'r' AND NOT t.relispartition AND r.relkind = 'r' AND NOT r.relispartition`);
  const parts = new Map<string, { part: string; waitsFor?: string[] }>();
  const ambiguous = new Set<string>();
  const unsure = new Set<string>();
  for (const r of rows) {
    const table = qualifiedName(r.schema, r.table);
    const seen = parts.get(r.key);
    if (seen && seen.part !== table) {
      ambiguous.add(r.key);
      unsure.add(seen.part).add(table);
    }
    parts.set(r.key, { part: table });
  }
  for (const r of foreignKeys) {
    if (parts.has(r.key)) ambiguous.add(r.key);
    const table = qualifiedName(r.schema, r.table);
    parts.set(r.key, { part: `${table} ${r.constraint}`, waitsFor: [table, qualifiedName(r.referenced_schema, r.referenced_table)] });
  }
  for (const [key, owner] of parts) if (owner.waitsFor?.some((t) => unsure.has(t))) ambiguous.add(key);
  for (const key of ambiguous) parts.delete(key);
  return parts;
}

export async function planPostData(source: Client, sql: string): Promise<PostDataPlan> {
  const owners = await entryParts(source);
  const preamble: string[] = [];
  const entries: { owner?: { part: string; waitsFor?: string[] }; lines: string[] }[] = [];
  for (const line of sql.split('\n')) {
    const header = HEADER.exec(line);
    if (header) entries.push({ owner: owners.get(`${header[2]}|${header[3]}|${header[1]}`), lines: [] });
    (entries.length ? entries[entries.length - 1].lines : preamble).push(line);
  }
  const byTable = new Map<string, string>();
  const waitsFor = new Map<string, string[]>();
  const rest: string[] = [];
  for (const { owner, lines } of entries) {
    if (!owner) {
      rest.push(lines.join('\n'));
      continue;
    }
    byTable.set(owner.part, `${byTable.get(owner.part) ?? ''}${lines.join('\n')}\n`);
    if (owner.waitsFor) waitsFor.set(owner.part, owner.waitsFor);
  }
  return { preamble: preamble.join('\n'), byTable, waitsFor, rest: rest.join('\n') };
}

/**
 * One part, in one transaction with its mark: a rerun finds a table's indexes and keys, or a
 * foreign key, complete and marked, or absent.
 */
async function buildTable(target: Client, plan: PostDataPlan, table: string, maintenanceWorkMem: string): Promise<void> {
  try {
    await target.query('BEGIN');
    await raiseMaintenanceWorkMem(target, maintenanceWorkMem);
    await target.query(`${plan.preamble}\n${plan.byTable.get(table)}`);
    await markTableIndexed(target, table);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw schemaStepFailure(`building the indexes or keys of ${table}`, err);
  } finally {
    await target.query('RESET search_path').catch(() => undefined);
  }
}

export interface IndexBuilds {
  /**
   * Queues the table's part once the plan is known (a table without one, or already built, is
   * skipped), then each foreign key whose two tables' parts are in.
   */
  schedule(table: string): void;
  /** Waits for every scheduled build; the first failure rejects. Closes the sessions. */
  finish(): Promise<void>;
  /** Closes the sessions at once (the copy failed). */
  stop(): void;
}

/** At most `jobs` builds at once, each in its own target session; `built` holds the parts marked by an earlier run. */
export function startIndexBuilds(targetUrl: string, jobs: number, plan: Promise<PostDataPlan>, built: Set<string>, maintenanceWorkMem: string): IndexBuilds {
  const sessions: Client[] = [];
  const idle: Client[] = [];
  const queue: string[] = [];
  const scheduled = new Set<string>();
  /** Tables whose data and part are in (built now or earlier, or nothing to build). */
  const done = new Set<string>();
  const complete = (table: string, resolved: PostDataPlan) => {
    done.add(table);
    for (const [part, tables] of resolved.waitsFor) {
      if (scheduled.has(part) || !tables.every((t) => done.has(t))) continue;
      scheduled.add(part);
      if (!built.has(part)) queue.push(part);
    }
  };
  let running = 0;
  /**
   * The run failed and stop() closed the sessions: a build in flight then would hand its session
   * back, or open one, after they were closed, and that open socket kept the process from exiting
   * after its failure line (an ECS task that never stops).
   */
  let stopped = false;
  /** Tables scheduled whose plan has not been looked at yet: finish() waits for them too. */
  let deciding = 0;
  let failure: unknown;
  let drained: (() => void) | undefined;
  const settle = () => {
    if (running === 0 && deciding === 0 && (failure || queue.length === 0)) drained?.();
  };
  const pump = () => {
    while (!failure && !stopped && running < jobs && queue.length) {
      const table = queue.shift()!;
      running++;
      (async () => {
        const resolved = await plan;
        let session = idle.pop();
        if (!session) {
          session = await open(targetUrl, 'target');
          if (stopped) return void (await session.end().catch(() => undefined));
          sessions.push(session);
        }
        const started = Date.now();
        await buildTable(session, resolved, table, maintenanceWorkMem);
        if (stopped) return void (await session.end().catch(() => undefined));
        idle.push(session);
        log('indexes_built', { table, seconds: (Date.now() - started) / 1000 });
        complete(table, resolved);
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
      if (scheduled.has(table)) return;
      scheduled.add(table);
      deciding++;
      plan
        .then(
          (resolved) => {
            if (resolved.byTable.has(table) && !built.has(table)) queue.push(table);
            else complete(table, resolved);
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
      stopped = true;
      void close();
    },
  };
}
