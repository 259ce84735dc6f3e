import { integerOption, IntegerRange, parseOptions, UsageError } from '../core/cli';

/**
 * The one count bench:workers (rounds) and bench:synth (runs) take: as `--<name> N`, the way the
 * other benches take theirs, or as their one positional argument (`npm run bench:synth -- 5`), the
 * way they always have.
 */
export function countArgument(argv: string[], name: string, range: IntegerRange, fallback: number): number {
  const { values, positionals } = parseOptions({ args: argv, allowPositionals: true, options: { [name]: { type: 'string' } } });
  const option = values[name] as string | undefined;
  if (positionals.length > 1) throw new UsageError('arguments', `unexpected "${positionals[1]}": the one argument is ${name}`);
  if (positionals.length === 1 && option !== undefined) throw new UsageError(`--${name}`, `given twice (also as the argument ${name})`);
  return option !== undefined ? integerOption(`--${name}`, option, range, fallback) : integerOption(name, positionals[0], range, fallback);
}
