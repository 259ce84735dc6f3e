import type { Knex } from 'knex';

/**
 * The trigger of 20261202_008 copied a key the previous release writes on a `clients` row, but
 * when that release replaced a client's key (its one way to end a key: the row holds one) the
 * replaced key kept working from `api_keys`. Now a key written there that `api_keys` does not
 * hold yet is the previous release's: it is copied and the key it replaced is revoked. A key
 * already there is the new code's own (`addApiKey` writes its new key on the row too, after
 * inserting it), whose rotation leaves the old keys their overlap.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION clients_legacy_api_key_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM api_keys WHERE prefix = NEW.api_key_prefix) THEN
        RETURN NULL;
      END IF;
      INSERT INTO api_keys (client_id, prefix, hash) VALUES (NEW.id, NEW.api_key_prefix, NEW.api_key_hash)
      ON CONFLICT (prefix) DO NOTHING;
      IF TG_OP = 'UPDATE' AND OLD.api_key_prefix IS NOT NULL AND OLD.api_key_prefix IS DISTINCT FROM NEW.api_key_prefix THEN
        UPDATE api_keys SET revoked_at = now() WHERE client_id = NEW.id AND prefix = OLD.api_key_prefix AND revoked_at IS NULL;
      END IF;
      RETURN NULL;
    END
    $$`);
}

/** Back to 008's copy, which leaves a replaced key working. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION clients_legacy_api_key_copy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO api_keys (client_id, prefix, hash) VALUES (NEW.id, NEW.api_key_prefix, NEW.api_key_hash)
      ON CONFLICT (prefix) DO NOTHING;
      RETURN NULL;
    END
    $$`);
}
