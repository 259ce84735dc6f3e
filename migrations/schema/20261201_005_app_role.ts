import type { Knex } from 'knex';
import { DB_APP_ROLE } from '../../core/contract';

/**
 * The application role `docplatform_app`: the services and workers connect as it (or as a login
 * role that is a member of it, migrations/app-role.ts), the migrations as the owner of the
 * tables. It gets the DML the platform's queries need and nothing else: SELECT, INSERT and
 * UPDATE on the four tables (nothing in the code deletes a row; SELECT … FOR UPDATE and
 * INSERT … ON CONFLICT need only these), USAGE on the schema; no CREATE, no TRUNCATE, no
 * REFERENCES or TRIGGER, no ownership, so no DDL. The knex bookkeeping tables stay the owner's.
 *
 * Future tables: default privileges give every table and sequence the migration owner creates
 * later in `public` the same grants, so a new table cannot reach production without them (a
 * migration whose table needs less revokes, one that needs DELETE grants it). They apply to
 * objects created by the role that ran this migration, which is the one that runs them all.
 *
 * Roles belong to the cluster, not the database: the role is created NOLOGIN only if it does not
 * exist (another database, a previous run or ops may have created it, and its login and password
 * are left as they are), and a concurrent creation by a migration of another database on the same
 * server is not an error. `down` revokes this database's grants and keeps the role.
 */
const ROLE = DB_APP_ROLE;
const TABLES = ['clients', 'themes', 'batches', 'orders'].join(', ');
const TABLE_PRIVILEGES = 'SELECT, INSERT, UPDATE';
const SEQUENCE_PRIVILEGES = 'USAGE, SELECT';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${ROLE}') THEN
        CREATE ROLE ${ROLE} NOLOGIN;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- created meanwhile by the migration of another database on this server
    END
    $$`);
  // PostgreSQL 15+ no longer lets PUBLIC create in `public`; a database that began on an older
  // server keeps that grant, and with it any role could create tables here.
  await knex.raw('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  await knex.raw(`GRANT USAGE ON SCHEMA public TO ${ROLE}`);
  await knex.raw(`GRANT ${TABLE_PRIVILEGES} ON ${TABLES} TO ${ROLE}`);
  // The tables have uuid keys: no sequence exists yet to grant on.
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ${TABLE_PRIVILEGES} ON TABLES TO ${ROLE}`);
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ${SEQUENCE_PRIVILEGES} ON SEQUENCES TO ${ROLE}`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ${SEQUENCE_PRIVILEGES} ON SEQUENCES FROM ${ROLE}`);
  await knex.raw(`ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ${TABLE_PRIVILEGES} ON TABLES FROM ${ROLE}`);
  await knex.raw(`REVOKE ALL ON ${TABLES} FROM ${ROLE}`);
  await knex.raw(`REVOKE USAGE ON SCHEMA public FROM ${ROLE}`);
}
