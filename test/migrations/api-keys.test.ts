import type { Knex } from 'knex';
import { DB_APP_ROLE } from '../../core/contract';
import { createDb } from '../../core/db';
import type { Db } from '../../core/models';
import { authenticateApiKey, hashApiKey, issueApiKey, revokeApiKey, rotateApiKey } from '../../core/domain/api-keys';
import { migrateLatest } from '../../migrations/migrate';
import { schemaMigrations } from '../../migrations/schema';
import { migrateUpTo, migrationIndex } from '../support/schema-history';
import * as apiKeys from '../../migrations/schema/20261202_008_api_keys';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `api_keys` (20261202_008): every key on a `clients` row before it is copied and keeps working;
 * a key the previous release still writes on a `clients` row (between the migration and the
 * alias move, or after a rollback) is copied by the trigger; revoking clears it from there, so a
 * rollback cannot accept it again; the app role reads and writes the table and cannot delete;
 * `down` puts each client's newest working key back on its row.
 */
let database: TestDatabase;
let owner: Knex;
const BEFORE = migrationIndex('20261202_008_api_keys');


/** As the services run (and as the previous release runs): the application role, DML only. */
const asApp = <T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  owner.transaction(async (trx) => {
    await trx.raw(`SET LOCAL ROLE ${DB_APP_ROLE}`);
    return work(trx);
  });

/** A B2B client as the release before 008 creates it: its one key on its row. */
const legacyClient = (db: Db, name: string) => {
  const key = issueApiKey();
  return db('clients')
    .insert({ kind: 'b2b', name, email: `${name}@example.test`, api_key_prefix: key.prefix, api_key_hash: key.hash })
    .returning(['id', 'created_at'])
    .then(([row]) => ({ ...key, id: row.id as string, createdAt: row.created_at as Date }));
};

let existing: Awaited<ReturnType<typeof legacyClient>>;

beforeAll(async () => {
  database = await createTestDatabase('api_keys_migration');
  owner = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  await migrateUpTo(owner, BEFORE);
  existing = await legacyClient(owner, 'before-the-table');
  await owner('clients').insert({ kind: 'b2c', name: 'Shopper', email: 'shopper@example.test' });
  expect(await migrateLatest(owner)).toEqual(schemaMigrations.slice(BEFORE).map((m) => m.name));
});
afterAll(async () => {
  await owner?.destroy();
  await database?.drop();
});

test("every key already on a clients row is copied with the client's creation time, and authenticates", async () => {
  const rows = await owner('api_keys').select('client_id', 'prefix', 'hash', 'created_at', 'expires_at', 'revoked_at');
  expect(rows).toEqual([{ client_id: existing.id, prefix: existing.prefix, hash: existing.hash, created_at: existing.createdAt, expires_at: null, revoked_at: null }]);
  const found = await asApp((trx) => authenticateApiKey(trx, existing.apiKey));
  expect(found?.client.id).toBe(existing.id);
});

test('a key the previous release writes on a clients row is copied by the trigger; a B2C row still cannot hold one', async () => {
  const created = await asApp((trx) => legacyClient(trx, 'old-code-after-migration'));
  expect((await asApp((trx) => authenticateApiKey(trx, created.apiKey)))?.client.id).toBe(created.id);
  await expect(owner('clients').insert({ kind: 'b2c', name: 'Keyed', email: 'keyed@example.test', api_key_prefix: 'aaaaaaaaaaaa', api_key_hash: 'h' })).rejects.toMatchObject({
    constraint: 'clients_api_key_b2b_only',
  });
  // A B2B client the new code creates has no key on its row.
  await owner('clients').insert({ kind: 'b2b', name: 'New code', email: 'new-code@example.test' });
});

test('the app role reads, inserts and updates keys, and cannot delete one', async () => {
  await expect(asApp((trx) => trx('api_keys').where({ prefix: existing.prefix }).update({ last_used_at: trx.fn.now() }))).resolves.toBe(1);
  await expect(asApp((trx) => trx('api_keys').where({ prefix: existing.prefix }).delete())).rejects.toMatchObject({ code: '42501' });
});

