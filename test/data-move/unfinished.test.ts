import { Client } from 'pg';
import { clientConfig, describeUrl } from '../../migrations/data-move/db';
import { createState, setPhase } from '../../migrations/data-move/state';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A copy stopped (Ctrl-C, a lost session) leaves the target half-built, with its state in
 * `_data_move`. `--verify-only` on it says so and what to run, and does not pass it: a target whose
 * data all matches but whose run never ended (stopped during the final verification) still holds
 * `_data_move`, and db:migrate leaves such a database alone (no schema migrations, no app login).
 */
describe('db:move --verify-only on the target of an unfinished copy', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  let args: string[];

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmunf_src'), createTestDatabase('dmunf_tgt')]);
    await query(source.url, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 400000) g`);
    args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('names the unfinished run and the command that finishes it, exit 1, even when every table matches', async () => {
    const stopped = await runCli(args, (line) => line.includes('"section":"pre-data"'));
    expect(stopped.signal).toBe('SIGKILL');
    const half = await runCli(['--verify-only', ...args]);
    expect(half.code).toBe(1);
    expect(half.stdout).toContain(`the target holds an unfinished copy run from ${describeUrl(source.url)} (phase pre-data)`);
    expect(half.stdout).toContain('run the same db:move command without --verify-only');

    expect((await runCli(args)).code).toBe(0);
    // As a run stopped during its final verification leaves it: everything copied, the state still there.
    const c = new Client(clientConfig(target.url));
    await c.connect();
    try {
      await createState(c, 'copy', describeUrl(source.url));
      await setPhase(c, 'sequences');
    } finally {
      await c.end();
    }
    const matching = await runCli(['--verify-only', ...args]);
    expect(matching.stdout).toContain('verification OK');
    expect(matching.stdout).toContain('unfinished copy run');
    expect(matching.code).toBe(1);

    const finished = await runCli(args);
    expect(finished.code).toBe(0);
    expect(await query(target.url, `SELECT to_regclass('_data_move.run') AS r`)).toEqual([{ r: null }]);
    const done = await runCli(['--verify-only', ...args]);
    expect(done.code).toBe(0);
    expect(done.stdout).not.toContain('unfinished');
  });
});
