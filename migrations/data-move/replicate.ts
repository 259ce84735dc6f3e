import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { extensionConfigRows, listSequences, listTables, serverInfo, sourceSearchPath, tableShapes } from './catalog';
import { describeUrl, open, quoteIdent, quoteLiteral } from './db';
import { UsageError } from '../../core/cli';
import { onInterrupt } from '../../core/interrupt';
import { MismatchError, StepFailed } from './errors';
import { log } from './log';
import { countLargeObjects } from './large-objects';
import { checkCutoverRights, checkExtensionVersions, checkMoneyLocales, checkPublicationRights, checkReplicationSource, checkRowSecurity, checkSourceUnchanged, checkTarget, checkVersions, warnDatabaseSettings } from './preflight';
import { applySection, atSourceVersions, dumpSection, raiseMaintenanceWorkMem, splitRefreshes } from './schema';
import { readSequences, writeSequences } from './sequences';
import { createState, dropState, readState, reached, savedShapes, saveShapes, setPhase } from './state';
import { formatReport, verify, type VerifyReport } from './verify';

/** One name for the publication, the subscription and its slot: easy to find and to clean up. */
export const REPLICATION_NAME = 'data_move';

export interface ReplicateOptions {
  sourceUrl: string;
  targetUrl: string;
  sourceUrlForTarget: string;
  jobs: number;
  maintenanceWorkMem: string;
  lagTimeoutSeconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withBoth<T>(options: ReplicateOptions, fn: (source: Client, target: Client) => Promise<T>): Promise<T> {
  const source = await open(options.sourceUrl, 'source', { readOnly: false });
  let target: Client | undefined;
  try {
    target = await open(options.targetUrl, 'target');
    return await fn(source, target);
  } finally {
    await Promise.all([source.end().catch(() => undefined), target?.end().catch(() => undefined)]);
  }
}

/**
 * pg_subscription lists the subscriptions of every database of the server: each query of it keeps
 * this database's, or another move's data_move on the same server would be taken for this one.
 */
const THIS_DATABASE = `s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`;

async function subscriptionExists(target: Client): Promise<boolean> {
  const { rows } = await target.query(`SELECT 1 FROM pg_subscription s WHERE s.subname = $1 AND ${THIS_DATABASE}`, [REPLICATION_NAME]);
  return rows.length > 0;
}

/** A value as one field of COPY's text format. */
const copyField = (value: string): string => value.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);

/**
 * Creates the subscription (connect = false: it reaches nothing, so it neither fails on the
 * network nor waits for the source), then gives it its connection string, with the password in no
 * statement's text. It is created with a stand-in password (PostgreSQL 16 refuses a non-superuser's
 * subscription without one), and the real string goes over as COPY data into a temporary table,
 * which no log setting prints, for a DO block to build the ALTER SUBSCRIPTION … CONNECTION from:
 * log_statement logs what the client sends, not what PL/pgSQL executes. Not the CREATE itself in
 * the block: its warning that no table is subscribed yet goes to the log with PL/pgSQL's context,
 * the statement quoted whole; for the same reason an error in the block is raised again without
 * it. Needs no privilege beyond TEMP on the target database.
 */
