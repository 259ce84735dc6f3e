import type { Knex } from 'knex';
import { schemaMigrations, SchemaMigration } from '../migrations/schema';
import { themeSeeds } from '../migrations/seeds/themes';

/** Schema migrations and seeds callable from code (dev script, tests, workers, a migration task). */
const migrationSource: Knex.MigrationSource<SchemaMigration> = {
  getMigrations: async () => schemaMigrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};

const migratorConfig: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations' };

/** Applies pending migrations; returns the names applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = await knex.migrate.latest(migratorConfig);
  return applied as string[];
}

export async function rollbackAll(knex: Knex): Promise<string[]> {
  const [, reverted] = await knex.migrate.rollback(migratorConfig, true);
  return reverted as string[];
}

/** Inserts the seed themes, updating those that exist by slug: safe to run again. */
export async function seed(knex: Knex): Promise<number> {
  const rows = await knex('themes')
    .insert(themeSeeds)
    .onConflict('slug')
    .merge(['title', 'prompt_template', 'output_format', 'price_cents'])
    .returning('id');
  return rows.length;
}
