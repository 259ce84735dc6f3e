import type { Knex } from 'knex';

/**
 * B2B API keys in their own table, so that a client can hold several (a rotation's old and new
 * key together) and a key can be revoked or expire (core/domain/api-keys.ts). Every key already
 * on a `clients` row is copied, with the client's creation time, so no partner's key stops
 * working.
 *
 * The old columns (`clients.api_key_prefix`, `api_key_hash`) stay for one release: the release
 * before this one reads them from the migration to the alias move, and again after a rollback
 * (docs/deploy.md). Until they are dropped:
 * - a key that release writes there (a client it creates in that window) is copied here by the
 *   trigger, so it keeps working once the new code runs;
 * - the new code writes each client's newest key there too (addApiKey: a client's first key and
 *   every rotation's), so after a rollback the newest key works, not the old key a rotation
 *   expired; the check that every B2B row has one becomes "no B2C row has one" (a client whose
 *   keys are all revoked has none);
 * - revoking a key clears it from there too (revokeApiKey), so a rollback cannot bring it back.
 *
 * `last_used_at` is written at most every few minutes per key (API_KEY_LAST_USED_EVERY_MS): ops
 * can see whether the old key of a rotation is still in use before it expires. No grant: the
 * default privileges of 005 give the app role SELECT, INSERT, UPDATE; nothing deletes a key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('client_id').notNullable().references('id').inTable('clients').onDelete('RESTRICT');
    t.text('prefix').notNullable().unique();
    t.text('hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['client_id'], 'api_keys_client_id');
  });
  await knex.raw(`
    INSERT INTO api_keys (client_id, prefix, hash, created_at)
    SELECT id, api_key_prefix, api_key_hash, created_at FROM clients
    WHERE kind = 'b2b' AND api_key_prefix IS NOT NULL AND api_key_hash IS NOT NULL`);
  await knex.raw(`
    CREATE FUNCTION clients_legacy_api_key_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO api_keys (client_id, prefix, hash) VALUES (NEW.id, NEW.api_key_prefix, NEW.api_key_hash)
      ON CONFLICT (prefix) DO NOTHING;
      RETURN NULL;
    END
    $$`);
  await knex.raw(`
    CREATE TRIGGER clients_legacy_api_key_copy AFTER INSERT OR UPDATE OF api_key_prefix, api_key_hash ON clients
    FOR EACH ROW WHEN (NEW.kind = 'b2b' AND NEW.api_key_prefix IS NOT NULL AND NEW.api_key_hash IS NOT NULL)
    EXECUTE FUNCTION clients_legacy_api_key_copy()`);
  await knex.raw(`ALTER TABLE clients DROP CONSTRAINT clients_api_key_b2b_only`);
  await knex.raw(`ALTER TABLE clients ADD CONSTRAINT clients_api_key_b2b_only CHECK (kind = 'b2b' OR (api_key_prefix IS NULL AND api_key_hash IS NULL))`);
}

/**
 * Back to one key per client: each B2B client's newest key that still works goes back on its row
 * (a client whose keys are all revoked or expired cannot be put back, and `down` refuses).
 */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TRIGGER clients_legacy_api_key_copy ON clients`);
  await knex.raw(`DROP FUNCTION clients_legacy_api_key_copy()`);
  await knex.raw(`
    UPDATE clients c SET api_key_prefix = k.prefix, api_key_hash = k.hash
    FROM (
      SELECT DISTINCT ON (client_id) client_id, prefix, hash FROM api_keys
      WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
      ORDER BY client_id, created_at DESC
    ) k
    WHERE c.id = k.client_id`);
  await knex.raw(`ALTER TABLE clients DROP CONSTRAINT clients_api_key_b2b_only`);
  await knex.raw(`ALTER TABLE clients ADD CONSTRAINT clients_api_key_b2b_only CHECK ((kind = 'b2b') = (api_key_hash IS NOT NULL AND api_key_prefix IS NOT NULL))`);
  await knex.schema.dropTable('api_keys');
}