async function subscriptionConnection(target: Client, conninfo: string, exists: boolean): Promise<void> {
  if (!exists) {
    const standIn = new URL(conninfo);
    if (standIn.password) standIn.password = 'set-by-alter-subscription';
    await target.query(`CREATE SUBSCRIPTION ${REPLICATION_NAME} CONNECTION ${quoteLiteral(standIn.toString())} PUBLICATION ${REPLICATION_NAME} WITH (connect = false)`);
  }
  try {
    await target.query('BEGIN; CREATE TEMP TABLE data_move_conninfo (c text NOT NULL) ON COMMIT DROP');
    await pipeline(Readable.from([Buffer.from(`${copyField(conninfo)}\n`)]), target.query(copyFrom('COPY pg_temp.data_move_conninfo (c) FROM STDIN')));
    await target.query(`DO $$
      BEGIN
        EXECUTE (SELECT format('ALTER SUBSCRIPTION %I CONNECTION %L', ${quoteLiteral(REPLICATION_NAME)}, c) FROM pg_temp.data_move_conninfo);
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
      END $$`);
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Waits for every table's initial copy to reach "ready", failing fast on sync errors. */
async function waitForInitialSync(target: Client): Promise<void> {
  let lastLog = 0;
  for (;;) {
    const { rows } = await target.query(
      `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS pending, count(*)::int AS total,
         coalesce(max(st.sync_error_count), 0)::int AS sync_errors, coalesce(max(st.apply_error_count), 0)::int AS apply_errors
       FROM pg_subscription s LEFT JOIN pg_subscription_rel r ON r.srsubid = s.oid
       LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid WHERE s.subname = $1 AND ${THIS_DATABASE}`,
      [REPLICATION_NAME],
    );
    const r = rows[0];
    if (r.sync_errors > 0 || r.apply_errors > 0) {
      throw new UsageError('replication', `reports ${r.sync_errors} sync and ${r.apply_errors} apply error(s): see the target's server log; undo with the rollback command`);
    }
    if (r.pending === 0) return;
    if (Date.now() - lastLog > 5000) {
      log('initial_sync', { tablesPending: r.pending, tables: r.total });
      lastLog = Date.now();
    }
    await sleep(250);
  }
}

/** Schema, publication, subscription; returns once the target's initial copy of every table is done. */
export async function startReplication(options: ReplicateOptions): Promise<void> {
  await withBoth(options, async (source, target) => {
    const sourceName = describeUrl(options.sourceUrl);
    const [si, ti] = await Promise.all([serverInfo(source), serverInfo(target)]);
    checkVersions(si, ti);
    const listed = await listTables(source);
    const tables = listed.filter((t) => t.extensionFilter === undefined);
    checkReplicationSource(si, tables, await countLargeObjects(source), await extensionConfigRows(source, listed));
    // The initial sync reads the tables as this user too: its policies would hold rows back.
    await checkRowSecurity(source, si.user);
    await checkPublicationRights(source, si.user, tables);
    await checkMoneyLocales(source, target, tables, options.sourceUrlForTarget);
    const extensions = await checkExtensionVersions(source, target);
    await warnDatabaseSettings(source);
    let state = await checkTarget(target, 'replicate', sourceName, describeUrl(options.targetUrl));
    if (state) log('resuming', { phase: state.phase });
    else state = await createState(target, 'replicate', sourceName);
    // As in copy mode: a resumed run goes on with the schema its first run created, which a table
    // added, dropped or altered on the source since does not fit (the publication would leave it
    // out, or its initial sync fail at every rerun).
    const shapes = await tableShapes(source);
    if (reached(state, 'pre-data')) checkSourceUnchanged(await savedShapes(target), shapes);
    else await saveShapes(target, shapes);

    // The whole schema goes first, primary keys included: the target applies replicated UPDATEs and
    // DELETEs by replica identity, so it needs them before the first change arrives. Not the
    // materialized views' REFRESH: over tables still empty it would compute nothing, and the
    // verification compares tables only; they are filled once the initial sync is done.
    let postData: string | undefined;
    const searchPath = await sourceSearchPath(source);
    for (const section of ['pre-data', 'post-data'] as const) {
      if (!reached(state, section)) {
        const sql = await dumpSection(options.sourceUrl, section, searchPath);
        if (section === 'post-data') postData = sql;
        const run = section === 'pre-data' ? atSourceVersions(sql, extensions) : splitRefreshes(sql).rest;
        await applySection(target, run, section, options.maintenanceWorkMem);
        log('schema_created', { section, tables: tables.length });
      }
    }
    if (!reached(state, 'subscribed')) {
      const { rows } = await source.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [REPLICATION_NAME]);
      if (!rows.length) {
        await source.query(`CREATE PUBLICATION ${REPLICATION_NAME} FOR TABLE ${tables.map((t) => t.sql).join(', ')}`);
        log('publication_created', { tables: tables.length });
      }
      // The connection string holds the source's password, and the target server logs a statement's
      // text when it fails (log_min_error_statement), takes over a second (the data stack's
      // log_min_duration_statement) or always (log_statement = ddl or all): its log goes to
      // CloudWatch. No statement carries it (subscriptionConnection); those that reach the source
      // (the slot, which waits for its running transactions; the initial sync) carry no password
      // either. A rerun puts the connection string given this time.
      const existed = await subscriptionExists(target);
      await subscriptionConnection(target, options.sourceUrlForTarget, existed);
      if (!existed) log('subscription_created', {});
      const { rows: slot } = await source.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [REPLICATION_NAME]);
      if (!slot.length)
        await source.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [REPLICATION_NAME]).catch((err: { code?: string; message?: string }) => {
          if (err.code !== '53400') throw err;
          // The initial sync needs one more slot per table copied at once (max_sync_workers_per_subscription).
          throw new UsageError('--source', `${err.message} (53400): raise max_replication_slots (and max_wal_senders) on the source and restart it, or drop its unused slots; undo with the rollback command or rerun`);
        });
      try {
        await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} ENABLE`);
        await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} REFRESH PUBLICATION WITH (copy_data = true)`);
      } catch (err) {
        throw new UsageError(
          '--source-for-target',
          `starting the subscription on the target failed: ${(err as Error).message}; the target must reach the source at ` +
            `${describeUrl(options.sourceUrlForTarget)} (see --source-for-target), then rerun`,
        );
      }
      // The subscription takes its tables from the publication it finds at --source-for-target:
      // fewer than were published means that address is not the source (another server, or
      // another database, with no such publication), and nothing would replicate while the run
      // said it did. Before the phase is marked, so a rerun with it corrected gives the
      // subscription the new connection and refreshes again.
      const { rows: subscribed } = await target.query(
        `SELECT count(r.srrelid)::int AS n FROM pg_subscription s JOIN pg_subscription_rel r ON r.srsubid = s.oid WHERE s.subname = $1 AND ${THIS_DATABASE}`,
        [REPLICATION_NAME],
      );
      if (subscribed[0].n < tables.length) {
        throw new UsageError(
          '--source-for-target',
          `the subscription finds ${subscribed[0].n} of the ${tables.length} tables published on the source at ${describeUrl(options.sourceUrlForTarget)}: ` +
            'that address must reach the source database itself, as the target server sees it; rerun with it corrected (or undo with the rollback command)',
        );
      }
      await setPhase(target, 'subscribed');
    }
    const syncStarted = Date.now();
    await waitForInitialSync(target);
    log('initial_sync_done', { seconds: (Date.now() - syncStarted) / 1000 });
    const { refreshes } = splitRefreshes(postData ?? (await dumpSection(options.sourceUrl, 'post-data', searchPath)));
    await refreshMaterializedViews(target, refreshes, searchPath, options.maintenanceWorkMem);
    await setPhase(target, 'replicating');
    log('replicating', { ...(await lag(source, target)) });
  });
}

