import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli } from '../support/data-move-harness';

/**
 * A copy that fails while another table's index build is in flight ends the run: the build's
 * session, opened or handed back after the failure had closed the others, stayed open, and the
 * process printed its failure line and never exited (an ECS task that never stops).
 * The failure here: an old SQL_ASCII source holding bytes that are no UTF-8, refused by the
 * target's COPY (22021), while the large table beside it copies and then builds its index. That
 * is the source's data, which every rerun meets again: exit 2 naming --source and the table, where
 * it was exit 3 and "rerun the same command".
 */
describe('db:move failing mid-copy while an index builds', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    source = await createTestDatabase('dmfail_src');
    await admin((c) => c.query(`DROP DATABASE "${source.name}"`));
    await admin((c) => c.query(`CREATE DATABASE "${source.name}" ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`));
    target = await createTestDatabase('dmfail_tgt');
    await query(
      source.url,
      `CREATE TABLE big (id int PRIMARY KEY, v text); CREATE INDEX big_v ON big (v);
       INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g;
       CREATE TABLE latin (id int PRIMARY KEY, name text);
       INSERT INTO latin VALUES (1, convert_from('\\x436166e9', 'SQL_ASCII'));`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('exits 2 naming --source and the table, without waiting for ever', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--jobs', '2']);
    const failed = events(res.stderr).find((e) => e.level === 'error');
    expect(failed).toMatchObject({
      msg: expect.stringMatching(/^--source: copying public\.latin failed: invalid byte sequence for encoding "UTF8": 0xe9 \(22021\): the target refuses a value the source holds/),
      field: '--source',
      exitCode: 2,
    });
    expect(res.code).toBe(2);
    // The big table's copy committed before the failure: a rerun takes it as done.
    expect(await query(target.url, `SELECT name FROM _data_move.copied_table`)).toEqual([{ name: 'public.big' }]);
  }, 30_000);
});
