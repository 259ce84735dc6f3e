import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A copy interrupted after the schema went over resumes onto that schema: a table added to the
 * source since (or a column) has nowhere to go. The rerun says so and what to do, once, instead
 * of failing on the COPY and asking for a rerun that fails the same way.
 */
describe('db:move copy resumed after the source schema changed', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  let args: string[];

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmchg_src'), createTestDatabase('dmchg_tgt')]);
    await query(
      source.url,
      `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 400000) g;
       CREATE TABLE b (id int PRIMARY KEY, v text); INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 100) g;`,
    );
    args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('refuses to resume naming what changed (exit 2, --source), and resumes once the schema is back', async () => {
    const killed = await runCli(args, (line) => line.includes('"section":"pre-data"'));
    expect(killed.signal).toBe('SIGKILL');
    await query(source.url, `CREATE TABLE added (id int PRIMARY KEY); ALTER TABLE b ADD COLUMN extra int`);

    const refused = await runCli(args);
    expect(refused.code).toBe(2);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line).toContain('public.added (new)');
    expect(line).toContain('public.b (columns changed)');
    expect(line).toContain('fresh target database');
    expect(line).not.toContain('rerun the same command');

    await query(source.url, `DROP TABLE added; ALTER TABLE b DROP COLUMN extra`);
    const resumed = await runCli(args);
    expect(resumed.stdout).toContain('verification OK');
    expect(resumed.code).toBe(0);
  });
});

describe('db:move copy while a table is added to the source', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmadd_src'), createTestDatabase('dmadd_tgt')]);
    await query(source.url, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 400000) g`);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('the copy (its snapshot) does not hold it: a mismatch naming it, the target kept unfinished, the rerun says to start over', async () => {
    const args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
    let added: Promise<unknown> | undefined;
    const r = await runCli(args, (line) => {
      if (!added && line.includes('"section":"pre-data"')) added = query(source.url, `CREATE TABLE added (id int PRIMARY KEY); INSERT INTO added VALUES (1)`);
      return false;
    });
    await added;
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/public\.added +- +- +MISMATCH: created on the source during the copy/);
    expect(r.stdout).toContain('verification FAILED: mismatch in public.added');
    expect(r.stdout).not.toContain('no primary key');
    expect(await query(target.url, `SELECT phase FROM _data_move.run`)).toEqual([{ phase: 'sequences' }]);
    const rerun = await runCli(args);
    expect(rerun.code).toBe(2);
    expect(rerun.stderr).toContain('public.added (new)');
  });
});
