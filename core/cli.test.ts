import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { asksForHelp, failure, integerOption, parseOptions, UsageError } from './cli';
import { ConfigError } from './errors';
import { createLogger } from './logger';

/** The CLI shell: bad input is exit 2 naming the field, anything else one line and the CLI's failed code. */
const capture = () => {
  const lines: string[] = [];
  const sink = (line: string) => void lines.push(line);
  return { lines, sink, log: createLogger({ component: 'demo' }, 'info', sink), parsed: () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) };
};

test('a UsageError names its field first and exits 2, or the code it was given', () => {
  const error = new UsageError('--env', 'unknown environment "staging"');
  expect(error.message).toBe('--env: unknown environment "staging"');
  expect({ field: error.field, exitCode: error.exitCode, name: error.name }).toEqual({ field: '--env', exitCode: 2, name: 'UsageError' });
  expect(new UsageError('tables', 'differ', 1).exitCode).toBe(1);
});

test('failure: a usage error is its line with the field, then the usage; exit 2', () => {
  const out = capture();
  expect(failure(new UsageError('orderId', 'must be a UUID'), { log: out.log, usage: 'usage: demo <orderId>', usageSink: out.sink })).toBe(2);
  expect(out.lines).toHaveLength(2);
  expect(JSON.parse(out.lines[0])).toEqual({ time: expect.any(String), level: 'error', msg: 'orderId: must be a UUID', component: 'demo', field: 'orderId', exitCode: 2 });
  expect(out.lines[1]).toBe('usage: demo <orderId>');
});

test('failure: a ConfigError (a variable the config reader refused) is bad input too, without a field', () => {
  const out = capture();
  expect(failure(new ConfigError('invalid environment: DB_PORT: expected number'), { log: out.log, usage: 'usage', usageSink: out.sink })).toBe(2);
  expect(out.parsed()).toEqual([expect.objectContaining({ msg: 'invalid environment: DB_PORT: expected number', exitCode: 2 })]);
  expect(out.parsed()[0]).not.toHaveProperty('field');
});

test('failure: anything else is one line with its name and no stack, the CLI failed code (1 unless told), no usage', () => {
  const out = capture();
  expect(failure(new TypeError('boom'), { log: out.log, usage: 'usage', usageSink: out.sink })).toBe(1);
  expect(failure('thrown string', { log: out.log, failedCode: 3 })).toBe(3);
  expect(out.lines).toHaveLength(2);
  expect(out.parsed()).toEqual([
    { time: expect.any(String), level: 'error', msg: 'boom', component: 'demo', name: 'TypeError', exitCode: 1 },
    { time: expect.any(String), level: 'error', msg: 'thrown string', component: 'demo', exitCode: 3 },
  ]);
  expect(out.lines.join('\n')).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
});

describe('parseOptions: node:util parseArgs whose mistakes are UsageErrors naming the option', () => {
  const options = { env: { type: 'string' }, json: { type: 'boolean' }, env2: { type: 'string', short: 'e' } } as const;
  const mistake = (args: string[], allowPositionals = false) => {
    try {
      parseOptions({ args, options, allowPositionals });
    } catch (error) {
      return { instance: error instanceof UsageError, field: (error as UsageError).field, message: (error as Error).message };
    }
    throw new Error('no error');
  };

  test('the values it parses are typed as parseArgs types them', () => {
    const { values, positionals } = parseOptions({ args: ['--env', 'dev', '--json', 'x'], options, allowPositionals: true });
    const env: string | undefined = values.env;
    expect({ env, json: values.json, positionals }).toEqual({ env: 'dev', json: true, positionals: ['x'] });
  });

  test.each([
    [['--region', 'x'], '--region', '--region: unknown option (known: --env, --json, --env2, --help)'],
    [['--env'], '--env', '--env: needs a value'],
    [['--env', '--json'], '--env', '--env: needs a value'],
    [['-e'], '--env2', '--env2: needs a value'],
    [['--json=yes'], '--json', '--json: takes no value'],
    [['stray'], 'arguments', 'arguments: unexpected "stray": this command takes options only'],
  ])('%j', (args, field, message) => {
    expect(mistake(args)).toEqual({ instance: true, field, message });
  });

  test.each([
    [['--env', '-1'], { env: '-1' }],
    [['-e', '-2.5', '--json'], { env2: '-2.5', json: true }],
    [['--env', '-1', '--env2', '-3'], { env: '-1', env2: '-3' }],
  ])('a negative number is the value of the option before it: %j', (args, values) => {
    expect({ ...parseOptions({ args, options }).values }).toEqual(values);
  });

  test('a negative number given to a numeric option is refused by its range, naming it (`npm run ops … --sample -1`), not as a missing value', () => {
    const { values } = parseOptions({ args: ['--sample', '-1'], options: { sample: { type: 'string' } } });
    expect(() => integerOption('--sample', values.sample, { min: 0, max: 100 }, 10)).toThrow(new UsageError('--sample', 'must be an integer from 0 to 100, got "-1"'));
  });
});

