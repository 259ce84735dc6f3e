import type { Knex } from 'knex';

/**
 * The correlation id of the request that created the order (`request_id`): the gateway's
 * request id, the client's `x-request-id` when valid (functions/shared/http.ts), or for a batch
 * order the request id its batch job carried. Ops find the order by it when the logs are gone
 * or out of `--since` (`npm run ops -- order <id>`). Nullable: orders created before it have none.
 *
 * The CHECK is the accepted id format (core/internal-api.ts REQUEST_ID_PATTERN), length included.
 * It never changes once the row exists, the trigger says so in the database itself: the code sets
 * it only in its INSERTs, and the app role, which holds UPDATE on the table, cannot rewrite the
 * history of an order. No grant: the column is covered by the table's grants (005).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.text('request_id');
    t.check(`request_id ~ '^[A-Za-z0-9._:-]{1,128}$'`, [], 'orders_request_id_check');
  });
  await knex.raw(`CREATE INDEX orders_request_id ON orders (request_id) WHERE request_id IS NOT NULL`);
  await knex.raw(`
    CREATE FUNCTION orders_request_id_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'orders.request_id of order % cannot change', OLD.id USING ERRCODE = 'check_violation';
    END
    $$`);
  await knex.raw(`
    CREATE TRIGGER orders_request_id_immutable BEFORE UPDATE OF request_id ON orders
    FOR EACH ROW WHEN (OLD.request_id IS DISTINCT FROM NEW.request_id) EXECUTE FUNCTION orders_request_id_immutable()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TRIGGER orders_request_id_immutable ON orders`);
  await knex.raw(`DROP FUNCTION orders_request_id_immutable()`);
  await knex.raw(`DROP INDEX orders_request_id`);
  await knex.schema.alterTable('orders', (t) => {
    t.dropChecks(['orders_request_id_check']);
    t.dropColumn('request_id');
  });
}
