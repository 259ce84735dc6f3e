import { join } from 'node:path';
import { parse } from '../../migrations/data-move/args';
import { checkVersions } from '../../migrations/data-move/preflight';
import { libpqArgs } from '../../migrations/data-move/schema';
import { runCliProcess } from '../support/cli-process';
import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { freePort, query, runCli } from '../support/data-move-harness';

describe('db:move bad input: clear message, exit code 2, no stack trace, nothing written', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmbad_src'), createTestDatabase('dmbad_tgt')]);
    await query(source.url, 'CREATE TABLE t (id int PRIMARY KEY)');
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  async function expectRefused(args: string[], message: RegExp): Promise<void> {
    const res = await runCli(args);
    // The first line is the run's last log line (core/cli.ts): the message, the field it names, the code.
    const line = JSON.parse(res.stderr.split('\n')[0]) as { level: string; msg: string; field: string; exitCode: number };
    expect({ code: res.code, line }).toEqual({ code: 2, line: expect.objectContaining({ level: 'error', msg: expect.stringMatching(message), exitCode: 2 }) });
    expect(line.msg.startsWith(`${line.field}: `)).toBe(true);
    expect(res.stderr).not.toMatch(/^\s+at /m);
  }

  it('names the missing or malformed option', async () => {
    await expectRefused(['--target', target.url], /^--source: is required/);
    await expectRefused(['--source', 'mysql://h/db', '--target', target.url], /^--source: must start with postgres:\/\//);
    await expectRefused(['--source', source.url, '--target', 'postgres://h:5432'], /^--target: names no database/);
    await expectRefused(['--source', source.url, '--target', target.url, '--jobs', '0'], /^--jobs: must be an integer from 1 to 32, got "0"/);
    await expectRefused(['--source', source.url, '--target', target.url, '--mode', 'mirror'], /^--mode: must be copy or replicate, got "mirror"/);
    // Out of PostgreSQL's range: the first index build's set_config refused it mid-run, exit 3 "rerun".
    await expectRefused(['--source', source.url, '--target', target.url, '--maintenance-work-mem', '99999999GB'], /^--maintenance-work-mem: must be from 1MB to 2047GB/);
    await expectRefused(['--source', source.url, '--target', target.url, '--maintenance-work-mem', '512kB'], /^--maintenance-work-mem: must be from 1MB to 2047GB/);
    await expectRefused(['--source', source.url, '--target', target.url, '--sauce', 'x'], /^--sauce: unknown option/);
    await expectRefused(['resume', '--source', source.url, '--target', target.url], /^command: unknown "resume"/);
  });

  it('refuses an option the command given does not read, naming the commands it applies to, before anything is written', async () => {
    const urls = ['--source', source.url, '--target', target.url];
    const refusals: [string[], RegExp][] = [
      [[...urls, '--source-for-target', source.url], /^--source-for-target: does nothing with --mode copy: it applies to --mode replicate only/],
      [['--mode', 'copy', ...urls, '--source-for-target', source.url], /^--source-for-target: does nothing with --mode copy/],
      [['cutover', ...urls, '--source-for-target', source.url], /^--source-for-target: does nothing with cutover: it applies to --mode replicate only/],
      [['status', ...urls, '--jobs', '4'], /^--jobs: does nothing with status: it applies to --mode copy, --verify-only and cutover only/],
      [['--mode', 'replicate', ...urls, '--chunk-mb', '7'], /^--chunk-mb: does nothing with --mode replicate: it applies to --mode copy only/],
      [['--verify-only', ...urls, '--maintenance-work-mem', '256MB'], /^--maintenance-work-mem: does nothing with --verify-only: it applies to --mode copy and --mode replicate only/],
      [[...urls, '--lag-timeout', '30'], /^--lag-timeout: does nothing with --mode copy: it applies to cutover only/],
      // --verify-only and --mode name a command: beside another one of them would be ignored, a cutover run for a dry one.
      [['cutover', ...urls, '--verify-only'], /^command: one at most \(status, cutover, rollback, --verify-only or --mode\), got: cutover, --verify-only/],
      [['status', ...urls, '--mode', 'replicate'], /^command: one at most .*, got: status, --mode replicate/],
      [['--verify-only', '--mode', 'replicate', ...urls], /^command: one at most .*, got: --verify-only, --mode replicate/],
    ];
    for (const [args, message] of refusals) await expectRefused(args, message);
    const [t] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_data_move'`);
    expect(t.n).toBe(0);
    // Each option where it is read still parses.
    for (const args of [
      [...urls, '--jobs', '4', '--chunk-mb', '7', '--maintenance-work-mem', '256MB'],
      ['--mode', 'replicate', ...urls, '--source-for-target', source.url, '--maintenance-work-mem', '256MB'],
      ['--verify-only', ...urls, '--jobs', '4'],
      ['cutover', ...urls, '--jobs', '4', '--lag-timeout', '30'],
      ['status', ...urls],
      ['rollback', ...urls],
    ]) {
      expect(parse(args)).toMatchObject({ sourceUrl: source.url });
    }
  });

  it('names a password that is not percent-encoded, without printing it, before anything is written', async () => {
    const withPassword = (url: string, password: string) => url.replace('postgres://postgres@', `postgres://postgres:${password}@`);
    for (const option of ['--source', '--target'] as const) {
      const urls = { '--source': source.url, '--target': target.url };
      urls[option] = withPassword(urls[option], '100%zzSecret');
      const res = await runCli(['--source', urls['--source'], '--target', urls['--target']]);
      expect(res.stderr).not.toContain('zzSecret');
      await expectRefused(['--source', urls['--source'], '--target', urls['--target']], new RegExp(`^${option}: its password is not percent-encoded: write % as %25`));
    }
    const [t] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_data_move'`);
    expect(t.n).toBe(0);
  });

  it("a password given as libpq's ?password= goes to pg_dump through the environment, not its argument; given twice it is refused", async () => {
    const args = parse(['--source', 'postgres://u@db.example:5432/app?sslmode=require&password=p%40ss+Word', '--target', target.url]);
    if (args === 'help') throw new Error('parsed as help');
    const { dbname, env } = libpqArgs(args.sourceUrl);
    expect(dbname).toBe('postgres://u@db.example:5432/app?sslmode=require');
    // As libpq decodes it: percent-encoding only, a + is a +.
    expect(env.PGPASSWORD).toBe('p@ss+Word');
    await expectRefused(['--source', 'postgres://u:one@127.0.0.1/app?password=two', '--target', target.url], /^--source: gives a password twice/);
  });

  it('names a TLS setting libpq would refuse (the URL or PGSSLMODE/PGSSLROOTCERT), before anything is written', async () => {
    await expectRefused(['--source', `${source.url}?sslmode=verify_full`, '--target', target.url], /^--source: sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, got "verify_full"/);
    await expectRefused(['--source', source.url, '--target', `${target.url}?sslmode=verify-full&sslrootcert=/no/such/ca.pem`], /^--target: sslrootcert \/no\/such\/ca\.pem cannot be read \(ENOENT\)/);
    for (const [variable, value, message] of [
      ['PGSSLMODE', 'requir', /^PGSSLMODE: must be one of disable, allow, prefer, require, verify-ca, verify-full, got "requir"/],
      ['PGSSLROOTCERT', '/no/such/ca.pem', /^PGSSLROOTCERT: \/no\/such\/ca\.pem cannot be read \(ENOENT\)/],
    ] as const) {
      const res = await runCliProcess(join(__dirname, '../../migrations/data-move/cli.ts'), ['--source', source.url, '--target', target.url], { env: { [variable]: value } });
      expect(res.code).toBe(2);
      expect(JSON.parse(res.stderr.split('\n')[0])).toMatchObject({ field: variable, msg: expect.stringMatching(message) });
    }
    const [t] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_data_move'`);
    expect(t.n).toBe(0);
  });

  it('reports an unreachable server and a missing database', async () => {
    const port = await freePort();
    await expectRefused(
      ['--source', `postgres://postgres@127.0.0.1:${port}/app`, '--target', target.url],
      new RegExp(`^--source: cannot connect to the source database 127\\.0\\.0\\.1:${port}/app: unreachable \\(ECONNREFUSED\\)`),
    );
    await expectRefused(['--source', source.url, '--target', `${target.url}_nope`], /^--target: cannot connect to the target database .*: database does not exist/);
    const [t] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = '_data_move'`);
    expect(t.n).toBe(0);
  });

  it('refuses a cutover without a running replication', async () => {
    await expectRefused(['cutover', '--source', source.url, '--target', target.url], /^--target: no running replication to cut over/);
  });

  it('refuses a major-version downgrade and too old a source', () => {
    expect(() => checkVersions({ major: 16, version: '16.4' }, { major: 15, version: '15.20' })).toThrow(
      'major-version downgrade refused: source is PostgreSQL 16.4, target is 15.20',
    );
    expect(() => checkVersions({ major: 10, version: '10.23' }, { major: 16, version: '16.4' })).toThrow(/too old/);
    expect(() => checkVersions({ major: 15, version: '15.20' }, { major: 16, version: '16.4' })).not.toThrow();
  });

  it("names --target for an object it already holds, --source for what it refuses of the source's schema", async () => {
    const role = `dmbad_limited_${Date.now()}`;
    const [schemaSource, holding, limited] = await Promise.all([createTestDatabase('dmbad_src'), createTestDatabase('dmbad_tgt'), createTestDatabase('dmbad_tgt')]);
    try {
      await query(schemaSource.url, `CREATE EXTENSION file_fdw; CREATE TYPE state AS ENUM ('a'); CREATE TABLE t (id int PRIMARY KEY, s state)`);
      // Not a relation, so the preflight lets it through; the pre-data schema meets it.
      await query(holding.url, `CREATE TYPE state AS ENUM ('b')`);
      await expectRefused(
        ['--source', schemaSource.url, '--target', holding.url],
        /^--target: applying the pre-data schema failed: type "state" already exists \(42710\): the target already holds it/,
      );
      // As on RDS, the target's user is no superuser: file_fdw is not a trusted extension.
      await admin((c) => c.query(`CREATE ROLE ${role} LOGIN; ALTER DATABASE "${limited.name}" OWNER TO ${role}`));
      const asRole = new URL(limited.url);
      asRole.username = role;
      await expectRefused(
        ['--source', schemaSource.url, '--target', asRole.toString()],
        /^--source: applying the pre-data schema failed: permission denied to create extension "file_fdw" \(42501\): the source's schema uses what the target lacks/,
      );
    } finally {
      await Promise.all([schemaSource.drop(), holding.drop(), limited.drop()]);
      await admin((c) => c.query(`DROP ROLE IF EXISTS ${role}`));
    }
  });
});
