import type { Knex } from 'knex';

/**
 * clients, themes, batches, orders. Statuses are text with CHECK constraints (cheaper to evolve
 * than enum types); the order status machine itself lives in core/domain/orders.ts.
 */
export const ORDER_STATUSES = ['pending', 'paid', 'queued', 'generating', 'ready', 'failed'] as const;
export const BATCH_STATUSES = ['pending', 'processing', 'completed', 'failed'] as const;
export const OUTPUT_FORMATS = ['pdf', 'docx', 'html'] as const;

const list = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clients', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('kind').notNullable();
    t.text('name').notNullable();
    t.text('email').notNullable();
    // B2B keys look like `dp_<prefix>_<secret>`: the prefix finds the row, the hash is compared in constant time.
    t.text('api_key_prefix').unique();
    t.text('api_key_hash');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`kind IN ('b2c', 'b2b')`, [], 'clients_kind_check');
    t.check(`(kind = 'b2b') = (api_key_hash IS NOT NULL AND api_key_prefix IS NOT NULL)`, [], 'clients_api_key_b2b_only');
  });
  await knex.raw(`CREATE UNIQUE INDEX clients_b2c_email_unique ON clients (lower(email)) WHERE kind = 'b2c'`);

  await knex.schema.createTable('themes', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('slug').notNullable().unique();
    t.text('title').notNullable();
    t.text('prompt_template').notNullable();
    t.text('output_format').notNullable();
    t.integer('price_cents').notNullable();
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`output_format IN (${list(OUTPUT_FORMATS)})`, [], 'themes_output_format_check');
    t.check(`slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'`, [], 'themes_slug_check');
    t.check(`price_cents > 0`, [], 'themes_price_check');
  });

  await knex.schema.createTable('batches', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('client_id').notNullable().references('id').inTable('clients').onDelete('RESTRICT');
    t.uuid('theme_id').notNullable().references('id').inTable('themes').onDelete('RESTRICT');
    t.text('status').notNullable().defaultTo('pending');
    t.integer('total_rows').notNullable().defaultTo(0);
    t.integer('succeeded').notNullable().defaultTo(0);
    t.integer('failed').notNullable().defaultTo(0);
    t.text('source_key').notNullable();
    t.text('manifest_key');
    t.text('error');
    t.text('idempotency_key');
    t.timestamps(true, true);
    t.check(`status IN (${list(BATCH_STATUSES)})`, [], 'batches_status_check');
    t.check(`total_rows >= 0 AND succeeded >= 0 AND failed >= 0 AND succeeded + failed <= total_rows`, [], 'batches_counts_check');
    t.unique(['client_id', 'idempotency_key']);
    t.index(['client_id', 'created_at']);
  });

  await knex.schema.createTable('orders', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('client_id').notNullable().references('id').inTable('clients').onDelete('RESTRICT');
    t.uuid('theme_id').notNullable().references('id').inTable('themes').onDelete('RESTRICT');
    t.text('status').notNullable().defaultTo('pending');
    t.jsonb('input').notNullable().defaultTo('{}');
    t.text('document_key');
    t.text('error');
    t.uuid('batch_id').references('id').inTable('batches').onDelete('RESTRICT');
    t.integer('batch_row');
    t.text('idempotency_key').unique();
    // sha256 of the request that created the order: the same key with another body is a conflict.
    t.text('request_hash');
    t.text('access_token_hash');
    t.text('stripe_session_id').unique();
    t.text('checkout_url');
    t.integer('amount_cents');
    t.text('currency');
    t.timestamps(true, true);
    t.check(`status IN (${list(ORDER_STATUSES)})`, [], 'orders_status_check');
    t.check(`(batch_id IS NULL) = (batch_row IS NULL)`, [], 'orders_batch_row_check');
    t.check(`batch_row IS NULL OR batch_row >= 0`, [], 'orders_batch_row_positive');
    t.check(`status <> 'ready' OR document_key IS NOT NULL`, [], 'orders_ready_has_document');
    t.check(`amount_cents IS NULL OR amount_cents > 0`, [], 'orders_amount_check');
    t.unique(['batch_id', 'batch_row']);
    t.index(['client_id', 'created_at']);
    t.index(['status']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('orders');
  await knex.schema.dropTable('batches');
  await knex.schema.dropTable('themes');
  await knex.schema.dropTable('clients');
}
