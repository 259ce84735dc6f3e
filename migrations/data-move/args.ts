import { integerOption, parseOptions, UsageError } from '../../core/cli';
import { checkPostgresUrl } from '../postgres-url';

export type Command = 'copy' | 'replicate' | 'verify' | 'status' | 'cutover' | 'rollback';

export interface Args {
  command: Command;
  sourceUrl: string;
  targetUrl: string;
  /** The source as the TARGET server reaches it (replicate): differs when you go through a tunnel. */
  sourceUrlForTarget: string;
  jobs: number;
  /** Tables above this size (with a single integer key) are split into key ranges copied in parallel. */
  chunkMb: number;
  maintenanceWorkMem: string;
  /** Longest wait for the target to catch up during cutover before writes are re-enabled. */
  lagTimeoutSeconds: number;
}

export const USAGE = `usage: npm run db:move -- [command] --source URL --target URL [options]

commands:
  (none)       --mode copy (default): schema, data in parallel, indexes/constraints, sequences, verification
               --mode replicate: schema, publication + subscription, initial sync, indexes; replication keeps running
               --verify-only: compare source and target (rows, content checksums, sequences) and exit
  status       replication lag of a running replicate
  cutover      block writes on the source, wait for lag zero, sync sequences, verify, drop the replication
  rollback     undo replicate/cutover on the source: writes allowed again, publication and slot dropped

options:
  --source URL              old database (postgres://user:password@host:port/db)
  --target URL              RDS database (must be empty for copy/replicate)
  --mode copy|replicate     default copy
  --verify-only             only verify
  --jobs N                  parallel copy and verification streams (copy, --verify-only, cutover; 1-32, default 2)
  --chunk-mb N              copy: split tables larger than N MB by key range across the streams (default 1024)
  --source-for-target URL   source address as the target server sees it (replicate; default --source)
  --maintenance-work-mem S  copy, replicate: for index builds on the target, at least (default 128MB; a larger server setting is kept)
  --lag-timeout SECONDS     cutover: longest wait for lag zero (default 60)

an option given to a command that does not read it (--source-for-target to a copy) is refused, exit 2

passwords: put them in the URL, or leave them out and set DB_MOVE_SOURCE_PASSWORD / DB_MOVE_TARGET_PASSWORD

exit codes: 0 ok, 1 verification mismatch, 2 bad input or failed precondition (an unreachable server, a target
  that is not empty or refuses the source's schema), 3 unexpected error (a dropped connection, a server error
  mid-run): after 2 fix what the line names, after 3 just rerun the same command; both resume after the
  last committed step`;

function postgresUrl(name: string, value: string | undefined): string {
  if (!value) throw new UsageError(`--${name}`, `is required (a postgres://user:password@host:port/database URL)`);
  return passwordOutOfQuery(`--${name}`, checkPostgresUrl(`--${name}`, value, name === 'target' ? 'DB_MOVE_TARGET_PASSWORD' : 'DB_MOVE_SOURCE_PASSWORD'));
}

/**
 * libpq (and node-pg) also take the password as a `?password=` query parameter. It moves to the
 * URL's password part, the one the tool keeps out of pg_dump's argument (the process list) and out
 * of the subscription's CREATE statement (the target's server log): as a parameter it went into both.
 */
function passwordOutOfQuery(field: string, value: string): string {
  const url = new URL(value);
  // Read as libpq reads it, percent-decoded only (URLSearchParams would take a + for a space).
  const params = url.search.slice(1).split('&').filter(Boolean);
  const given = params.filter((p) => p.startsWith('password='));
  if (!given.length) return value;
  if (url.password || given.length > 1) throw new UsageError(field, 'gives a password twice (user:password@ and ?password=): keep one');
  let password: string;
  try {
    password = decodeURIComponent(given[0].slice('password='.length));
  } catch {
    throw new UsageError(field, 'its ?password= is not percent-encoded: write % as %25 (and & # as %26 %23)');
  }
  const rest = params.filter((p) => p !== given[0]);
  url.search = rest.length ? `?${rest.join('&')}` : '';
  url.password = encodeURIComponent(password);
  return url.toString();
}

/**
 * Passwords may come from the environment (an ECS task injects them from Secrets Manager) so that
 * URLs on command lines and in run-task overrides never carry them.
 */
function withPassword(value: string, envName: string): string {
  const password = process.env[envName];
  const url = new URL(value);
  if (url.password || !password) return value;
  url.password = encodeURIComponent(password);
  return url.toString();
}

/** PostgreSQL's bounds for maintenance_work_mem, in kB (guc_tables.c: 1024 to MAX_KILOBYTES). */
const MAINTENANCE_WORK_MEM_KB = { min: 1024, max: 2_147_483_647 };
const KB_PER_UNIT: Record<string, number> = { kB: 1, MB: 1024, GB: 1024 ** 2 };

