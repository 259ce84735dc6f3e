import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from './errors';
import { type LogSink, type Logger, stderrSink } from './logger';

/**
 * The shell of every command-line tool: one error for bad input, one mapping of errors to exit
 * codes, one failure line. Bad input exits 2 with a line naming the field (`--env`,
 * `DATABASE_URL`, `orderId`…) and the usage after it; anything else is one line without a stack
 * trace and the CLI's "failed" code (1 unless it documents another). Both lines are the CLI's own
 * log (core/logger.ts), on the sink it chose.
 */

/** Bad input: the message starts with the field it is about. `exitCode` is 2 but for a CLI that documents another (a mismatch that is a report, say). */
export class UsageError extends Error {
  constructor(
    readonly field: string,
    message: string,
    readonly exitCode = 2,
  ) {
    super(`${field}: ${message}`);
    this.name = 'UsageError';
  }
}

export interface CliShell {
  /** The CLI's log: the failure line is written there. */
  log: Logger;
  /** Printed after the line of a usage error. */
  usage?: string;
  /** Where the usage goes (stderr). */
  usageSink?: LogSink;
  /** The exit code of an error that is not bad input (1). */
  failedCode?: number;
}

/**
 * Writes the line that ends a failed run and returns its exit code. A ConfigError (the config
 * reader's: a variable missing or malformed, named in its message) is bad input as a UsageError is.
 */
export function failure(error: unknown, { log, usage, usageSink = stderrSink, failedCode = 1 }: CliShell): number {
  if (error instanceof UsageError || error instanceof ConfigError) {
    const exitCode = error instanceof UsageError ? error.exitCode : 2;
    log.error(error.message, { ...(error instanceof UsageError ? { field: error.field } : {}), exitCode });
    if (usage) usageSink(usage);
    return exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  log.error(message, { ...(error instanceof Error ? { name: error.name } : {}), exitCode: failedCode });
  return failedCode;
}

/** What runCli needs of a CLI: its usage is required, as it is the answer to `--help`. */
export interface RunCliShell extends CliShell {
  usage: string;
}

/**
 * `--help` or `-h` among the arguments before a `--` (after which an argument is the CLI's data,
 * not an option): the one test of every CLI, whatever its own arguments are (positional, a
 * command, options).
 */
export function asksForHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Runs a CLI's main. A number it returns becomes the exit code once the process has nothing
 * left to do (a main that returns nothing keeps running: a server); a failure ends the process at
 * once, as a half-done run may hold a pool or a server open. Asked for help, it prints the usage
 * on stdout and exits 0 without running main: nothing is read, started or sent.
 */
export function runCli(main: () => number | void | Promise<number | void>, shell: RunCliShell): void {
  if (asksForHelp(process.argv.slice(2))) {
    process.stdout.write(`${shell.usage}\n`);
    process.exitCode = 0;
    return;
  }
  // The AWS SDK's Node-version notice is nine lines of plain text on stderr, where the CLIs write
  // their JSON log lines: it would break a `| jq` of every command that makes an AWS client. The
  // project's Node version is package.json's engines (Lambda and the images run Node 22).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  Promise.resolve()
    .then(main)
    .then(
      (code) => {
        if (code !== undefined) process.exitCode = code;
      },
      (error: unknown) => process.exit(failure(error, shell)),
    );
}

/**
 * `table[name]` when the table has a key of that name: a name every object inherits
 * (`constructor`, `__proto__`, `toString`) names nothing, where `table[name]` would answer a
 * function and let `--env constructor` past the check of a known environment.
 */
export function ownEntry<T>(table: Record<string, T>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** The inclusive range an integer option accepts. */
export interface IntegerRange {
  min: number;
  max: number;
}

/**
 * An option's value as a whole number in the range, written in decimal digits (not `1e3`, `0x10`
 * or `2.0`, which Number() would take), or `fallback` when the option is absent; anything else is
 * bad input naming the option.
 */
export function integerOption(field: string, value: string | undefined, range: IntegerRange): number | undefined;
export function integerOption(field: string, value: string | undefined, range: IntegerRange, fallback: number): number;
export function integerOption(field: string, value: string | undefined, { min, max }: IntegerRange, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || n < min || n > max) throw new UsageError(field, `must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

/** The option a parseArgs message names first, by its long name when it gives both (`'-e, --env <value>'`). */
const OPTION = /'(?:-\w, )?(-{1,2}[\w-]+)/;

/** A value parseArgs finds ambiguous (it may be an option) that is a negative number: no option is named so. */
const NEGATIVE_NUMBER = /^-\d/;

/**
 * The arguments with a negative number joined to the option before it (`--sample -1` as `--sample=-1`, `-s -1` as
 * `-s-1`), so that the option's own check says what it accepts (`must be an integer from 0 to 100`) where parseArgs
 * said it needs a value; undefined when the ambiguous value is not a negative number.
 */
function negativeValueJoined(args: readonly string[], message: string): string[] | undefined {
  const written = /^Option '(-{1,2}[\w-]+)' argument is ambiguous/.exec(message)?.[1];
  const at = args.findIndex((arg, i) => arg === written && NEGATIVE_NUMBER.test(args[i + 1] ?? ''));
  if (at < 0) return undefined;
  const joined = written?.startsWith('--') ? `${written}=${args[at + 1]}` : `${written}${args[at + 1]}`;
  return [...args.slice(0, at), joined, ...args.slice(at + 2)];
}

/**
 * node:util parseArgs (strict unless told), whose errors become a UsageError naming the option:
 * an unknown one (with the known ones, --help among them), one without its value, a value given to a flag, a
 * positional argument where none is taken.
 */
export function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (!code?.startsWith('ERR_PARSE_ARGS_')) throw error;
    const option = OPTION.exec(message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      // runCli answers --help for every CLI, so it is one of the options a CLI knows.
      const known = [...new Set([...Object.keys(config.options ?? {}), 'help'])].map((o) => `--${o}`);
      throw new UsageError(option ?? 'arguments', `unknown option (known: ${known.join(', ')})`);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const argument = /'([^']*)'/.exec(message)?.[1];
      throw new UsageError('arguments', `unexpected ${argument === undefined ? 'argument' : `"${argument}"`}: this command takes options only`);
    }
    if (/does not take an argument/.test(message)) throw new UsageError(option ?? 'arguments', 'takes no value');
    const joined = /ambiguous/.test(message) && negativeValueJoined(config.args ?? process.argv.slice(2), message);
    if (joined) return parseOptions({ ...config, args: joined } as T);
    if (/argument missing|ambiguous/.test(message)) throw new UsageError(option ?? 'arguments', 'needs a value');
    throw new UsageError(option ?? 'arguments', message.split('\n')[0]);
  }
}