describe('integerOption: a whole number in its range, in decimal digits, or the fallback when absent', () => {
  test('absent: the fallback, or undefined without one', () => {
    expect(integerOption('--jobs', undefined, { min: 1, max: 32 }, 2)).toBe(2);
    expect(integerOption('--max', undefined, { min: 1, max: 10 })).toBeUndefined();
  });

  test.each(['1', '32', '07'])('%j is taken', (value) => {
    expect(integerOption('--jobs', value, { min: 1, max: 32 }, 2)).toBe(Number(value));
  });

  test('a negative number where the range allows it', () => {
    expect(integerOption('--offset', '-3', { min: -5, max: 5 })).toBe(-3);
  });

  test.each(['0', '33', '', ' 4', '1e1', '0x10', '2.0', 'four', '4abc'])('%j is bad input naming the option', (value) => {
    expect(() => integerOption('--jobs', value, { min: 1, max: 32 }, 2)).toThrow(new UsageError('--jobs', `must be an integer from 1 to 32, got "${value}"`));
  });
});

test('a CLI run through runCli: a bad option is exit 2 naming it, then the usage; an unexpected error is exit 1, one line, no stack', () => {
  const demo = join(__dirname, '..', 'test', 'support', 'demo-cli.ts');
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', demo, ...args], { encoding: 'utf8' });
  const bad = run('--bogus');
  expect(bad.status).toBe(2);
  const [line, ...usage] = bad.stderr.trim().split('\n');
  expect(JSON.parse(line)).toMatchObject({ level: 'error', msg: '--bogus: unknown option (known: --fail, --code, --help)', field: '--bogus', exitCode: 2 });
  expect(usage).toEqual(['usage: demo [--fail] [--code N]']);
  const failed = run('--fail');
  expect(failed.status).toBe(1);
  expect(failed.stderr.trim().split('\n')).toHaveLength(1);
  expect(JSON.parse(failed.stderr)).toMatchObject({ level: 'error', msg: 'it broke', name: 'Error', exitCode: 1 });
  expect(failed.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  const done = run('--code', '5');
  expect({ status: done.status, stdout: done.stdout, stderr: done.stderr }).toEqual({ status: 5, stdout: 'done\n', stderr: '' });
});

describe('asksForHelp: --help or -h before a `--`', () => {
  test.each([[['--help']], [['-h']], [['dlq', 'list', '--help']], [['--env', 'dev', '-h', '--json']]])('%j asks', (argv) => {
    expect(asksForHelp(argv)).toBe(true);
  });

  test.each([[[]], [['--env', 'dev']], [['--', '--help']], [['--helpful']], [['-hx']]])('%j does not', (argv) => {
    expect(asksForHelp(argv)).toBe(false);
  });
});

test('a CLI run through runCli answers --help with its usage on stdout, exit 0, without running its main', () => {
  const demo = join(__dirname, '..', 'test', 'support', 'demo-cli.ts');
  const help = spawnSync(process.execPath, ['--import', 'tsx', demo, '--fail', '--help'], { encoding: 'utf8' });
  expect({ status: help.status, stdout: help.stdout, stderr: help.stderr }).toEqual({ status: 0, stdout: 'usage: demo [--fail] [--code N]\n', stderr: '' });
});