/**
 * A size the server takes: one out of its range was refused by the first index build's set_config,
 * mid-run, as an unexpected error (exit 3) that told to rerun the same command, which failed again.
 */
function maintenanceWorkMem(value: string): string {
  const size = /^(\d+)\s*(kB|MB|GB)$/.exec(value);
  if (!size) throw new UsageError('--maintenance-work-mem', `must look like 128MB or 1GB, got "${value}"`);
  const kb = Number(size[1]) * KB_PER_UNIT[size[2]];
  if (kb < MAINTENANCE_WORK_MEM_KB.min || kb > MAINTENANCE_WORK_MEM_KB.max) {
    throw new UsageError('--maintenance-work-mem', `must be from 1MB to 2047GB (PostgreSQL's range for maintenance_work_mem), got "${value}"`);
  }
  return value;
}

/** How a command is asked for on the command line, the name a refusal gives it. */
const COMMAND_NAMES: Record<Command, string> = {
  copy: '--mode copy',
  replicate: '--mode replicate',
  verify: '--verify-only',
  status: 'status',
  cutover: 'cutover',
  rollback: 'rollback',
};

/**
 * The commands that read each option not all of them read. Given to another it would do nothing
 * (`--source-for-target` to a copy, `--lag-timeout` to a replicate): refused, rather than a run
 * that silently ignores what its operator asked for.
 */
const READ_BY = {
  jobs: ['copy', 'verify', 'cutover'],
  'chunk-mb': ['copy'],
  'source-for-target': ['replicate'],
  'maintenance-work-mem': ['copy', 'replicate'],
  'lag-timeout': ['cutover'],
} as const satisfies Record<string, readonly Command[]>;

const listOf = (names: string[]) => (names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names[0]);

export function parse(argv: string[]): Args | 'help' {
  const parsed = parseOptions({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      source: { type: 'string' },
      target: { type: 'string' },
      mode: { type: 'string' },
      'verify-only': { type: 'boolean' },
      jobs: { type: 'string' },
      'chunk-mb': { type: 'string' },
      'source-for-target': { type: 'string' },
      'maintenance-work-mem': { type: 'string' },
      'lag-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const positional = positionals.find((p) => !['status', 'cutover', 'rollback'].includes(p));
  if (positional !== undefined) throw new UsageError('command', `unknown "${positional}": expected status, cutover or rollback (or none)`);
  const mode = values.mode ?? 'copy';
  if (mode !== 'copy' && mode !== 'replicate') throw new UsageError('--mode', `must be copy or replicate, got "${mode}"`);
  // --verify-only and --mode name a command too: beside another, one of them would be ignored
  // (`cutover --verify-only` a real cutover, not a dry run).
  const named = [...positionals, ...(values['verify-only'] ? ['--verify-only'] : []), ...(values.mode !== undefined ? [`--mode ${mode}`] : [])];
  if (named.length > 1) throw new UsageError('command', `one at most (status, cutover, rollback, --verify-only or --mode), got: ${named.join(', ')}`);
  const command: Command = (positionals[0] as Command | undefined) ?? (values['verify-only'] ? 'verify' : mode);
  for (const [option, commands] of Object.entries(READ_BY) as [keyof typeof READ_BY, readonly Command[]][]) {
    if (values[option] !== undefined && !commands.includes(command)) {
      throw new UsageError(`--${option}`, `does nothing with ${COMMAND_NAMES[command]}: it applies to ${listOf(commands.map((c) => COMMAND_NAMES[c]))} only`);
    }
  }
  const sourceUrl = withPassword(postgresUrl('source', values.source), 'DB_MOVE_SOURCE_PASSWORD');
  const memory = maintenanceWorkMem(values['maintenance-work-mem'] ?? '128MB');
  return {
    command,
    sourceUrl,
    targetUrl: withPassword(postgresUrl('target', values.target), 'DB_MOVE_TARGET_PASSWORD'),
    sourceUrlForTarget: values['source-for-target']
      ? withPassword(postgresUrl('source-for-target', values['source-for-target']), 'DB_MOVE_SOURCE_PASSWORD')
      : sourceUrl,
    jobs: integerOption('--jobs', values.jobs, { min: 1, max: 32 }, 2),
    chunkMb: integerOption('--chunk-mb', values['chunk-mb'], { min: 1, max: 1_000_000 }, 1024),
    maintenanceWorkMem: memory,
    lagTimeoutSeconds: integerOption('--lag-timeout', values['lag-timeout'], { min: 1, max: 3600 }, 60),
  };
}
