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

/**
 * knex refuses a database that records a migration the code lacks ("the migration directory is
 * corrupt"): the database of a newer release, met again by the older one after a revert is
 * deployed. Migrations keep the previous release working (docs/deploy.md), so that release
 * applies what it has pending and leaves the newer ones as they are (migrationsAhead names them).
 */
const migratorConfig: Knex.MigratorConfig = { migrationSource, tableName: 'knex_migrations', disableMigrationsListValidation: true };

/** Applies pending migrations; returns the names applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = await knex.migrate.latest(migratorConfig);
  return applied as string[];
}

/** Migrations the database records that this code does not have (a newer release's), in the order applied. */
export async function migrationsAhead(knex: Knex): Promise<string[]> {
  if (!(await knex.schema.hasTable(migratorConfig.tableName!))) return [];
  const known = new Set(schemaMigrations.map((m) => m.name));
  const rows: { name: string }[] = await knex(migratorConfig.tableName!).select('name').orderBy('id');
  return rows.map((r) => r.name).filter((name) => !known.has(name));
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
