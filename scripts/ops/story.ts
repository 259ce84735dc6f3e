import { existsSync } from 'node:fs';
import { CloudWatchLogsClient, GetQueryResultsCommand, StartQueryCommand, StopQueryCommand } from '@aws-sdk/client-cloudwatch-logs';
import type { Knex } from 'knex';
import { UUID_PATTERN } from '../../core/contract';
import type { Order, OrderStatus } from '../../core/models';
import { orderStoryQuery, STORY_LINE_LIMIT } from '../../modules/log-queries';
import { readLocalLog } from '../local/log-file';
import { UsageError } from '../../core/cli';

/**
 * `npm run ops -- order <id>`: the story of one order, every service's and worker's lines about
 * it, oldest first, with the hops (`step`, core/contract.ts ORDER_STEPS) picked out. The id is an
 * order id or a request id; a request that worked on one order gives that order's whole story
 * (its other requests included: the creation and the payment are two). With a database, the
 * order's row is read too, and an order is also found by the request id stored on it
 * (`orders.request_id`, its creating request's): its story then comes from its order id, even
 * when no line under that request id is left in the logs read.
 *
 * Where the lines come from: locally, `npm run dev`'s log file (scripts/local/log-file.ts); in
 * AWS, CloudWatch Logs Insights, StartQuery then GetQueryResults, running the saved query's text
 * (modules/log-queries.ts) over the environment's eight log groups. Insights rather than
 * FilterLogEvents: one query reads all eight groups and answers the lines sorted by time with
 * their JSON fields parsed, where FilterLogEvents pages through one group at a time and leaves the
 * merge to us; and it is the same query ops save and run in the console. Its cost is per GB
 * scanned ($0.0063/GB in eu-west-3), bounded by `--since`.
 */
export type StoryLine = Record<string, unknown> & { time: string; msg?: string; service?: string; step?: string; orderId?: string; requestId?: string };

export interface StorySource {
  /** Where it reads, for the report and the not-found message. */
  describe: string;
  /** The lines whose `orderId` or `requestId` is `id`, oldest first. */
  find(id: string): Promise<StoryLine[]>;
  /** The most lines one `find` answers, the oldest ones; none when it answers them all. */
  lineLimit?: number;
}

export interface OrderRow {
  status: OrderStatus;
  /** The request that created it (`orders.request_id`); null for an order older than the column. */
  requestId: string | null;
  error: string | null;
  requeues: number;
  batchId: string | null;
  batchRow: number | null;
  /**
   * The document the order serves (`orders.document_key`), null until it is ready. Each attempt
   * uploads under a key of its own (`<clientId>/<orderId>/<attempt>/<orderId>.<ext>`): the bucket
   * may hold another attempt's file beside it, and only this one is the client's.
   */
  documentKey: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface StoryReport {
  id: string;
  /** The order told; absent when the request id names several orders (`orders`) or none. */
  orderId?: string;
  orders: string[];
  source: string;
  requestIds: string[];
  steps: { time: string; step: string; service?: string; requestId?: string }[];
  /** The order's row when a database was given and answered; else why not. */
  order?: OrderRow | { unavailable: string };
  /**
   * A query answered as many lines as it may (`lineLimit`): the newest are missing, and with them
   * perhaps the last hops and, for a request id, orders it worked on.
   */
  truncated: boolean;
  lines: StoryLine[];
}

/** An id that names nothing in the logs: the person typed another one, exit 2. */
export class StoryNotFound extends UsageError {
  constructor(id: string, source: string, searchedDatabase: boolean) {
    super('orderId', `no log line names "${id}" as orderId or requestId in ${source}${searchedDatabase ? ', and no order of the database has it as id or request id' : ''}`);
  }
}

const byTime = (a: StoryLine, b: StoryLine): number => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0);

export function localStorySource(file: string): StorySource {
  // A log that is not there (npm run dev never ran, another --log-file) holds no line of any order: say so, not only that no line names it.
  const present = existsSync(file) || existsSync(`${file}.1`);
  return {
    describe: present ? `the local log ${file}` : `the local log ${file}, which does not exist (npm run dev writes it; --log-file names another)`,
    find: async (id) =>
      readLocalLog(file)
        .filter((l) => l.orderId === id || l.requestId === id)
        .map((l) => ({ ...l, time: String(l.time) }) as StoryLine)
        .sort(byTime),
  };
}

export interface CloudWatchOptions {
  client: CloudWatchLogsClient;
  env: string;
  logGroups: string[];
  sinceMs: number;
  now?: () => number;
  /** Between two GetQueryResults while the query runs. */
  pollMs?: number;
  /** A query still running after this is stopped and the run fails. */
  timeoutMs?: number;
}

/** Insights answers `@timestamp` as `2026-12-01 10:15:02.123` (UTC); fields with a dot (`err.message`) come back under that name. */
function lineOfResult(fields: { field?: string; value?: string }[]): StoryLine {
  const line: Record<string, unknown> = {};
  for (const { field, value } of fields) {
    if (!field || value === undefined || field === '@ptr') continue;
    if (field === '@timestamp') line.time = `${value.replace(' ', 'T')}Z`;
    else if (field.includes('.')) {
      const [head, ...rest] = field.split('.');
      line[head] = { ...((line[head] as Record<string, unknown>) ?? {}), [rest.join('.')]: value };
    } else line[field] = ['status', 'ms', 'receiveCount'].includes(field) && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return line as StoryLine;
}

/** The window in the largest unit that states it exactly: a 12 h window read is not called a day. */
function windowOf(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000]] as const) if (ms % size === 0) return `${ms / size} ${unit}`;
  return `${ms / 1000} s`;
}

