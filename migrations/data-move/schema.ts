import { spawn } from 'node:child_process';
import type { Client } from 'pg';
import { UsageError } from '../../core/cli';
import { quoteLiteral } from './db';
import { schemaStepFailure } from './errors';
import type { ExtensionVersion } from './preflight';
import { setPhase, type Phase } from './state';

/** libpq URL without its password, plus the environment that carries the password (never argv). */
export function libpqArgs(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (u.password) env.PGPASSWORD = decodeURIComponent(u.password);
  u.password = '';
  return { dbname: u.toString(), env };
}

/**
 * The schema section as SQL, from pg_dump. Owners and grants are left out: the source's roles do
 * not exist on RDS, so objects belong to the user running the move (see docs/data-migration.md).
 */
export async function dumpSection(sourceUrl: string, section: 'pre-data' | 'post-data', searchPath: string, snapshot?: string): Promise<string> {
  const { dbname, env } = libpqArgs(sourceUrl);
  const args = [
    `--section=${section}`,
    '--no-owner',
    '--no-privileges',
    '--no-publications',
    '--no-subscriptions',
    '--no-tablespaces',
    '--no-security-labels',
    `--dbname=${dbname}`,
  ];
  if (snapshot) args.push(`--snapshot=${snapshot}`);
  const child = spawn('pg_dump', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new UsageError('pg_dump', 'not found on PATH: install the PostgreSQL client matching the source version (postgresql-client-NN)')
          : e,
      ),
    );
    child.on('close', (c) => resolve(c ?? 1));
  });
  if (code !== 0) {
    const detail = err.trim().split('\n').slice(-3).join(' ');
    if (/server version mismatch/.test(err)) {
      throw new UsageError('pg_dump', `older than the source server: ${detail}; install a PostgreSQL client at least as new as the source`);
    }
    throw new UsageError('pg_dump', `--section=${section} failed: ${detail}`);
  }
  // \restrict / \unrestrict are psql meta-commands guarding psql against crafted dumps; the SQL runs
  // through the protocol here, where they mean nothing.
  const sql = Buffer.concat(out)
    .toString('utf8')
    .split('\n')
    .filter((line) => !/^\\(un)?restrict\b/.test(line))
    .join('\n');
  return underSearchPath(sql, searchPath);
}

/** The line of pg_dump's preamble that empties search_path for the rest of its script. */
const EMPTY_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);";

/**
 * pg_dump qualifies every name of its own statements, but not those in a function's body, which
 * the server resolves by the search_path of the session that calls it: a generated column's
 * function (inlined by CREATE TABLE), a CHECK constraint's (each row COPY loads), an index
 * expression's or predicate's, a materialized view's. Under pg_dump's empty search_path (or the
 * target's "$user", public) a body naming its own schema's tables and functions bare, as the
 * source's database search_path let it, failed (relation "rates" does not exist, exit 2 or 3 at
 * every rerun), or took another function of the same name, and the rows got other values. The
 * script runs under the source's search_path instead: pg_dump's statements mean the same under it,
 * as they name their objects in full.
 */
export function underSearchPath(sql: string, searchPath: string): string {
  const line = `SELECT pg_catalog.set_config('search_path', ${quoteLiteral(searchPath)}, false);`;
  // A function, not a string: the latter's $& and $' (a quoted schema name may hold them) are patterns.
  return sql.includes(EMPTY_SEARCH_PATH) ? sql.replace(EMPTY_SEARCH_PATH, () => line) : `${line}\n${sql}`;
}

/**
 * The pre-data section with each of `extensions` created at its version (preflight.ts
 * checkExtensionVersions): pg_dump writes `CREATE EXTENSION IF NOT EXISTS name WITH SCHEMA schema;`
 * for each, with no version, so the target would make its default one.
 */
export function atSourceVersions(sql: string, extensions: ExtensionVersion[]): string {
  return extensions.reduce(
    (text, e) =>
      text.replace(
        new RegExp(`^(CREATE EXTENSION IF NOT EXISTS ${e.sql.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} WITH SCHEMA .+);$`, 'm'),
        (_, statement: string) => `${statement} VERSION ${quoteLiteral(e.version)};`,
      ),
    sql,
  );
}

/** pg_dump's post-data section split into its REFRESH MATERIALIZED VIEW statements (in its order: a view over another after it) and the rest. */
export function splitRefreshes(sql: string): { rest: string; refreshes: string[] } {
  const refresh = /^REFRESH MATERIALIZED VIEW .+;$/;
  const lines = sql.split('\n');
  return { rest: lines.filter((l) => !refresh.test(l)).join('\n'), refreshes: lines.filter((l) => refresh.test(l)) };
}

/**
 * Raises maintenance_work_mem for the index builds of this transaction to at least `memory`: a
 * larger setting the server already has (an RDS parameter group sizes it from the instance class,
 * about 1 GB on 64 GB of RAM) is kept, as lowering it would only slow the builds down.
 */
export async function raiseMaintenanceWorkMem(target: Client, memory: string): Promise<void> {
  await target.query(
    `SELECT set_config('maintenance_work_mem',
       CASE WHEN pg_size_bytes(current_setting('maintenance_work_mem')) >= pg_size_bytes($1) THEN current_setting('maintenance_work_mem') ELSE $1 END,
       true)`,
    [memory],
  );
}

/** Runs a schema section and records the phase in ONE transaction: an interruption leaves neither. */
export async function applySection(target: Client, sql: string, phase: Phase, maintenanceWorkMem: string): Promise<void> {
  try {
    await target.query('BEGIN');
    await raiseMaintenanceWorkMem(target, maintenanceWorkMem);
    await target.query(sql);
    await setPhase(target, phase);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw schemaStepFailure(`applying the ${phase} schema`, err);
  } finally {
    // The script sets search_path for the session (underSearchPath); later statements use qualified names anyway.
    await target.query('RESET search_path').catch(() => undefined);
  }
}
