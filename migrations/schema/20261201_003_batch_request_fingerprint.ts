import type { Knex } from 'knex';

/**
 * A batch keeps what defines the request that created it, so an `Idempotency-Key` is bound to
 * one request (as with Stripe): `request_hash` is the sha256 fingerprint the B2B gateway computes
 * (`batchRequestHash`, core/domain/batches.ts: content type, CSV theme, body bytes), and
 * `submitted_rows` the number of rows the request held (`total_rows` is the worker's checkpoint
 * and starts at 0). The same key with the same fingerprint replays the batch; with another one it
 * is a 409. Batches created before this migration have neither: their key answers 409, since
 * nothing tells whether a replay is the same request.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('batches', (t) => {
    t.text('request_hash');
    t.integer('submitted_rows');
    t.check(`request_hash IS NULL OR request_hash ~ '^[0-9a-f]{64}$'`, [], 'batches_request_hash_check');
    t.check(`submitted_rows IS NULL OR submitted_rows > 0`, [], 'batches_submitted_rows_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('batches', (t) => {
    t.dropChecks(['batches_request_hash_check', 'batches_submitted_rows_check']);
    t.dropColumn('request_hash');
    t.dropColumn('submitted_rows');
  });
}
