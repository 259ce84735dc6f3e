import type { Knex } from 'knex';
import { schemaMigrations, SchemaMigration } from './schema';
import { themeSeeds } from './seeds/themes';

/** Schema migrations and seeds applied from code: the local run applies them at start, and the tests on every fresh database. */
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

/** Inserts the seed themes, updating those that exist by slug: safe to run again. */
export async function seed(knex: Knex): Promise<number> {
  const rows = await knex('themes')
    .insert(themeSeeds)
    .onConflict('slug')
    .merge(['title', 'prompt_template', 'output_format', 'price_cents'])
    .returning('id');
  return rows.length;
}