/**
 * pg_dump's REFRESH MATERIALIZED VIEWs, in its order, in one transaction: replication carries no
 * view's rows, so the target's are computed from the rows it holds at that moment.
 */
async function refreshMaterializedViews(target: Client, refreshes: string[], searchPath: string, maintenanceWorkMem: string): Promise<void> {
  if (!refreshes.length) return;
  const t0 = Date.now();
  try {
    await target.query('BEGIN');
    await raiseMaintenanceWorkMem(target, maintenanceWorkMem);
    // The views' functions run by the source's search_path, as in the section (schema.ts underSearchPath).
    await target.query(`SELECT pg_catalog.set_config('search_path', $1, true)`, [searchPath]);
    await target.query(refreshes.join('\n'));
    await target.query('COMMIT');
  } catch (err) {
    await target.query('ROLLBACK').catch(() => undefined);
    throw new StepFailed('refreshing the materialized views', err);
  }
  log('materialized_views_refreshed', { count: refreshes.length, seconds: (Date.now() - t0) / 1000 });
}

export interface Lag {
  slotActive: boolean;
  lagBytes: number;
  sourceLsn: string;
  confirmedLsn: string;
  tablesNotReady: number;
}

async function lag(source: Client, target: Client): Promise<Lag> {
  const { rows } = await source.query(
    `SELECT active, pg_current_wal_lsn()::text AS current, confirmed_flush_lsn::text AS confirmed,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag
     FROM pg_replication_slots WHERE slot_name = $1`,
    [REPLICATION_NAME],
  );
  if (!rows.length) throw new UsageError('--source', `no replication slot "${REPLICATION_NAME}": start with --mode replicate`);
  const { rows: t } = await target.query(
    `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r')::int AS pending FROM pg_subscription s
     JOIN pg_subscription_rel r ON r.srsubid = s.oid WHERE s.subname = $1 AND ${THIS_DATABASE}`,
    [REPLICATION_NAME],
  );
  return {
    slotActive: rows[0].active,
    lagBytes: Number(rows[0].lag),
    sourceLsn: rows[0].current,
    confirmedLsn: rows[0].confirmed,
    tablesNotReady: t[0].pending,
  };
}

export async function replicationStatus(options: ReplicateOptions): Promise<Lag> {
  return withBoth(options, (source, target) => lag(source, target));
}

async function allowWrites(source: Client, database: string): Promise<void> {
  await source.query(`ALTER DATABASE ${quoteIdent(database)} RESET default_transaction_read_only`);
}

/**
 * Stops application writes on the source: new sessions default to read-only and existing client
 * sessions are ended (their open transactions roll back). This database setting is the one change
 * made to the source besides the publication; `rollback` (or a failed cutover) reverts it.
 */
