import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import { migrateLatest, seed } from '../../migrations/migrate';
import { schemaMigrations } from '../../migrations/schema';
import { migrateUpTo, migrationIndex } from '../support/schema-history';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * db:move of the platform's own schema around `orders.request_id` (20261201_006): a source from
 * before the column moves as it is, and the target's next migration adds the column, NULL on the
 * moved orders; a source that has it moves its values, its check and its trigger.
 */
const dbAt = (url: string): Knex => createDb({ database: { url, port: 5432, poolMax: 2 }, secrets: {} });
const BEFORE = migrationIndex('20261201_006_order_request_id');


async function sourceWithOrder(prefix: string, migrations: number, row: Record<string, unknown>): Promise<TestDatabase> {
  const source = await createTestDatabase(prefix);
  const knex = dbAt(source.url);
  try {
    await migrateUpTo(knex, migrations);
    await seed(knex);
    const theme = await knex('themes').where({ slug: 'product-sheet' }).first();
    const [client] = await knex('clients').insert({ kind: 'b2c', name: 'Moved', email: 'moved@example.test' }).returning('id');
    await knex('orders').insert({ client_id: client.id, theme_id: theme.id, input: { product: 'Moved kettle' }, ...row });
  } finally {
    await knex.destroy();
  }
  return source;
}

const databases: TestDatabase[] = [];
afterAll(() => Promise.all(databases.map((d) => d.drop())));

test('a source from before the column: moved, then the target migration adds it, NULL on the moved orders', async () => {
  const source = await sourceWithOrder('dmrid_old_src', BEFORE, {});
  const target = await createTestDatabase('dmrid_old_tgt');
  databases.push(source, target);
  const res = await runCli(['--source', source.url, '--target', target.url]);
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/verification OK/);
  const knex = dbAt(target.url);
  try {
    expect(await migrateLatest(knex)).toEqual(schemaMigrations.slice(BEFORE).map((m) => m.name));
    expect(await knex('orders').select('request_id')).toEqual([{ request_id: null }]);
  } finally {
    await knex.destroy();
  }
});

test('a source with the column: its values, check and trigger move with it', async () => {
  const source = await sourceWithOrder('dmrid_new_src', schemaMigrations.length, { request_id: 'req-moved-1' });
  const target = await createTestDatabase('dmrid_new_tgt');
  databases.push(source, target);
  const res = await runCli(['--source', source.url, '--target', target.url]);
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/verification OK/);
  const [moved] = await query<{ request_id: string; triggers: string; checks: string }>(
    target.url,
    `SELECT (SELECT request_id FROM orders) AS request_id,
            (SELECT count(*) FROM pg_trigger WHERE tgname = 'orders_request_id_immutable')::text AS triggers,
            (SELECT count(*) FROM pg_constraint WHERE conname = 'orders_request_id_check')::text AS checks`,
  );
  expect(moved).toEqual({ request_id: 'req-moved-1', triggers: '1', checks: '1' });
  await expect(query(target.url, `UPDATE orders SET request_id = 'req-other'`)).rejects.toThrow(/cannot change/);
  const knex = dbAt(target.url);
  try {
    expect(await migrateLatest(knex)).toEqual([]);
  } finally {
    await knex.destroy();
  }
});
