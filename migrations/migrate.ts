import type { Knex } from 'knex';
import { AppCredentials, AppLogin, ensureAppLogin } from './app-role';
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

/**
 * Applies pending migrations as the owner, then makes `app` a login of the application role
 * (migrations/app-role.ts) when given: what `npm run db:migrate` does, and `npm run dev` with a
 * DATABASE_APP_URL.
 */
export async function migrateWithAppLogin(knex: Knex, app?: AppCredentials): Promise<{ applied: string[]; login?: AppLogin }> {
  const applied = await migrateLatest(knex);
  const login = app ? await ensureAppLogin(knex, app) : undefined;
  return { applied, login };
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
