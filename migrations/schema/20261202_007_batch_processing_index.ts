import type { Knex } from 'knex';

/**
 * The sweeper's scan for batches whose completion was missed (`findSettledBatches`,
 * containers/shared/batch-completion.ts) runs on every sweep of every doc-generation task and
 * asks for `processing` batches only; `batches` keeps every batch ever completed, so without
 * this it read the whole table each time. Partial, like orders_unsettled_updated_at (004): it
 * holds the few batches in progress, in the order of their last count.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX batches_processing_updated_at ON batches (updated_at) WHERE status = 'processing'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX batches_processing_updated_at`);
}
