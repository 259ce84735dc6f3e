import { underSearchPath } from '../../migrations/data-move/schema';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli } from '../support/data-move-harness';

/**
 * Functions whose bodies name tables and functions without a schema run by the search_path of the
 * session that calls them. The source's database sets it (app, public); pg_dump qualifies every
 * name of its own DDL but not a function's body, and its script empties search_path. The copy's
 * COPY sessions (a CHECK constraint, a generated column), its index builds (an expression, a
 * partial index's predicate) and its REFRESH of a materialized view call them on the target: with
 * "$user", public a check failed the COPY (relation "rates" does not exist, exit 3 at every
 * rerun), and a generated column took public.norm, another function of the same name, where the
 * source had taken app.norm. The verification runs a view's query over another view on the
 * target: under the target's search_path too, it took public.norm and found a mismatch.
 */
const SCHEMA = `
  CREATE SCHEMA app;
  SET search_path = app, public;
  CREATE TABLE app.rates (code text PRIMARY KEY, factor numeric NOT NULL);
  INSERT INTO app.rates VALUES ('eur', 1), ('usd', 2);
  CREATE FUNCTION app.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT lower(trim(t)) $$;
  CREATE FUNCTION public.norm(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT upper(t) $$;
  CREATE FUNCTION app.key_of(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT norm(t) || '!' $$;
  CREATE FUNCTION app.rate_known(c text) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT EXISTS (SELECT 1 FROM rates WHERE code = c) $$;
  CREATE TABLE app.prices (id int PRIMARY KEY, name text, code text CHECK (app.rate_known(code)), amount numeric,
    name_key text GENERATED ALWAYS AS (app.key_of(name)) STORED);
  CREATE INDEX prices_key ON app.prices (app.key_of(name));
  CREATE UNIQUE INDEX prices_partial ON app.prices (name) WHERE app.key_of(name) <> 'x!';
  INSERT INTO app.prices SELECT g, ' Name' || g, 'eur', g FROM generate_series(1, 50) g;
  CREATE MATERIALIZED VIEW app.keyed AS SELECT id, app.key_of(name) AS k FROM app.prices;
  CREATE MATERIALIZED VIEW app.keyed_again AS SELECT id, app.key_of(k) AS kk FROM app.keyed;
`;

describe('db:move of functions that name their tables and functions without a schema', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmpath_src'), createTestDatabase('dmpath_tgt')]);
    await query(source.url, SCHEMA);
    await query(source.url, `ALTER DATABASE "${source.name}" SET search_path = app, public`);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it("copies, indexes and refreshes under the source's search_path: the values are the source's", async () => {
    const copied = await runCli(['--source', source.url, '--target', target.url]);
    expect(copied.stderr).not.toContain('"level":"error"');
    expect(copied.stdout).toContain('verification OK');
    expect(copied.code).toBe(0);
    expect(await query(target.url, `SELECT name_key FROM app.prices WHERE id = 1`)).toEqual([{ name_key: 'name1!' }]);
    expect(await query(target.url, `SELECT k FROM app.keyed WHERE id = 2`)).toEqual([{ k: 'name2!' }]);
    // Verified by its query run on the target (a view over another one), under the same search_path.
    expect(copied.stdout).toMatch(/app\.keyed_again +50 +50 +ok/);
    expect(await query(target.url, `SELECT count(*)::int AS n FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'prices'`)).toEqual([{ n: 3 }]);
    // The database's own setting does not go over (pg_dump moves it only with --create): the run says so.
    expect(events(copied.stderr).find((e) => e.msg === 'database_settings_not_moved')).toMatchObject({ level: 'warn', settings: ['search_path=app, public'] });
  });

  // A schema name may hold $& or $' (quoted identifiers), which String.replace read as patterns.
  it('puts a search_path naming any schema into the script as it is', () => {
    const dump = "SET lock_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE app.t ();";
    expect(underSearchPath(dump, `"s$&x", "a$'b", public`)).toBe(
      `SET lock_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '"s$&x", "a$''b", public', false);\nCREATE TABLE app.t ();`,
    );
  });
});
