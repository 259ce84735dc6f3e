import { failure, UsageError } from '../../core/cli';
import { logger } from './log';

/**
 * Verification found a difference at cutover: its report goes to stdout and the exit code is 1,
 * so automation tells it from bad input (2) and from the unexpected (3).
 */
export class MismatchError extends Error {
  constructor(readonly report: string) {
    super('verification found differences');
    this.name = 'MismatchError';
  }
}

/**
 * A step that failed mid-run for a reason that is not the input's: a dropped connection, a server
 * error. It is the unexpected (3), not bad input: the step's transaction rolled back and what
 * committed before is marked, so the same command run again resumes at this step.
 */
export class StepFailed extends Error {
  constructor(step: string, cause: unknown) {
    const { code, message = String(cause) } = cause as PgLikeError;
    super(`${step} failed: ${message}${code && !message.includes(code) ? ` (${code})` : ''}; rerun the same command to resume from there`, { cause });
    this.name = 'StepFailed';
  }
}

/** SQLSTATEs of DDL refused because the object is already there (schema, table, type or other object, function). */
const ALREADY_THERE = new Set(['42P06', '42P07', '42710', '42723']);

/**
 * Why a schema step (a section, a table's indexes and keys) failed. The target refusing the
 * source's DDL is bad input (2), as a rerun would meet it again: an object already there names
 * `--target` (it is not empty); anything else the server refuses (class 42: permission, missing
 * object or function; 0A000 feature not supported; 58P01 a missing extension or library) is what
 * the source's schema uses and the target lacks, naming `--source`. Anything else (a dropped
 * connection, a server error) is the unexpected: StepFailed.
 */
export function schemaStepFailure(step: string, err: unknown): Error {
  const { code, message } = err as PgLikeError;
  const detail = `${message ?? String(err)} (${code})`;
  if (code && ALREADY_THERE.has(code)) {
    return new UsageError('--target', `${step} failed: ${detail}: the target already holds it; the move needs an empty database (drop the object, then rerun)`);
  }
  if (code && (code.startsWith('42') || code === '0A000' || code === '58P01')) {
    return new UsageError(
      '--source',
      `${step} failed: ${detail}: the source's schema uses what the target lacks or does not allow this user ` +
        '(on RDS: an extension not offered, an untrusted language, a superuser-only object); change the source or the target, then rerun',
    );
  }
  return new StepFailed(step, err);
}

/**
 * Why a table's copy failed. A value the target refuses (SQLSTATE class 22, a data exception: bytes
 * that are no UTF-8 from a SQL_ASCII or LATIN1-mislabelled source, a value out of the target's
 * range) is the source's data, which a rerun meets again: bad input naming `--source`, where it was
 * StepFailed's "rerun the same command" at every rerun. Anything else is StepFailed.
 */
export function copyFailure(step: string, err: unknown): Error {
  const { code, message } = err as PgLikeError;
  if (code?.startsWith('22')) {
    return new UsageError(
      '--source',
      `${step} failed: ${message ?? String(err)} (${code}): the target refuses a value the source holds, at every rerun; ` +
        'correct those rows on the source (for bytes that are no UTF-8: convert them to the encoding they were written in), then rerun',
    );
  }
  return new StepFailed(step, err);
}

/**
 * The exit code of a move CLI's failed run: a mismatch is a report on stdout (1); anything else
 * ends as every CLI's failure does (core/cli.ts): bad input or a failed precondition (a UsageError
 * naming the option or what it is about) 2, the unexpected 3. `usage` follows a usage error.
 */
export function exitOnFailure(err: unknown, usage?: string): number {
  if (err instanceof MismatchError) {
    process.stdout.write(`${err.report}\n`);
    return 1;
  }
  return failure(err, { log: logger, usage, failedCode: 3 });
}

/**
 * A move CLI's arguments, or the exit code of a run with nothing to do: 0 when its usage was asked
 * for (printed on stdout), 2 for a command-line mistake (the failure line, then the usage).
 */
export function commandLine<T>(parse: (argv: string[]) => T | 'help', argv: string[], usage: string): T | number {
  let args: T | 'help';
  try {
    args = parse(argv);
  } catch (err) {
    return exitOnFailure(err, usage);
  }
  if (args !== 'help') return args;
  process.stdout.write(`${usage}\n`);
  return 0;
}

interface PgLikeError {
  code?: string;
  message?: string;
}

/** The sentence that says why a connection failed: the side, where, and the cause. */
export function describeConnectError(side: string, where: string, err: unknown): string {
  const e = err as PgLikeError;
  const code = e.code ?? '';
  const reason =
    code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
      ? `unreachable (${code}): nothing accepts connections there; check host, port, security groups or the SSM tunnel`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? `host name does not resolve (${code})`
        : code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '')
          ? 'connection timed out; check network path and security groups'
          : code === '28P01' || code === '28000'
            ? `authentication failed (${code}): wrong user or password, or pg_hba.conf rejects this client`
            : code === '3D000'
              ? 'database does not exist'
              : `${e.message ?? String(err)}${code ? ` (${code})` : ''}`;
  return `cannot connect to the ${side} database ${where}: ${reason}`;
}
