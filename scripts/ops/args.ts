import { integerOption, ownEntry, parseOptions, UsageError } from '../../core/cli';
import { QUEUES, UUID_PATTERN } from '../../core/contract';
import { API_KEY_PREFIX_PATTERN, OLD_KEY_OVERLAP_DEFAULT_MS, OLD_KEY_OVERLAP_MAX_MS } from '../../core/domain/api-keys';
import { REQUEST_ID_PATTERN } from '../../core/internal-api';
import { LOCAL_LOG_FILE, LOCAL_PG_URL } from '../local/defaults';
import { environments } from '../../stacks/config';

/**
 * The command line of `npm run ops -- <group> <command> [options]`. Every mistake is a
 * UsageError naming the field it is about (`queue`, `orderId`, `--max`…): the CLI prints it with the
 * usage and exits 2, before anything is read or sent.
 */
export const USAGE = `usage: npm run ops -- <command> --env <env> [options]

commands:
  dlq list
                each DLQ: messages waiting and held, age of the oldest (CloudWatch in AWS, a minute or two behind)
  dlq show      doc-jobs|batch-doc-jobs|batch-jobs [--sample N] [--database-url URL]
                counts of the queue and its DLQ, age of the oldest sampled message, and up to N (default 10)
                messages (body, request id, receive count, first receive; with a database, the status and
                last error recorded on the order or batch the body names); each is held 30 s at most, then released
  dlq redrive   doc-jobs|batch-doc-jobs|batch-jobs [--max N] [--rate N] [--dry-run]
                moves the DLQ's messages (at most N; default: those there at the start) back to their queue,
                body and attributes kept, at most --rate messages a second (default 10, at most 100); Ctrl-C
                (SIGINT) or SIGTERM stops it after the messages in hand, with its report (exit 1); --dry-run
                counts what it would move and lists 100 of them at most, moving nothing
  orders stuck  [--older-than 30m] [--limit N] [--database-url URL]
                paid/queued/generating orders that have not moved for longer than the threshold, and what the
                sweeper would do with each (read-only)
  orders requeue <orderId>... [--database-url URL]
                sends the doc job of each paid/queued/generating order again; its one write restarts each
                re-sent order's idle clock (updated_at), so that no sweep sends a second one
  orders failed [--since 24h] [--limit N] [--database-url URL]
                orders the worker failed with "document generation failed after repeated attempts" (a
                dependency down through every receive) in the window, latest first: what orders retry takes (read-only)
  orders retry <orderId>... [--database-url URL]
                each such order back to queued (error cleared, requeues 0; its count undone on its batch, a
                completed batch reopened), then its doc job sent; any other failure reason is refused
  batches stuck [--older-than 30m] [--limit N] [--database-url URL]
                pending/processing B2B batches not updated for longer than the threshold (no row read, no order
                counted), with what moves each on: its batch job again, or its orders (read-only)
  batches requeue <batchId>... [--database-url URL]
                sends the batch job of each pending/processing batch again (the worker resumes it from its
                checkpoint, or completes it); its one write restarts each re-sent batch's idle clock (updated_at)
  order <orderId|requestId> [--since 7d] [--log-file PATH] [--database-url URL]
                the order's story, oldest first, every service and worker, its hops (received … ready/failed) marked;
                without --env (or with --env local) from npm run dev's log file, with --env from CloudWatch Logs
                (Logs Insights over the environment's log groups, the last --since); the order's row when a database is given
  keys list     --client <clientId> [--database-url URL]
                the B2B client's API keys, newest first: prefix, state (active, expiring, expired, revoked), created,
                expires, revoked, last used (recorded at most every 5 min); never a key (read-only)
  keys rotate   --client <clientId> [--old-key-expires-in 7d] [--database-url URL]
                a new key for the client, printed once on stdout (never logged); its other working keys keep working
                until the expiry given (default 7d, at most 30d) or an earlier one they had
  keys revoke   --prefix <prefix> [--database-url URL]
                the key dpk_<prefix>_… is refused from the next request on (give the 12 hex characters, never the key)
  workers status
                per worker: desired/running/pending tasks and the last scaling activity (ECS, Application Auto
                Scaling), its queues' waiting/in flight/delayed/oldest age and their DLQs; with --endpoint (npm run dev)
                the emulator's queues and what the local log says of the workers

options:
  --env ENV             ${Object.keys(environments).join(' | ')} (any name with --endpoint: local for npm run dev; order: local by default)
  --endpoint URL        an SQS emulator instead of AWS (npm run dev: http://127.0.0.1:4566)
  --format json|table   how results are printed on stdout (default json); log lines go to stderr
  --database-url URL    postgres://… (default DATABASE_URL); without a user in it, the credentials come from
                        the secret --db-secret (default docplatform-<env>-db-app)
  --log-file PATH       order, workers status locally: npm run dev's log (default ${LOCAL_LOG_FILE})

exit codes: 0 done, 1 failed (AWS or database error, a message not moved, a redrive interrupted, a requeued or retried order's or requeued batch's job not sent), 2 bad command line, no AWS
credentials, a database login secret that does not exist, a client id or key prefix that no row has (keys), an order id that no order has (orders requeue, retry: then nothing is done) or that no log line names
(order), an order that orders retry refuses (nothing is done)`;

