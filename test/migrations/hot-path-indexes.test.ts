import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import { migrateLatest, seed } from '../../migrations/migrate';
import { findSettledBatches } from '../../containers/shared/batch-completion';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * The queries every doc worker runs on a timer read an index, not the whole table: the sweeper's
 * scan for settled batches whose completion was missed (`findSettledBatches`, every sweep of every
 * task) looks at `processing` batches only, while `batches` keeps every batch ever completed.
 * The plan is PostgreSQL's own, over a table of 20,000 completed batches and a few processing.
 */
let database: TestDatabase;
let db: Knex;

beforeAll(async () => {
  database = await createTestDatabase('hot_path_indexes');
  db = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  await migrateLatest(db);
  await seed(db);
  const themeId = (await db('themes').where({ slug: 'product-sheet' }).first()).id as string;
  const [{ id: clientId }] = await db('clients').insert({ kind: 'b2b', name: 'Indexes', email: 'indexes@example.test', api_key_prefix: 'idx', api_key_hash: 'h' }).returning('id');
  await db.raw(
    `INSERT INTO batches (client_id, theme_id, status, total_rows, succeeded, failed, source_key, updated_at)
     SELECT ?, ?, CASE WHEN i % 4000 = 0 THEN 'processing' ELSE 'completed' END, 10, 10, 0, 'k', now() - i * interval '1 second'
     FROM generate_series(1, 20000) AS i`,
    [clientId, themeId],
  );
  await db.raw('ANALYZE batches');
}, 60_000);
afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

/** The plan of the statements `run` sends, as PostgreSQL would execute them. */
async function plansOf(run: () => Promise<unknown>): Promise<string[]> {
  const sent: Array<{ sql: string; bindings: readonly unknown[] }> = [];
  const listen = (q: { sql: string; bindings?: readonly unknown[] }) => void sent.push({ sql: q.sql, bindings: q.bindings ?? [] });
  db.on('query', listen);
  try {
    await run();
  } finally {
    db.off('query', listen);
  }
  const plans: string[] = [];
  for (const q of sent) {
    // The event carries the driver's $n placeholders, in the order of its bindings.
    const { rows } = await db.raw<{ rows: Array<{ 'QUERY PLAN': string }> }>(`EXPLAIN ${q.sql.replace(/\$\d+/g, '?')}`, q.bindings as Knex.RawBinding[]);
    plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
  }
  return plans;
}

test("the sweeper's scan for settled batches reads an index of the processing batches, not the table", async () => {
  let found: string[] = [];
  const [plan] = await plansOf(async () => (found = await findSettledBatches(db, 60_000)));
  expect(found).toHaveLength(5);
  expect(plan).not.toMatch(/Seq Scan on batches/);
  expect(plan).toMatch(/Index (Only )?Scan using batches_processing_updated_at/);
});
