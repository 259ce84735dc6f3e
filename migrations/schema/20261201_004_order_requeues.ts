import type { Knex } from 'knex';

/**
 * How an order that lost its doc job still ends (containers/doc-generation/sweeper.ts):
 * `requeues` counts the doc jobs sent for it after its first one — a hand-off message sent on a
 * job's last receive, or a job re-sent by the sweeper — so the retries of an order whose
 * attempts keep dying (drain deadline, OOM, kill -9) are bounded and it ends `failed`, never
 * `generating` for ever. The partial index is the sweeper's scan: only unsettled orders, oldest
 * first.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.integer('requeues').notNullable().defaultTo(0);
    t.check(`requeues >= 0`, [], 'orders_requeues_check');
  });
  await knex.raw(`CREATE INDEX orders_unsettled_updated_at ON orders (updated_at) WHERE status IN ('paid', 'queued', 'generating')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX orders_unsettled_updated_at`);
  await knex.schema.alterTable('orders', (t) => {
    t.dropChecks(['orders_requeues_check']);
    t.dropColumn('requeues');
  });
}
