import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The house rule of every CLI (core/cli.ts, docs/architecture.md): bad input is exit 2 with one
 * line naming the field, never a stack trace, before anything is read or sent. Each CLI is run as
 * its own process with an option it does not know.
 */
const REPO = join(__dirname, '..', '..');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cli: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runNode(['--import', 'tsx', join(REPO, cli), ...args], env);
}

function runNode(nodeArgs: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      nodeArgs,
      // No credentials, no database: a CLI that got past its command line would fail otherwise.
      { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, CDKTF_OUTDIR: join(REPO, 'cdktf.out'), ...env }, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** [CLI, its arguments, the field its line names]; the CLIs whose arguments are positional name that argument. */
const CASES: Array<[string, string[], string]> = [
  ['scripts/cost/cli.ts', ['--env', 'dev', '--bogus'], '--bogus'],
  ['scripts/capacity/cli.ts', ['--env', 'dev', '--bogus'], '--bogus'],
  ['scripts/preflight/cli.ts', ['--env', 'dev', '--bogus'], '--bogus'],
  ['scripts/ops/cli.ts', ['dlq', 'inspect', '--bogus'], '--bogus'],
  ['scripts/release/aliases.ts', ['status', '--env', 'dev', '--bogus'], '--bogus'],
  ['scripts/release/publish-frontend.ts', ['--bogus'], '--bogus'],
  ['scripts/openapi/cli.ts', ['--bogus'], '--bogus'],
  ['scripts/dev.ts', ['--bogus'], '--bogus'],
  ['scripts/local/jobs.ts', ['--bogus'], '--bogus'],
  ['migrations/migrate-cli.ts', ['--bogus'], '--bogus'],
  ['scripts/state.ts', ['--bogus', 'list'], 'stack'],
  ['scripts/release/migration-targets.ts', ['--bogus'], 'stack'],
  ['scripts/synth-variant.ts', ['--bogus'], 'variant'],
  ['scripts/local/pay.ts', ['--bogus'], 'orderId'],
  ['scripts/lint/workflows.ts', ['--bogus'], 'FILE'],
  ['migrations/data-move/cli.ts', ['--source', 'postgres://u@127.0.0.1:1/a', '--target', 'postgres://u@127.0.0.1:1/b', '--bogus'], '--bogus'],
  ['migrations/storage-move/cli.ts', ['--source', 'file:///tmp', '--target', 'assets', '--env', 'local', '--bogus'], '--bogus'],
];

/**
 * The CLIs that take an environment, given a name every JavaScript object inherits: it is no
 * environment, though `environments[name]` answers a function.
 */
const ENV_CASES: Array<[string, string[]]> = [
  ['scripts/cost/cli.ts', []],
  ['scripts/cost/cli.ts', ['--engines']],
  ['scripts/capacity/cli.ts', []],
  ['scripts/preflight/cli.ts', []],
  ['scripts/ops/cli.ts', ['dlq', 'list']],
  ['scripts/release/aliases.ts', ['status']],
];

/** npm run dev's port variables: [variable, a value it refuses]. */
const PORT_CASES: Array<[string, string]> = [
  ['EDGE_PORT', 'abc'],
  ['EMULATOR_PORT', '70000'],
  ['STRIPE_STANDIN_PORT', '1e3'],
  ['PORT_GATEWAY_B2C', '-1'],
];

/** The run ended as bad input does: exit 2, one line naming the field, no stack trace. */
function expectUsageError(r: Run, field: string): void {
  const lines = [...r.stdout.split('\n'), ...r.stderr.split('\n')].filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  expect({ code: r.code, lines }).toEqual({ code: 2, lines: [expect.objectContaining({ level: 'error', field, exitCode: 2, msg: expect.stringMatching(new RegExp(`^${field}: `)) })] });
  expect(r.stdout + r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}

test.each(CASES)('%s %j: exit 2, one line naming %s, no stack trace', async (cli, args, field) => {
  expectUsageError(await run(cli, args), field);
}, 60_000);

test.each(ENV_CASES.flatMap(([cli, args]) => ['constructor', 'hasOwnProperty', '__proto__'].map((name) => [cli, [...args, '--env', name]] as const)))(
  '%s %j: exit 2 naming --env, an environment that does not exist',
  async (cli, args) => {
    expectUsageError(await run(cli, [...args]), '--env');
  },
  60_000,
);

test.each(PORT_CASES)('scripts/dev.ts with %s=%s: exit 2, one line naming it, before anything starts', async (variable, value) => {
  expectUsageError(await run('scripts/dev.ts', [], { [variable]: value }), variable);
}, 60_000);

/**
 * Every package.json script that runs one of the repository's CLIs (`tsx <file>`, `node …`), as
 * [script, node's arguments]: a new script is in the table without being added to it.
 */
const SCRIPTS: Array<[string, string[]]> = Object.entries(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts as Record<string, string>).flatMap(
  ([name, command]): Array<[string, string[]]> => {
    // `exec` makes the CLI npm's own child, which npm's signals reach (storage:move).
    const [program, ...args] = command.replace(/^exec /, '').split(' ');
    if (program === 'tsx') return [[name, ['--import', 'tsx', ...args]]];
    if (program === 'node') return [[name, args]];
    return [];
  },
);

test('the table holds the CLIs the reviewer found refusing --help', () => {
  expect(SCRIPTS.map(([name]) => name)).toEqual(expect.arrayContaining(['state', 'release', 'publish:frontend', 'local:pay', 'local:jobs', 'dev', 'openapi', 'build:functions', 'ops']));
});

test.each(['--help', '-h'].flatMap((flag) => SCRIPTS.map(([name, args]) => [name, flag, args] as const)))('npm run %s -- %s: the usage on stdout naming the command, exit 0', async (name, flag, args) => {
  const r = await runNode([...args, flag]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(new RegExp(`^usage: .*npm run ${name.replace(/:/g, '\\:')}\\b`));
}, 60_000);

/** The run refused the option: exit 2, its name in the output, no stack trace, nothing done. */
test.each(SCRIPTS)('npm run %s -- --no-such-option: exit 2 naming it', async (_name, args) => {
  const r = await runNode([...args, '--no-such-option']);
  expect(r.code).toBe(2);
  expect(r.stderr + r.stdout).toMatch(/^.*--no-such-option.*$/m);
  expect(r.stdout + r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
}, 60_000);
