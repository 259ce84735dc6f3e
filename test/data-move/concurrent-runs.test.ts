import { Client } from 'pg';
import { clientConfig } from '../../migrations/data-move/db';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A second copy started into a target while one runs (a task started twice, a second terminal)
 * would resume the same state and copy the same tables beside it: it is refused at once, naming
 * --target and the session that holds the target, and the first run ends as if alone.
 *
 * The first run is held, not raced: the test locks the source table before it starts, so the run
 * takes its target lock and then waits on the source for as long as the second needs to start,
 * however loaded the machine is.
 */
describe('db:move copy started twice into one target', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmtwice_src'), createTestDatabase('dmtwice_tgt')]);
    await query(source.url, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 20000) g`);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  async function untilTargetHeld(): Promise<void> {
    for (;;) {
      const [{ held }] = await query<{ held: boolean }>(
        target.url,
        `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS held`,
      );
      if (held) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('the second is exit 2 naming --target and the first run; the first verifies OK', async () => {
    const args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
    const holder = new Client(clientConfig(source.url));
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE a IN ACCESS EXCLUSIVE MODE');
    let first: ReturnType<typeof runCli> | undefined;
    try {
      first = runCli(args);
      await untilTargetHeld();
      const two = await runCli(args);
      expect(two.code).toBe(2);
      const line = JSON.parse(two.stderr.split('\n')[0]);
      expect(line).toMatchObject({ field: '--target', exitCode: 2 });
      expect(line.msg).toMatch(/another db:move run holds this target \(session \d+, application data-move/);
    } finally {
      await holder.query('COMMIT');
      await holder.end();
    }
    const one = await first;
    expect(one.stdout).toContain('verification OK');
    expect(one.code).toBe(0);
  });
});
