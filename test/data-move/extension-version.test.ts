import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * pg_dump's CREATE EXTENSION names no version, so the target made its default one: a source at
 * another version (not updated after an upgrade, or ahead of what the target's engine ships) got
 * the default's objects, and a configuration table with other columns failed its copy, exit 3
 * ("rerun the same command") at every rerun. The test extension's 1.1 has one column more than
 * its default 1.0 (test/fixtures/postgres-extension/, put in the server by npm test's pretest).
 */
const EXTENSION = 'dm_config_test';

describe("db:move of an extension at a version other than the target's default", () => {
  let source: TestDatabase;
  const targets: TestDatabase[] = [];
  const target = async () => {
    const db = await createTestDatabase('dmextv_tgt');
    targets.push(db);
    return db;
  };
  const errorLine = (stderr: string) => JSON.parse(stderr.split('\n').find((l) => l.includes('"level":"error"'))!);

  beforeAll(async () => {
    const offered = await admin(async (c) => (await c.query(`SELECT 1 FROM pg_available_extension_versions WHERE name = $1 AND version = '1.1'`, [EXTENSION])).rows);
    if (!offered.length) throw new Error(`the server has no ${EXTENSION} 1.1: scripts/install-system-deps.sh --for-tests (npm test's pretest) copies test/fixtures/postgres-extension/ into its extension folder`);
    source = await createTestDatabase('dmextv_src');
    await query(
      source.url,
      `CREATE SCHEMA dmx; CREATE EXTENSION ${EXTENSION} SCHEMA dmx VERSION '1.1';
       INSERT INTO dmx.setting (name, value, scope) VALUES ('user1', 'v1', 'tenant a');
       CREATE TABLE public.plain (id int PRIMARY KEY); INSERT INTO public.plain VALUES (1);`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), ...targets.map((t) => t.drop())]);
  });

  it("creates it at the source's version, which the target offers, and copies its configuration rows", async () => {
    const into = await target();
    const res = await runCli(['--source', source.url, '--target', into.url]);
    expect(res.stderr).not.toContain('"level":"error"');
    expect(res.stdout).toMatch(/^dmx\.setting\s+1\s+1\s+ok$/m);
    expect(res.code).toBe(0);
    expect(await query(into.url, `SELECT extversion FROM pg_extension WHERE extname = $1`, [EXTENSION])).toEqual([{ extversion: '1.1' }]);
    expect(await query(into.url, `SELECT name, scope FROM dmx.setting WHERE NOT builtin`)).toEqual([{ name: 'user1', scope: 'tenant a' }]);
  }, 60_000);

  it('refuses a target that already has it at another version, naming both (exit 2, --target), before writing', async () => {
    const into = await target();
    // In a schema of its own: no relation, so the target counts as empty, and dmx is free for the schema.
    await query(into.url, `CREATE SCHEMA elsewhere; CREATE EXTENSION ${EXTENSION} SCHEMA elsewhere VERSION '1.0'`);
    const res = await runCli(['--source', source.url, '--target', into.url]);
    expect(res.code).toBe(2);
    const line = errorLine(res.stderr);
    expect(line).toMatchObject({ field: '--target', exitCode: 2 });
    expect(line.msg).toContain(`extension ${EXTENSION} is version 1.0 there, 1.1 on the source`);
    expect(await query(into.url, `SELECT 1 FROM pg_namespace WHERE nspname = '_data_move'`)).toEqual([]);
  }, 60_000);

  it('refuses a source version the target does not offer, naming both and what it offers (exit 2, --source), before writing', async () => {
    // A version no script of this server's installs, as one newer than the target's engine ships.
    const ahead = await createTestDatabase('dmextv_src');
    targets.push(ahead);
    await query(ahead.url, `CREATE SCHEMA dmx; CREATE EXTENSION ${EXTENSION} SCHEMA dmx; UPDATE pg_extension SET extversion = '2.0' WHERE extname = '${EXTENSION}'`);
    const into = await target();
    const res = await runCli(['--source', ahead.url, '--target', into.url]);
    expect(res.code).toBe(2);
    const line = errorLine(res.stderr);
    expect(line).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line.msg).toContain(`extension ${EXTENSION} is version 2.0 on the source, which the target does not offer (it offers 1.0, 1.1)`);
    expect(await query(into.url, `SELECT 1 FROM pg_namespace WHERE nspname = '_data_move'`)).toEqual([]);
  }, 60_000);
});
