import type { Knex } from 'knex';

/**
 * `generating` gets an owner: the attempt that took the order (a random id per handler run) and
 * how long its claim lasts. The owner renews the lease while it works; a second delivery of the
 * job does not render while the lease is live, and only the owner moves the order to
 * ready/failed. A lease that runs out (crash, OOM, kill -9) lets the next delivery retake the
 * order. Both columns are set together, and only while the order is `generating`; rows that
 * were `generating` before this migration have no owner and are retaken like an expired lease.
 * (core/domain/orders.ts: markGenerating, renewLease, releaseLease, markReady, markFailed.)
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.uuid('generation_owner');
    t.timestamp('generation_lease_until', { useTz: true });
    t.check(`(generation_owner IS NULL) = (generation_lease_until IS NULL)`, [], 'orders_generation_lease_pair');
    t.check(`generation_owner IS NULL OR status = 'generating'`, [], 'orders_generation_lease_only_generating');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('orders', (t) => {
    t.dropChecks(['orders_generation_lease_pair', 'orders_generation_lease_only_generating']);
    t.dropColumn('generation_owner');
    t.dropColumn('generation_lease_until');
  });
}