test('revoking clears the key from its clients row too: a rollback to the previous release does not accept it', async () => {
  const leaked = await legacyClient(owner, 'leaked');
  const revoked = await revokeApiKey(owner, leaked.prefix);
  expect(revoked).toMatchObject({ clientId: leaked.id, alreadyRevoked: false, key: { state: 'revoked' } });
  expect(await owner('clients').where({ id: leaked.id }).first('api_key_prefix', 'api_key_hash')).toEqual({ api_key_prefix: null, api_key_hash: null });
  expect(await authenticateApiKey(owner, leaked.apiKey)).toBeUndefined();
});

test("revoking the key on the clients row puts the client's newest working key there: a rollback accepts the key the client still holds", async () => {
  const partner = await legacyClient(owner, 'revoked-newest');
  const rotation = await asApp((trx) => rotateApiKey(trx, partner.id, 3600_000));
  if (typeof rotation === 'string') throw new Error(rotation);
  await revokeApiKey(owner, rotation.key.prefix, partner.id);
  expect(await owner('clients').where({ id: partner.id }).first('api_key_prefix', 'api_key_hash')).toEqual({ api_key_prefix: partner.prefix, api_key_hash: partner.hash });
  expect((await authenticateApiKey(owner, partner.apiKey))?.client.id).toBe(partner.id);
  expect(await authenticateApiKey(owner, rotation.apiKey)).toBeUndefined();
  // Revoking that one too leaves the row without a key: none of the client's keys works.
  await revokeApiKey(owner, partner.prefix, partner.id);
  expect(await owner('clients').where({ id: partner.id }).first('api_key_prefix', 'api_key_hash')).toEqual({ api_key_prefix: null, api_key_hash: null });
});

test('a rotation puts the new key on the clients row: a rollback to the previous release accepts it, not the old key the rotation expired', async () => {
  const partner = await legacyClient(owner, 'rotated');
  const rotation = await asApp((trx) => rotateApiKey(trx, partner.id, 0));
  if (typeof rotation === 'string') throw new Error(rotation);
  expect(await authenticateApiKey(owner, partner.apiKey)).toBeUndefined();
  const row = await owner('clients').where({ id: partner.id }).first('api_key_prefix', 'api_key_hash');
  expect(row).toEqual({ api_key_prefix: rotation.key.prefix, api_key_hash: hashApiKey(rotation.apiKey) });
  expect(await owner('api_keys').where({ client_id: partner.id }).count<{ n: string }[]>('* as n')).toEqual([{ n: '2' }]);
});

test('a key the previous release replaces on a clients row ends the key it replaced; a rotation of the new code leaves the old key its overlap', async () => {
  const replaced = await legacyClient(owner, 'replaced');
  const next = issueApiKey();
  await asApp((trx) => trx('clients').where({ id: replaced.id }).update({ api_key_prefix: next.prefix, api_key_hash: next.hash }));
  expect(await authenticateApiKey(owner, replaced.apiKey)).toBeUndefined();
  expect((await authenticateApiKey(owner, next.apiKey))?.client.id).toBe(replaced.id);
  const rotation = await asApp((trx) => rotateApiKey(trx, replaced.id, 3600_000));
  if (typeof rotation === 'string') throw new Error(rotation);
  expect((await authenticateApiKey(owner, next.apiKey))?.client.id).toBe(replaced.id);
  expect((await authenticateApiKey(owner, rotation.apiKey))?.client.id).toBe(replaced.id);
});

test("down puts each client's newest working key back on its row; up again copies them", async () => {
  const rotation = await rotateApiKey(owner, existing.id, 3600_000);
  if (typeof rotation === 'string') throw new Error(rotation);
  // `down` cannot give a row a key when all of the client's keys are revoked: that client is set aside first.
  await owner('clients').where({ email: 'leaked@example.test' }).update({ kind: 'b2c' });
  await owner('clients').where({ email: 'new-code@example.test' }).update({ kind: 'b2c' });
  await owner('clients').where({ email: 'revoked-newest@example.test' }).update({ kind: 'b2c' });
  await apiKeys.down(owner);
  expect(await owner.schema.hasTable('api_keys')).toBe(false);
  expect(await owner('clients').where({ id: existing.id }).first('api_key_prefix')).toEqual({ api_key_prefix: rotation.key.prefix });
  await apiKeys.up(owner);
  expect((await authenticateApiKey(owner, rotation.apiKey))?.client.id).toBe(existing.id);
});
