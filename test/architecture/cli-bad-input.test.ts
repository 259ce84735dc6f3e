import { execFile } from 'node:child_process';
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
  return new Promise((done) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(REPO, cli), ...args],
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
