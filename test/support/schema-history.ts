import type { Knex } from 'knex';
import { schemaMigrations, type SchemaMigration } from '../../migrations/schema';

/** Where `name` stands among the platform's schema migrations (a typo is an error, not index -1). */
export function migrationIndex(name: string): number {
  const index = schemaMigrations.findIndex((m) => m.name === name);
  if (index < 0) throw new Error(`no schema migration named ${name}`);
  return index;
}

/**
 * The schema as an older release left it: the first `count` migrations, recorded as db:migrate
 * records them, so the newer ones run on it later exactly as they would on that database.
 */
export function migrateUpTo(knex: Knex, count: number): Promise<unknown> {
  const migrationSource: Knex.MigrationSource<SchemaMigration> = {
    getMigrations: async () => schemaMigrations.slice(0, count),
    getMigrationName: (m) => m.name,
    getMigration: async (m) => m,
  };
  return knex.migrate.latest({ tableName: 'knex_migrations', migrationSource });
}
