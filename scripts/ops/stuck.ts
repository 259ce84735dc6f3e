import type { Knex } from 'knex';
import type { Logger } from '../../core/logger';
import { UsageError } from '../../core/cli';

/**
 * What `orders stuck|requeue` and `batches stuck|requeue` do alike: list the rows that stopped
 * moving, least recently moved first, in a READ ONLY transaction; and send each named row's job
 * again, after checking every id, each send on its own (one SQS refuses is reported, the others
 * still go), restarting the idle clock of the rows whose job went. What a row's last sign of life
 * is, which statuses take a job, and the job itself stay each command's own (orders.ts, batches.ts).
 */

/** A duration as the reports give it: minutes, to a tenth. */
export const minutes = (ms: number): number => Math.round((ms / 60_000) * 10) / 10;

export const readOnly = <T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    return work(trx);
  });

/**
 * The first `limit` rows of `stuck` (a query of the rows that have not moved, built anew for each
 * use), least recently moved first, each with `idle_ms` since `movedAt` (SQL over the row: its last
 * sign of life), and how many there are in all.
 */
export async function idlePage<T>(trx: Knex.Transaction, stuck: () => Knex.QueryBuilder, movedAt: string, columns: string[], limit: number): Promise<{ rows: T[]; count: number }> {
  const rows = (await stuck()
    .select(columns)
    .select(trx.raw(`extract(epoch from now() - ${movedAt}) * 1000 as idle_ms`))
    .orderByRaw(`${movedAt} asc`)
    .limit(limit)) as T[];
  const [{ n }] = (await stuck().count<{ n: string }[]>('* as n')) as { n: string }[];
  return { rows, count: Number(n) };
}

/**
 * The named rows of `table` by id, read in one read-only transaction. An id that names none is a
 * mistake in the command: nothing is done for any of them (exit 2, naming `field`).
 */
export async function namedRows<T extends { id: string }>(
  db: Knex,
  table: 'orders' | 'batches',
  ids: string[],
  columns: (trx: Knex.Transaction) => Array<string | Knex.Raw>,
  field: 'orderId' | 'batchId',
): Promise<Map<string, T>> {
  const rows = (await readOnly(db, async (trx) => trx(table).whereIn('id', ids).select(columns(trx)))) as T[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const unknown = ids.filter((id) => !byId.has(id));
  const noun = table === 'orders' ? 'order' : 'batch';
  if (unknown.length > 0) throw new UsageError(field, `no ${noun} ${unknown.join(', ')}: nothing done (check the id${unknown.length > 1 ? 's' : ''})`);
  return byId;
}

type Named<K extends string> = { [P in K]: string };

/** A run of `<orders|batches> requeue`; entries name their row by `key` (orderId, batchId). */
export interface ResendReport<K extends string, S extends string, Sent> {
  requestId: string;
  sent: Array<Named<K> & { status: S } & Sent>;
  skipped: Array<Named<K> & { status: S; why: string }>;
  /** Their job could not be sent (SQS refused or did not answer): nothing written, run requeue for them again. */
  notSent: Array<Named<K> & { status: S; error: string }>;
}

export interface Resend<K extends string, S extends string, R extends { id: string; status: S }, Sent> {
  db: Knex;
  table: 'orders' | 'batches';
  /** How the report and the log lines name a row. */
  key: K;
  /** The rows as `namedRows` read them, and the ids in the order given. */
  rows: Map<string, R>;
  ids: string[];
  /** The statuses that take a job again; the idle clock is restarted only while the row still has one. */
  open: readonly S[];
  /** Why a row of another status gets no job. */
  skipWhy(row: R): string;
  send(row: R): Promise<void>;
  /** The report's entry for a job sent, past its id and status. */
  sent(row: R): Sent;
  /** In the log lines: `doc job`, `batch job`; and the command that sends it again. */
  job: string;
  command: string;
  /** The run's `ops-<uuid>`, on every job sent and log line. */
  requestId: string;
  log: Logger;
}

export async function resendJobs<K extends string, S extends string, R extends { id: string; status: S }, Sent>(run: Resend<K, S, R, Sent>): Promise<ResendReport<K, S, Sent>> {
  const { db, key, requestId, log } = run;
  const named = (id: string) => ({ [key]: id }) as Named<K>;
  const report: ResendReport<K, S, Sent> = { requestId, sent: [], skipped: [], notSent: [] };
  for (const id of run.ids) {
    const row = run.rows.get(id)!;
    const { status } = row;
    if (!run.open.includes(status)) {
      report.skipped.push({ ...named(id), status, why: run.skipWhy(row) });
      continue;
    }
    try {
      await run.send(row);
    } catch (err) {
      // The others are still sent: a run stopped here would leave them unsent and unreported.
      report.notSent.push({ ...named(id), status, error: (err as Error).message });
      log.error(`${run.job} not sent again: run ${run.command} for it`, { ...named(id), status, requestId, err });
      continue;
    }
    // A re-send restarts the row's idle clock, as the sweeper's own do: otherwise a sweep or a
    // second `stuck` that runs before a worker takes this job sees it still stuck and sends another.
    await db(run.table).where({ id }).whereIn('status', [...run.open]).update({ updated_at: db.fn.now() });
    report.sent.push({ ...named(id), status, ...run.sent(row) });
    log.info(`${run.job} sent again`, { ...named(id), status, requestId });
  }
  return report;
}
