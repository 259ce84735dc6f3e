import { parseArgs } from 'node:util';
import { QUEUES } from '../../core/contract';
import { environments } from '../../stacks/config';

/**
 * The command line of `npm run ops -- <group> <command> [options]`. Every mistake is a
 * UsageError naming the field it is about (`--queue`, `orderId`…): the CLI prints it with the
 * usage and exits 2, before anything is read or sent.
 */
export const USAGE = `usage: npm run ops -- <command> --env <env> [options]

commands:
  dlq inspect   --queue doc-jobs|batch-jobs [--sample N]
                counts of the queue and its DLQ, age of the oldest sampled message, and up to N (default 10)
                messages (body, request id, receive count, first receive); each is held 30 s at most, then released
  dlq redrive   --queue doc-jobs|batch-jobs [--max N] [--dry-run]
                moves the DLQ's messages (at most N; default: those there at the start) back to their queue,
                body and attributes kept
  orders stuck  [--older-than 30m] [--limit N] [--database-url URL]
                paid/queued/generating orders that have not moved for longer than the threshold, and what the
                sweeper would do with each (read-only)
  orders requeue <orderId>... [--database-url URL]
                sends the doc job of each paid/queued/generating order again (reads the orders, writes nothing)

options:
  --env ENV             ${Object.keys(environments).join(' | ')} (any name with --endpoint: local for npm run dev)
  --endpoint URL        an SQS emulator instead of AWS (npm run dev: http://127.0.0.1:4566)
  --format json|table   how results are printed on stdout (default json); log lines go to stderr
  --database-url URL    postgres://… (default DATABASE_URL); without a user in it, the credentials come from
                        the secret --db-secret (default docplatform-<env>-db-app)

exit codes: 0 done, 1 failed (AWS or database error, a message not moved), 2 bad command line`;

export class UsageError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'UsageError';
  }
}

export type QueueStem = (typeof QUEUES)[keyof typeof QUEUES];
export type Format = 'json' | 'table';

interface Common {
  env: string;
  endpoint?: string;
  format: Format;
}

export type OpsCommand =
  | (Common & { command: 'dlq inspect'; queue: QueueStem; sample: number })
  | (Common & { command: 'dlq redrive'; queue: QueueStem; max?: number; dryRun: boolean })
  | (Common & { command: 'orders stuck'; olderThanMs: number; limit: number; database: DatabaseArgs })
  | (Common & { command: 'orders requeue'; orderIds: string[]; database: DatabaseArgs });

export interface DatabaseArgs {
  url?: string;
  secret?: string;
}

const COMMANDS = ['dlq inspect', 'dlq redrive', 'orders stuck', 'orders requeue'] as const;
const ENV_NAME = /^[a-z][a-z0-9-]{0,20}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `90s`, `2h`, `1d` → milliseconds. */
export function parseDuration(field: string, value: string): number {
  const m = /^(\d{1,6})(s|m|h|d)$/.exec(value.trim());
  if (!m || Number(m[1]) === 0) throw new UsageError(field, `expected a duration like 90s, 30m, 2h or 1d, got "${value}"`);
  return Number(m[1]) * UNITS[m[2]];
}

function integer(field: string, value: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(field, `must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
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
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        env: { type: 'string' },
        endpoint: { type: 'string' },
        format: { type: 'string' },
        queue: { type: 'string' },
        sample: { type: 'string' },
        max: { type: 'string' },
        'dry-run': { type: 'boolean' },
        'older-than': { type: 'string' },
        limit: { type: 'string' },
        'database-url': { type: 'string' },
        'db-secret': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    const option = /'(--?[\w-]+)/.exec((err as Error).message)?.[1] ?? 'arguments';
    throw new UsageError(option, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return 'help';
  const command = positionals.slice(0, 2).join(' ');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new UsageError('command', `unknown command "${command}" (commands: ${COMMANDS.join(', ')})`);
  }
  const rest = positionals.slice(2);
  if (command !== 'orders requeue' && rest.length > 0) throw new UsageError('arguments', `${command} takes no argument, got "${rest.join(' ')}"`);

  if (!values.env) throw new UsageError('--env', `required (${Object.keys(environments).join(', ')}; another name with --endpoint)`);
  const endpoint = url('--endpoint', values.endpoint, ['http:', 'https:']);
  if (!ENV_NAME.test(values.env)) throw new UsageError('--env', `must be a lower-case environment name, got "${values.env}"`);
  if (!endpoint && !environments[values.env]) {
    throw new UsageError('--env', `unknown environment "${values.env}" (${Object.keys(environments).join(', ')}; another name needs --endpoint)`);
  }
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'table') throw new UsageError('--format', `must be json or table, got "${format}"`);
  const common: Common = { env: values.env, endpoint, format };

  const queue = (): QueueStem => {
    const stems = Object.values(QUEUES) as string[];
    if (!values.queue) throw new UsageError('--queue', `required (${stems.join(' or ')})`);
    if (!stems.includes(values.queue)) throw new UsageError('--queue', `must be ${stems.join(' or ')}, got "${values.queue}"`);
    return values.queue as QueueStem;
  };
  const database = (): DatabaseArgs => ({
    url: url('--database-url', values['database-url'] ?? (env.DATABASE_URL || undefined), ['postgres:', 'postgresql:']),
    secret: values['db-secret'],
  });
  const unused = (allowed: string[]) => {
    for (const [key, value] of Object.entries(values)) {
      if (value !== undefined && !['env', 'endpoint', 'format', 'help', ...allowed].includes(key)) {
        throw new UsageError(`--${key}`, `not an option of ${command}`);
      }
    }
  };

  switch (command) {
    case 'dlq inspect':
      unused(['queue', 'sample']);
      return { ...common, command, queue: queue(), sample: integer('--sample', values.sample, 10, 0, 100)! };
    case 'dlq redrive':
      unused(['queue', 'max', 'dry-run']);
      return { ...common, command, queue: queue(), max: integer('--max', values.max, undefined, 1, 100_000), dryRun: values['dry-run'] ?? false };
    case 'orders stuck':
      unused(['older-than', 'limit', 'database-url', 'db-secret']);
      return {
        ...common,
        command,
        olderThanMs: values['older-than'] === undefined ? 30 * 60_000 : parseDuration('--older-than', values['older-than']),
        limit: integer('--limit', values.limit, 100, 1, 10_000)!,
        database: database(),
      };
    default: {
      unused(['database-url', 'db-secret']);
      if (rest.length === 0) throw new UsageError('orderId', 'give at least one order id');
      rest.forEach((id, i) => {
        if (!UUID.test(id)) throw new UsageError(rest.length > 1 ? `orderId[${i}]` : 'orderId', `must be an order id (a UUID), got "${id}"`);
      });
      return { ...common, command: 'orders requeue', orderIds: [...new Set(rest.map((id) => id.toLowerCase()))], database: database() };
    }
  }
}