export function cloudWatchStorySource(o: CloudWatchOptions): StorySource {
  const now = o.now ?? Date.now;
  const pollMs = o.pollMs ?? 1000;
  const timeoutMs = o.timeoutMs ?? 120_000;
  return {
    describe: `CloudWatch Logs of ${o.env} (${o.logGroups.length} log groups, last ${windowOf(o.sinceMs)})`,
    lineLimit: STORY_LINE_LIMIT,
    find: async (id) => {
      const end = now();
      const { queryId } = await o.client.send(
        new StartQueryCommand({
          logGroupNames: o.logGroups,
          startTime: Math.floor((end - o.sinceMs) / 1000),
          endTime: Math.ceil(end / 1000),
          queryString: orderStoryQuery(id),
        }),
      );
      if (!queryId) throw new Error('StartQuery answered no query id');
      const started = Date.now();
      for (;;) {
        const out = await o.client.send(new GetQueryResultsCommand({ queryId }));
        if (out.status === 'Complete') return (out.results ?? []).map(lineOfResult).sort(byTime);
        if (out.status !== 'Scheduled' && out.status !== 'Running') throw new Error(`the Logs Insights query ${queryId} ended ${out.status}`);
        if (Date.now() - started > timeoutMs) {
          await o.client.send(new StopQueryCommand({ queryId })).catch(() => undefined);
          throw new Error(`the Logs Insights query ${queryId} still runs after ${timeoutMs / 1000} s; stopped (a shorter --since scans less)`);
        }
        await new Promise((r) => setTimeout(r, pollMs));
      }
    },
  };
}

const unique = (values: (string | undefined)[]): string[] => [...new Set(values.filter((v): v is string => typeof v === 'string' && v !== ''))];
const key = (l: StoryLine): string => JSON.stringify(l);

type DatabaseRows = { rows: { id: string; row: OrderRow }[] } | { unavailable: string };

/** The story of `id`, an order id or a request id; the rows come from `db` when one is given. */
export async function orderStory(source: StorySource, id: string, db?: () => Promise<Knex>): Promise<StoryReport> {
  let opened: Promise<Knex> | undefined;
  // One connection for the lookups of this story, opened on the first.
  const rowsNaming = async (value: string): Promise<DatabaseRows | undefined> => {
    if (!db) return undefined;
    try {
      opened ??= db();
      return { rows: await ordersNamedBy(await opened, value) };
    } catch (err) {
      return { unavailable: `database not reachable: ${(err as Error).message}` };
    }
  };
  try {
    const found = await source.find(id);
    const named = await rowsNaming(id);
    const stored = named && 'rows' in named ? named.rows : [];
    if (found.length === 0 && stored.length === 0) throw new StoryNotFound(id, source.describe, named !== undefined && 'rows' in named);
    const orders = unique([...found.map((l) => l.orderId), ...stored.map((r) => r.id)]);
    const orderId: string | undefined = orders.includes(id) ? id : orders.length === 1 ? orders[0] : undefined;
    const full = (answered: StoryLine[]) => source.lineLimit === undefined || answered.length < source.lineLimit;
    let truncated = !full(found);
    let lines = found;
    if (orderId && orderId !== id) {
      // A request id: the order's other requests (its creation, its payment, a requeue) tell the rest.
      const seen = new Set(found.map(key));
      const more = await source.find(orderId);
      truncated ||= !full(more);
      lines = [...found, ...more.filter((l) => !seen.has(key(l)))].sort(byTime);
    }
    const report: StoryReport = {
      id,
      ...(orderId ? { orderId } : {}),
      orders: unique([...lines.map((l) => l.orderId), ...stored.map((r) => r.id)]),
      source: source.describe,
      requestIds: unique(lines.map((l) => l.requestId)),
      steps: lines.filter((l) => typeof l.step === 'string').map((l) => ({ time: l.time, step: l.step!, service: l.service, requestId: l.requestId })),
      truncated,
      lines,
    };
    if (orderId && named) {
      const own = stored.find((r) => r.id === orderId) ? named : await rowsNaming(orderId);
      report.order = orderRowOf(own!, orderId);
    }
    return report;
  } finally {
    if (opened) await (await opened.catch(() => undefined))?.destroy();
  }
}

function orderRowOf(named: DatabaseRows, orderId: string): OrderRow | { unavailable: string } {
  if (!('rows' in named)) return named;
  return named.rows.find((r) => r.id === orderId)?.row ?? { unavailable: `no order ${orderId} in this database` };
}

/** The orders whose id is `value` (when it is a uuid) or whose creating request it is. */
async function ordersNamedBy(db: Knex, value: string): Promise<{ id: string; row: OrderRow }[]> {
  const rows: (Pick<Order, 'id' | 'status' | 'request_id' | 'error' | 'batch_id' | 'batch_row' | 'document_key' | 'created_at' | 'updated_at'> & { requeues: number })[] = await db('orders')
    .where('request_id', value)
    .modify((q) => (UUID_PATTERN.test(value) ? q.orWhere('id', value) : q))
    .orderBy('created_at')
    .select('id', 'status', 'request_id', 'error', 'requeues', 'batch_id', 'batch_row', 'document_key', 'created_at', 'updated_at');
  return rows.map((r) => ({
    id: r.id,
    row: {
      status: r.status,
      requestId: r.request_id,
      error: r.error,
      requeues: r.requeues,
      batchId: r.batch_id,
      batchRow: r.batch_row,
      documentKey: r.document_key ?? null,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
    },
  }));
}
