import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A second copy started into a target while one runs (a task started twice, a second terminal)
 * would resume the same state and copy the same tables beside it: it is refused at once, naming
 * --target and the session that holds the target, and the first run ends as if alone.
 */
describe('db:move copy started twice into one target', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmtwice_src'), createTestDatabase('dmtwice_tgt')]);
    await query(source.url, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 400000) g`);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('the second is exit 2 naming --target and the first run; the first verifies OK', async () => {
    const args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
    let second: ReturnType<typeof runCli> | undefined;
    const first = runCli(args, (line) => {
      if (!second && line.includes('"section":"pre-data"')) second = runCli(args);
      return false;
    });
    const one = await first;
    const two = await second!;
    expect(two.code).toBe(2);
    const line = JSON.parse(two.stderr.split('\n')[0]);
    expect(line).toMatchObject({ field: '--target', exitCode: 2 });
    expect(line.msg).toMatch(/another db:move run holds this target \(session \d+, application data-move/);
    expect(one.stdout).toContain('verification OK');
    expect(one.code).toBe(0);
  });
});
