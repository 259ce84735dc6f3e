import { randomBytes } from 'node:crypto';
import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * Large objects live in pg_largeobject, no table of the schema: pg_dump's pre-data creates them
 * empty, so a copy of the tables alone leaves every one of them without its bytes.
 */
describe('db:move with large objects on the source', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  const contents = async (url: string) =>
    query<{ oid: string; md5: string }>(url, `SELECT oid::text, md5(lo_get(oid)) FROM pg_largeobject_metadata ORDER BY oid`);

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmlo_src'), createTestDatabase('dmlo_tgt')]);
    // One empty, one small, one of 3 MB (several of the copy's reads), referenced by a table as an application would.
    await query(
      source.url,
      `CREATE TABLE files (id int PRIMARY KEY, data oid);
       INSERT INTO files VALUES (1, lo_from_bytea(0, ''::bytea)), (2, lo_from_bytea(0, 'hello world'::bytea)),
         (3, lo_from_bytea(0, (SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea) FROM generate_series(1, 196608) g)))`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('copies their bytes, and the verification compares them', async () => {
    const r = await runCli(['--source', source.url, '--target', target.url]);
    expect(r.stdout).toContain('verification OK');
    expect(r.code).toBe(0);
    const copied = await contents(target.url);
    expect(copied).toHaveLength(3);
    expect(copied).toEqual(await contents(source.url));

    await query(target.url, `SELECT lo_put(oid, 0, '\\x00'::bytea) FROM pg_largeobject_metadata WHERE oid = (SELECT data FROM files WHERE id = 2)`);
    const changed = await runCli(['--verify-only', '--source', source.url, '--target', target.url]);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/large objects\) +3 +3 +MISMATCH: content checksum differs/);
    await query(target.url, `SELECT lo_unlink(data) FROM files WHERE id = 3`);
    expect((await runCli(['--verify-only', '--source', source.url, '--target', target.url])).stdout).toMatch(/large objects\) +3 +2 +MISMATCH: row count differs/);
  });

  it('replicate mode refuses them before anything is created: logical replication does not carry them', async () => {
    const fresh = await createTestDatabase('dmlo_tgt2');
    try {
      const r = await runCli(['--mode', 'replicate', '--source', source.url, '--target', fresh.url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--source');
      expect(r.stderr).toContain('3 large objects');
      expect(await query(fresh.url, `SELECT to_regclass('_data_move.run') AS r`)).toEqual([{ r: null }]);
    } finally {
      await fresh.drop();
    }
  });

  it('a source user that may not read them: exit 2 naming --source and the grant, nothing marked copied', async () => {
    const role = `dmlo_reader_${randomBytes(4).toString('hex')}`;
    const fresh = await createTestDatabase('dmlo_tgt3');
    await admin((c) => c.query(`CREATE ROLE ${role} LOGIN; GRANT pg_read_all_data TO ${role}`));
    try {
      const url = new URL(source.url);
      url.username = role;
      const r = await runCli(['--source', url.toString(), '--target', fresh.url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('"field":"--source"');
      expect(r.stderr).toContain('GRANT SELECT ON LARGE OBJECT');
      expect(await query(fresh.url, `SELECT name FROM _data_move.copied_table WHERE name LIKE 'pg_catalog%'`)).toEqual([]);
    } finally {
      await fresh.drop();
      await admin((c) => c.query(`DROP ROLE ${role}`));
    }
  });

  it('an object of 1 GiB and more is verified piece by piece: OK when the same, a mismatch for one byte changed near its end', async () => {
    const [left, right] = await Promise.all([createTestDatabase('dmlo_big_src'), createTestDatabase('dmlo_big_tgt')]);
    // Sparse: a byte past 1 GiB makes an object of that size whose hole reads as zeros, without
    // writing a gigabyte; read whole (lo_get(oid)), it was refused as too large to hold in memory.
    const big = `SELECT lo_put(lo_from_bytea(424242, 'head'::bytea), 1073741824, 'tail'::bytea)`;
    try {
      await Promise.all([query(left.url, big), query(right.url, big)]);
      const same = await runCli(['--verify-only', '--source', left.url, '--target', right.url]);
      expect(same.stderr).not.toContain('"level":"error"');
      expect(same.stdout).toMatch(/large objects\) +1 +1 +ok/);
      expect(same.code).toBe(0);
      await query(right.url, `SELECT lo_put(424242, 1073741824 - 1, '\\x01'::bytea)`);
      const changed = await runCli(['--verify-only', '--source', left.url, '--target', right.url]);
      expect(changed.stdout).toMatch(/large objects\) +1 +1 +MISMATCH: content checksum differs/);
      expect(changed.code).toBe(1);
    } finally {
      await Promise.all([left.drop(), right.drop()]);
    }
  }, 180_000);
});
