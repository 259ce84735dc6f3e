import type { Client } from 'pg';
import { STATE_SCHEMA } from './catalog';
import { open, quoteLiteral } from './db';

/**
 * Progress of a run, kept on the TARGET (the source is never written): a phase, the set of
 * tables (or key ranges) whose data committed and the set of tables whose indexes did. Each step
 * commits its own progress in the same transaction as its work, so an interrupted run leaves
 * either the step's work and its mark, or neither.
 */
export type Phase = 'started' | 'pre-data' | 'data' | 'post-data' | 'sequences' | 'subscribed' | 'replicating';
export type Mode = 'copy' | 'replicate';

export interface RunState {
  mode: Mode;
  source: string;
  phase: Phase;
}

const COPY_ORDER: Phase[] = ['started', 'pre-data', 'data', 'post-data', 'sequences'];
const REPLICATE_ORDER: Phase[] = ['started', 'pre-data', 'post-data', 'subscribed', 'replicating'];

/** Whether `state` has gone past `phase` (i.e. `phase` is done). */
export function reached(state: RunState, phase: Phase): boolean {
  const order = state.mode === 'copy' ? COPY_ORDER : REPLICATE_ORDER;
  return order.indexOf(state.phase) >= order.indexOf(phase);
}

export async function readState(target: Client): Promise<RunState | null> {
  const { rows: exists } = await target.query(`SELECT to_regclass('${STATE_SCHEMA}.run') IS NOT NULL AS ok`);
  if (!exists[0].ok) return null;
  const { rows } = await target.query(`SELECT mode, source, phase FROM ${STATE_SCHEMA}.run`);
  return rows[0] ?? null;
}

/** The state of a run that has not ended on the target at `targetUrl`, or null. */
export async function unfinishedRun(targetUrl: string): Promise<RunState | null> {
  const target = await open(targetUrl, 'target');
  try {
    return await readState(target);
  } finally {
    await target.end().catch(() => undefined);
  }
}

export async function createState(target: Client, mode: Mode, source: string): Promise<RunState> {
  await target.query(`BEGIN;
    CREATE SCHEMA ${STATE_SCHEMA};
    CREATE TABLE ${STATE_SCHEMA}.run (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
      mode text NOT NULL, source text NOT NULL, phase text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE ${STATE_SCHEMA}.copied_table (name text PRIMARY KEY, rows bigint NOT NULL, bytes bigint NOT NULL,
      copied_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE ${STATE_SCHEMA}.indexed_table (name text PRIMARY KEY, indexed_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE ${STATE_SCHEMA}.chunk (table_name text NOT NULL, chunk int NOT NULL, lower_key bigint, upper_key bigint,
      PRIMARY KEY (table_name, chunk));
    INSERT INTO ${STATE_SCHEMA}.run (mode, source, phase) VALUES (${quoteLiteral(mode)}, ${quoteLiteral(source)}, 'started');
    COMMIT`);
  return { mode, source, phase: 'started' };
}

/** Call inside the transaction that did the phase's work. */
export async function setPhase(client: Client, phase: Phase): Promise<void> {
  await client.query(`UPDATE ${STATE_SCHEMA}.run SET phase = $1, updated_at = now()`, [phase]);
}

/** Call inside the transaction that copied the table. */
export async function markTableCopied(client: Client, name: string, rows: number, bytes: number): Promise<void> {
  await client.query(`INSERT INTO ${STATE_SCHEMA}.copied_table (name, rows, bytes) VALUES ($1, $2, $3)`, [name, rows, bytes]);
}

export async function copiedTables(target: Client): Promise<Set<string>> {
  const { rows } = await target.query(`SELECT name FROM ${STATE_SCHEMA}.copied_table`);
  return new Set(rows.map((r) => r.name));
}

/** Call inside the transaction that built the table's indexes and keys. */
export async function markTableIndexed(client: Client, name: string): Promise<void> {
  await client.query(`INSERT INTO ${STATE_SCHEMA}.indexed_table (name) VALUES ($1)`, [name]);
}

export async function indexedTables(target: Client): Promise<Set<string>> {
  const { rows } = await target.query(`SELECT name FROM ${STATE_SCHEMA}.indexed_table`);
  return new Set(rows.map((r) => r.name));
}

const SHAPES_DDL = `CREATE TABLE IF NOT EXISTS ${STATE_SCHEMA}.source_table (name text PRIMARY KEY, columns text NOT NULL)`;

/** The source's tables as the run's schema was dumped (catalog.ts tableShapes), replacing any earlier record. */
export async function saveShapes(target: Client, shapes: Map<string, string>): Promise<void> {
  try {
    await target.query(`BEGIN; ${SHAPES_DDL}; DELETE FROM ${STATE_SCHEMA}.source_table`);
    await target.query(`INSERT INTO ${STATE_SCHEMA}.source_table SELECT * FROM unnest($1::text[], $2::text[])`, [[...shapes.keys()], [...shapes.values()]]);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The recorded shapes; null for a run begun by an earlier version, which recorded none. */
export async function savedShapes(target: Client): Promise<Map<string, string> | null> {
  const { rows: exists } = await target.query(`SELECT to_regclass('${STATE_SCHEMA}.source_table') IS NOT NULL AS ok`);
  if (!exists[0].ok) return null;
  const { rows } = await target.query(`SELECT name, columns FROM ${STATE_SCHEMA}.source_table`);
  return new Map(rows.map((r) => [r.name, r.columns]));
}

export async function dropState(target: Client): Promise<void> {
  await target.query(`DROP SCHEMA IF EXISTS ${STATE_SCHEMA} CASCADE`);
}

/** A key range [lower, upper) of a large table, copied in its own transaction; null = unbounded. */
export interface Chunk {
  index: number;
  lower: string | null;
  upper: string | null;
}

/**
 * Chunk plans are stored before the first chunk commits and reused by every rerun, so a resumed
 * copy splits the table exactly as the interrupted one did (ranges never overlap nor leave gaps:
 * the outer ones are open-ended).
 */
export async function chunkPlans(target: Client): Promise<Map<string, Chunk[]>> {
  const { rows } = await target.query(
    `SELECT table_name, chunk, lower_key::text AS lower, upper_key::text AS upper FROM ${STATE_SCHEMA}.chunk ORDER BY table_name, chunk`,
  );
  const plans = new Map<string, Chunk[]>();
  for (const r of rows) plans.set(r.table_name, [...(plans.get(r.table_name) ?? []), { index: r.chunk, lower: r.lower, upper: r.upper }]);
  return plans;
}

export async function saveChunkPlan(target: Client, table: string, chunks: Chunk[]): Promise<void> {
  for (const c of chunks) {
    await target.query(`INSERT INTO ${STATE_SCHEMA}.chunk (table_name, chunk, lower_key, upper_key) VALUES ($1, $2, $3, $4)`, [
      table,
      c.index,
      c.lower,
      c.upper,
    ]);
  }
}