export type QueueStem = (typeof QUEUES)[keyof typeof QUEUES];
export type Format = 'json' | 'table';

interface Common {
  env: string;
  endpoint?: string;
  format: Format;
}

export type OpsCommand =
  | (Common & { command: 'dlq list' })
  | (Common & { command: 'dlq show'; queue: QueueStem; sample: number; database: DatabaseArgs })
  | (Common & { command: 'dlq redrive'; queue: QueueStem; max?: number; ratePerSecond: number; dryRun: boolean })
  | (Common & { command: 'orders stuck'; olderThanMs: number; limit: number; database: Database })
  | (Common & { command: 'orders requeue' | 'orders retry'; orderIds: string[]; database: Database })
  | (Common & { command: 'orders failed'; sinceMs: number; limit: number; database: Database })
  | (Common & { command: 'batches stuck'; olderThanMs: number; limit: number; database: Database })
  | (Common & { command: 'batches requeue'; batchIds: string[]; database: Database })
  | (Common & { command: 'order'; id: string; local: boolean; sinceMs: number; logFile: string; database: DatabaseArgs })
  | (Common & { command: 'workers status'; logFile: string })
  | (Common & { command: 'keys list'; clientId: string; database: Database })
  | (Common & { command: 'keys rotate'; clientId: string; oldKeysExpireInMs: number; database: Database })
  | (Common & { command: 'keys revoke'; prefix: string; database: Database });

export interface DatabaseArgs {
  url?: string;
  secret?: string;
}

/** The database of a command that reads one: its URL is checked before anything is read or sent. */
export type Database = DatabaseArgs & { url: string };

const COMMANDS = ['dlq list', 'dlq show', 'dlq redrive', 'orders stuck', 'orders failed', 'orders requeue', 'orders retry', 'batches stuck', 'batches requeue', 'order', 'workers status', 'keys list', 'keys rotate', 'keys revoke'] as const;
/** Commands that take an argument after their name: order or batch ids, or a queue. */
const WITH_IDS = new Set(['orders requeue', 'orders retry', 'batches requeue', 'order']);
const WITH_QUEUE = new Set(['dlq show', 'dlq redrive']);
/** A redrive's default pace: 600 jobs a minute, within the 1000 Gemini requests a minute the environments budget (stacks/config.ts), so a large DLQ moved back after an outage does not meet the quota all at once. */
const REDRIVE_RATE = 10;
/** Commands of one word, followed by their argument. */
const ONE_WORD = new Set(['order']);
const ENV_NAME = /^[a-z][a-z0-9-]{0,20}$/;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest look back: CloudWatch Logs keeps nothing longer (10 years), and a start before 1970 is refused by AWS. */
const LONGEST_DURATION_MS = 3650 * UNITS.d;