async function blockWrites(source: Client, database: string): Promise<number> {
  await source.query(`ALTER DATABASE ${quoteIdent(database)} SET default_transaction_read_only = on`);
  const { rows } = await source.query(
    `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
  );
  const pids = rows.map((r) => r.pid as number);
  for (const pid of pids) await source.query('SELECT pg_terminate_backend($1)', [pid]);
  const deadline = Date.now() + 10_000;
  // Terminated sessions must be gone before the final LSN is read, or a commit could land after it.
  while (pids.length) {
    const { rows: alive } = await source.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)', [pids]);
    if (alive[0].n === 0) break;
    if (Date.now() > deadline) throw new UsageError('--source', 'its sessions did not end within 10 s after pg_terminate_backend');
    await sleep(50);
  }
  return pids.length;
}

/** Whether the database is read-only by a cutover's ALTER DATABASE … SET (which rollback and a failed cutover reset). */
async function readOnlyByCutover(source: Client): Promise<boolean> {
  const { rows } = await source.query(
    `SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
     WHERE d.datname = current_database() AND s.setrole = 0 AND 'default_transaction_read_only=on' = ANY (s.setconfig)`,
  );
  return rows.length > 0;
}

/**
 * A cutover stopped after its DROP SUBSCRIPTION, which drops the slot, before it dropped the
 * publication and _data_move: the source still read-only, its slot gone. Only that step drops
 * the subscription with the writes blocked (rollback gives them back).
 */
async function stoppedAfterDrop(source: Client): Promise<boolean> {
  const { rows } = await source.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [REPLICATION_NAME]);
  return rows.length === 0 && (await readOnlyByCutover(source));
}

/**
 * Finishes a cutover stopped after its DROP SUBSCRIPTION: the source has stayed read-only since
 * its verification, which runs again before the publication and _data_move go. Before, the rerun
 * said there was no replication (exit 2), _data_move kept db:migrate off the target, and the
 * rollback left to clean up gave the source its writes back.
 */
async function finishCutover(options: ReplicateOptions, source: Client, target: Client): Promise<CutoverResult> {
  const t0 = Date.now();
  log('cutover_resuming', { note: 'the subscription was dropped with the source read-only: verifying again, then dropping the publication and _data_move' }, 'warn');
  const report = await verify({ sourceUrl: options.sourceUrl, targetUrl: options.targetUrl, jobs: options.jobs });
  if (!report.ok) throw new MismatchError(`${formatReport(report)}\ncutover not finished: the source stays read-only, replication is gone; rollback gives the writes back`);
  await source.query(`DROP PUBLICATION IF EXISTS ${REPLICATION_NAME}`);
  await dropState(target);
  return { report, downtimeSeconds: (Date.now() - t0) / 1000, catchUpSeconds: 0, sessionsEnded: 0 };
}

export interface CutoverResult {
  report: VerifyReport;
  downtimeSeconds: number;
  catchUpSeconds: number;
  sessionsEnded: number;
}

export async function cutover(options: ReplicateOptions): Promise<CutoverResult> {
  return withBoth(options, async (source, target) => {
    const state = await readState(target);
    const replicating = state?.mode === 'replicate' && state.phase === 'replicating';
    const subscribed = replicating && (await subscriptionExists(target));
    if (replicating && !subscribed && (await stoppedAfterDrop(source))) return finishCutover(options, source, target);
    if (!subscribed) {
      throw new UsageError('--target', 'no running replication to cut over: run --mode replicate first and wait for it to finish');
    }
    // Before the writes stop: a table changed on the source since the schema was made is not on
    // the target as it is on the source, and the verification would fail with the application down.
    checkSourceUnchanged(await savedShapes(target), await tableShapes(source));
    const { database, user } = await serverInfo(source);
    await checkRowSecurity(source, user);
    await checkCutoverRights(source, user);
    // A cutover stopped between its DISABLE and its DROP (or a subscription disabled by hand)
    // leaves no worker reading the slot: the wait below would time out at every rerun.
    const { rows: disabled } = await target.query(`SELECT 1 FROM pg_subscription s WHERE s.subname = $1 AND NOT s.subenabled AND ${THIS_DATABASE}`, [REPLICATION_NAME]);
    if (disabled.length) {
      await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} ENABLE`);
      log('subscription_enabled', { note: 'the subscription was disabled: a cutover stopped before it dropped it, or by hand' }, 'warn');
    }
    // Refreshed after the initial sync and never since: once the target has caught up, its views
    // are computed again from the final rows, which the verification compares them with.
    const searchPath = await sourceSearchPath(source);
    const { refreshes } = splitRefreshes(await dumpSection(options.sourceUrl, 'post-data', searchPath));
    const t0 = Date.now();
    let writesBlocked = false;
    // Ctrl-C (or a stopped task's SIGTERM) while writes are blocked would end the process with the
    // source read-only, the application down, and nothing said: the cutover stops at its next
    // step instead and gives the writes back.
    const interrupt = onInterrupt((signal) => log('cutover_interrupting', { signal, note: 'giving the source its writes back' }, 'warn'));
    const stopIfInterrupted = () => {
      if (interrupt.signal) throw new Error(`cutover interrupted (${interrupt.signal}): source writes re-enabled, replication left running; run cutover again, or rollback`);
    };
    try {
      writesBlocked = true;
      const sessionsEnded = await blockWrites(source, database);
      log('source_writes_blocked', { database, sessionsEnded });
      const finalLsn = (await source.query('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l as string;
      const deadline = Date.now() + options.lagTimeoutSeconds * 1000;
      for (;;) {
        const { rows } = await source.query(
          'SELECT confirmed_flush_lsn >= $2::pg_lsn AS done FROM pg_replication_slots WHERE slot_name = $1',
          [REPLICATION_NAME, finalLsn],
        );
        if (rows[0]?.done) break;
        stopIfInterrupted();
        if (Date.now() > deadline) {
          throw new UsageError('--lag-timeout', `the target did not catch up to ${finalLsn} within ${options.lagTimeoutSeconds} s`);
        }
        await sleep(50);
      }
      const catchUpSeconds = (Date.now() - t0) / 1000;
      log('caught_up', { lsn: finalLsn, seconds: catchUpSeconds });
      const sequences = await listSequences(source);
      await writeSequences(target, sequences, await readSequences(source, sequences));
      await refreshMaterializedViews(target, refreshes, searchPath, options.maintenanceWorkMem);
      const report = await verify({ sourceUrl: options.sourceUrl, targetUrl: options.targetUrl, jobs: options.jobs });
      if (!report.ok) throw new MismatchError(`${formatReport(report)}\ncutover aborted: source writes re-enabled, replication left running`);
      stopIfInterrupted();
      await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} DISABLE`);
      await target.query(`DROP SUBSCRIPTION ${REPLICATION_NAME}`);
      await source.query(`DROP PUBLICATION IF EXISTS ${REPLICATION_NAME}`);
      await dropState(target);
      writesBlocked = false;
      return { report, downtimeSeconds: (Date.now() - t0) / 1000, catchUpSeconds, sessionsEnded };
    } catch (err) {
      if (writesBlocked) {
        await allowWrites(source, database);
        log('source_writes_reenabled', { database }, 'warn');
      }
      throw err;
    } finally {
      interrupt.off();
    }
  });
}

/** Back to the old database: writes allowed again, subscription, slot and publication removed. */
export async function rollback(options: ReplicateOptions): Promise<void> {
  await withBoth(options, async (source, target) => {
    const database = (await serverInfo(source)).database;
    // Only a cutover makes the database read-only, as its owner: a replication rolled back before
    // one (by a migrator owning the tables, not the database) failed here, exit 3 at every rerun,
    // its slot keeping WAL on the source.
    if (await readOnlyByCutover(source)) await allowWrites(source, database);
    if (await subscriptionExists(target)) {
      await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} DISABLE`);
      // DROP SUBSCRIPTION drops its slot on the source and fails when there is none (a run stopped
      // before it made it): the subscription then lets go of it first.
      const { rows: slot } = await source.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [REPLICATION_NAME]);
      if (!slot.length) await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} SET (slot_name = NONE)`);
      await target.query(`DROP SUBSCRIPTION ${REPLICATION_NAME}`).catch(async (err: { code?: string }) => {
        // It drops the slot through its own connection string, which failed (08006): the address is
        // unreachable, or not the source, which holds the slot the subscription never used. It lets
        // go of the slot, and the source's is dropped below; else rollback failed at every rerun.
        if (err.code !== '08006') throw err;
        await target.query(`ALTER SUBSCRIPTION ${REPLICATION_NAME} SET (slot_name = NONE)`);
        await target.query(`DROP SUBSCRIPTION ${REPLICATION_NAME}`);
      });
    }
    await source.query(`DROP PUBLICATION IF EXISTS ${REPLICATION_NAME}`);
    await source.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [REPLICATION_NAME],
    );
    log('rolled_back', { database, note: 'source accepts writes; the target keeps whatever it received: drop it before a new attempt' });
  });
}
