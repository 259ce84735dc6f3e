import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import { authenticateApiKey, issueApiKey } from '../../core/domain/api-keys';
import { migrateLatest } from '../../migrations/migrate';
import { schemaMigrations } from '../../migrations/schema';
import { migrateUpTo, migrationIndex } from '../support/schema-history';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { runCli } from '../support/data-move-harness';

/**
 * db:move of a source whose B2B keys are on the `clients` rows (the old platform's shape, from
 * before 20261202_008): it moves as it is, verification passes, and the target's next migration
 * copies every key into `api_keys`, where it authenticates; the columns move with it and stay.
 */
const dbAt = (url: string): Knex => createDb({ database: { url, port: 5432, poolMax: 2 }, secrets: {} });
const BEFORE = migrationIndex('20261202_008_api_keys');

const databases: TestDatabase[] = [];
afterAll(() => Promise.all(databases.map((d) => d.drop())));

test('a source with one key per clients row: moved, then the target migration makes each key a row of api_keys that authenticates', async () => {
  const source = await createTestDatabase('dmkeys_src');
  const target = await createTestDatabase('dmkeys_tgt');
  databases.push(source, target);
  const key = issueApiKey();
  const src = dbAt(source.url);
  try {
    await migrateUpTo(src, BEFORE);
    await src('clients').insert({ kind: 'b2b', name: 'Partner', email: 'partner@example.test', api_key_prefix: key.prefix, api_key_hash: key.hash });
  } finally {
    await src.destroy();
  }

  const res = await runCli(['--source', source.url, '--target', target.url]);
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/verification OK/);

  const knex = dbAt(target.url);
  try {
    expect(await knex.schema.hasTable('api_keys')).toBe(false);
    expect(await migrateLatest(knex)).toEqual(schemaMigrations.slice(BEFORE).map((m) => m.name));
    expect(await knex('api_keys').select('prefix', 'hash')).toEqual([{ prefix: key.prefix, hash: key.hash }]);
    expect((await authenticateApiKey(knex, key.apiKey))?.client.email).toBe('partner@example.test');
  } finally {
    await knex.destroy();
  }
});