/** `30m`, `90s`, `2h`, `1d` → milliseconds. */
export function parseDuration(field: string, value: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(value.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(field, `expected a duration like 90s, 30m, 2h or 1d, got "${value}"`);
  const ms = Number(m[1]) * UNITS[m[2]];
  if (ms > LONGEST_DURATION_MS) throw new UsageError(field, `at most 3650d (10 years), got "${value}"`);
  return ms;
}

function url(field: string, value: string | undefined, protocols: string[]): string | undefined {
  if (value === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new UsageError(field, `must be a ${protocols.join(' or ')}// URL`);
  }
  if (!protocols.includes(parsed.protocol)) throw new UsageError(field, `must be a ${protocols.join(' or ')}// URL, got ${parsed.protocol}//`);
  return value;
}

/** The command, or 'help'. Reads DATABASE_URL from `env` when --database-url is not given. */
export function parseCommand(argv: string[], env: Record<string, string | undefined> = process.env): OpsCommand | 'help' {
  const { values, positionals } = parseOptions({
    args: argv,
    allowPositionals: true,
    options: {
      env: { type: 'string' },
      endpoint: { type: 'string' },
      format: { type: 'string' },
      sample: { type: 'string' },
      max: { type: 'string' },
      rate: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'older-than': { type: 'string' },
      limit: { type: 'string' },
      'database-url': { type: 'string' },
      'db-secret': { type: 'string' },
      since: { type: 'string' },
      'log-file': { type: 'string' },
      client: { type: 'string' },
      prefix: { type: 'string' },
      'old-key-expires-in': { type: 'string' },
    },
  });
  if (positionals.length === 0 || positionals[0] === 'help') return 'help';
  const words = ONE_WORD.has(positionals[0]) ? 1 : 2;
  const command = positionals.slice(0, words).join(' ');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError('command', `unknown command "${command}" (commands: ${COMMANDS.join(', ')})`);
  }
  const rest = positionals.slice(words);
  if (!WITH_IDS.has(command) && !WITH_QUEUE.has(command) && rest.length > 0) throw new UsageError('arguments', `${command} takes no argument, got "${rest.join(' ')}"`);
  // The story of a local order needs no environment: npm run dev's log file is the default.
  if (command === 'order' && (values.env === undefined || values.env === 'local')) return localOrder(values, rest, env);

  if (!values.env) throw new UsageError('--env', `required (${Object.keys(environments).join(', ')}; another name with --endpoint)`);
  const endpoint = url('--endpoint', values.endpoint, ['http:', 'https:']);
  if (!ENV_NAME.test(values.env)) throw new UsageError('--env', `must be a lower-case environment name, got "${values.env}"`);
  if (!endpoint && !ownEntry(environments, values.env)) {
    throw new UsageError('--env', `unknown environment "${values.env}" (${Object.keys(environments).join(', ')}; another name needs --endpoint)`);
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'table') throw new UsageError('--format', `must be json or table, got "${format}"`);
  const common: Common = { env: values.env, endpoint, format };

  const queue = (): QueueStem => {
    const stems = Object.values(QUEUES) as string[];
    if (rest.length !== 1) throw new UsageError('queue', `give one queue: ${stems.join(', ')}${rest.length > 1 ? ` (got ${rest.length})` : ''}`);
    if (!stems.includes(rest[0])) throw new UsageError('queue', `must be ${stems.join(', ')}, got "${rest[0]}"`);
    return rest[0] as QueueStem;
  };
  const database = (): DatabaseArgs => ({
    url: url('--database-url', values['database-url'] ?? (env.DATABASE_URL || undefined), ['postgres:', 'postgresql:']),
    secret: values['db-secret'],
  });
  const required = (): Database => {
    const given = database();
    if (!given.url) throw new UsageError('--database-url', 'required (or set DATABASE_URL): postgres://[user:password@]host:port/database');
    return { ...given, url: given.url };
  };
  /** The ids after the command, each a UUID, lower-cased, once each. */
  const ids = (field: string, what: string): string[] => {
    if (rest.length === 0) throw new UsageError(field, `give at least one ${what.replace(/^an? /, '')}`);
    rest.forEach((id, i) => {
      if (!UUID_PATTERN.test(id)) throw new UsageError(rest.length > 1 ? `${field}[${i}]` : field, `must be ${what} (a UUID), got "${id}"`);
    });
    return [...new Set(rest.map((id) => id.toLowerCase()))];
  };
  const unused = (allowed: string[]) => {
    for (const [key, value] of Object.entries(values)) {
      if (value !== undefined && !['env', 'endpoint', 'format', ...allowed].includes(key)) {
        throw new UsageError(`--${key}`, `not an option of ${command}`);
      }
    }
  };

  switch (command) {
    case 'dlq list':
      unused([]);
      return { ...common, command };
    case 'dlq show':
      unused(['sample', 'database-url', 'db-secret']);
      return { ...common, command, queue: queue(), sample: integerOption('--sample', values.sample, { min: 0, max: 100 }, 10), database: database() };
    case 'dlq redrive':
      unused(['max', 'rate', 'dry-run']);
      return {
        ...common,
        command,
        queue: queue(),
        max: integerOption('--max', values.max, { min: 1, max: 100_000 }),
        ratePerSecond: integerOption('--rate', values.rate, { min: 1, max: 100 }, REDRIVE_RATE),
        dryRun: values['dry-run'] ?? false,
      };
    case 'orders stuck':
    case 'batches stuck':
      unused(['older-than', 'limit', 'database-url', 'db-secret']);
      return {
        ...common,
        command,
        olderThanMs: values['older-than'] === undefined ? 30 * 60_000 : parseDuration('--older-than', values['older-than']),
        limit: integerOption('--limit', values.limit, { min: 1, max: 10_000 }, 100),
        database: required(),
      };
    case 'batches requeue':
      unused(['database-url', 'db-secret']);
      return { ...common, command, batchIds: ids('batchId', 'a batch id'), database: required() };
    case 'orders failed':
      unused(['since', 'limit', 'database-url', 'db-secret']);
      return {
        ...common,
        command,
        sinceMs: values.since === undefined ? 86_400_000 : parseDuration('--since', values.since),
        limit: integerOption('--limit', values.limit, { min: 1, max: 10_000 }, 100),
        database: required(),
      };
    case 'order':
      unused(['since', 'database-url', 'db-secret']);
      return {
        ...common,
        command,
        id: storyId(rest),
        local: false,
        sinceMs: values.since === undefined ? 7 * 86_400_000 : parseDuration('--since', values.since),
        logFile: LOCAL_LOG_FILE,
        database: database(),
      };
    case 'workers status':
      unused(['log-file']);
      return { ...common, command, logFile: values['log-file'] ?? LOCAL_LOG_FILE };
    case 'keys list':
      unused(['client', 'database-url', 'db-secret']);
      return { ...common, command, clientId: clientOption(values.client), database: required() };
    case 'keys rotate':
      unused(['client', 'old-key-expires-in', 'database-url', 'db-secret']);
      return { ...common, command, clientId: clientOption(values.client), oldKeysExpireInMs: overlapOption(values['old-key-expires-in']), database: required() };
    case 'keys revoke':
      unused(['prefix', 'database-url', 'db-secret']);
      return { ...common, command, prefix: prefixOption(values.prefix), database: required() };
    default:
      unused(['database-url', 'db-secret']);
      return { ...common, command: command as 'orders requeue' | 'orders retry', orderIds: ids('orderId', 'an order id'), database: required() };
  }
}

function clientOption(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--client', 'required: the B2B client id (a UUID)');
  if (!UUID_PATTERN.test(value)) throw new UsageError('--client', `must be a client id (a UUID), got "${value}"`);
  return value.toLowerCase();
}

function overlapOption(value: string | undefined): number {
  if (value === undefined) return OLD_KEY_OVERLAP_DEFAULT_MS;
  const ms = parseDuration('--old-key-expires-in', value);
  if (ms > OLD_KEY_OVERLAP_MAX_MS) throw new UsageError('--old-key-expires-in', `at most ${OLD_KEY_OVERLAP_MAX_MS / 86_400_000}d, got "${value}" (to end a key at once: keys revoke)`);
  return ms;
}

/** A prefix, never a whole key: a key on a command line stays in the shell's history, so one given is refused without being echoed. */
function prefixOption(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--prefix', 'required: the 12 hex characters after dpk_ in the key');
  if (/^dpk_[a-f0-9]{12}_./i.test(value)) throw new UsageError('--prefix', 'that is a whole key: give only its prefix, the 12 hex characters after dpk_ (and treat the key as leaked)');
  const prefix = value.replace(/^dpk_/i, '').replace(/_$/, '');
  if (!API_KEY_PREFIX_PATTERN.test(prefix)) throw new UsageError('--prefix', `must be the 12 lower-case hex characters after dpk_, got "${value}"`);
  return prefix;
}

/** The one id `order` takes: an order id (a UUID) or a request id as the services accept it. */
function storyId(rest: string[]): string {
  if (rest.length !== 1) throw new UsageError('orderId', `give one order id or request id${rest.length > 1 ? `, got ${rest.length}` : ''}`);
  const [id] = rest;
  if (!UUID_PATTERN.test(id) && !REQUEST_ID_PATTERN.test(id)) throw new UsageError('orderId', `must be an order id (a UUID) or a request id ([A-Za-z0-9._:-], 1-128 characters), got "${id}"`);
  return UUID_PATTERN.test(id) ? id.toLowerCase() : id;
}

/** `order <id>` on npm run dev's log file; the database (for the order's row) is the local one unless given. */
function localOrder(values: Record<string, string | boolean | undefined>, rest: string[], env: Record<string, string | undefined>): OpsCommand {
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && !['env', 'format', 'log-file', 'database-url'].includes(key)) throw new UsageError(`--${key}`, `not an option of order on the local log${key === 'since' ? ' (it reads the whole file)' : ''}`);
  }
  const format = (values.format as string | undefined) ?? 'json';
  if (format !== 'json' && format !== 'table') throw new UsageError('--format', `must be json or table, got "${format}"`);
  return {
    env: 'local',
    format,
    command: 'order',
    id: storyId(rest),
    local: true,
    sinceMs: 0,
    logFile: (values['log-file'] as string | undefined) ?? LOCAL_LOG_FILE,
    database: { url: url('--database-url', (values['database-url'] as string | undefined) ?? (env.DATABASE_URL || LOCAL_PG_URL), ['postgres:', 'postgresql:']) },
  };
}
