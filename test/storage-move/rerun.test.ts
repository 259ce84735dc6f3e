import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, putObject, query, runCli, s3 } from '../support/storage-move-harness';

/** A rerun after a source object was rewritten at the same size: copied again, not skipped as done. */
const COUNT = 5;

describe('storage:move rerun after a source object changed at the same size', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let dir: string;
  const c = () => s3(em.endpoint);
  const run = (source: string, prefix: string) =>
    runCli(['--source', source, '--source-endpoint', em.endpoint, '--target', 'assets', '--target-prefix', prefix, '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url]);

  beforeAll(async () => {
    [em, db, dir] = await Promise.all([startLocalEmulator({ buckets: ['old', 'assets'] }), createTestDatabase('stmove_rerun'), mkdtemp(join(tmpdir(), 'storage-move-rerun-'))]);
    for (let i = 0; i < COUNT; i++) {
      await putObject(c(), 'old', `a/${i}.png`, content(i, 3000));
      await writeFile(join(dir, `${i}.png`), content(i, 3000));
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop(), rm(dir, { recursive: true, force: true })]);
  });

  it('S3 source: the rewritten object (another ETag) is copied again', async () => {
    expect((await run('s3://old/a/', 's3/')).stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    const changed = content(99, 3000);
    await putObject(c(), 'old', 'a/2.png', changed);
    const again = await run('s3://old/a/', 's3/');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`1 copied and verified, ${COUNT - 1} already verified`);
    expect((await getObject(c(), 'assets', 's3/2.png'))!.equals(changed)).toBe(true);
  }, 30_000);

  it('file source: the rewritten file (another modification time) is copied again', async () => {
    const source = `file://${dir}`;
    expect((await run(source, 'file/')).stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    const changed = content(98, 3000);
    await writeFile(join(dir, '3.png'), changed);
    await utimes(join(dir, '3.png'), new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    const again = await run(source, 'file/');
    expect(again.stdout).toContain(`1 copied and verified, ${COUNT - 1} already verified`);
    expect((await getObject(c(), 'assets', 'file/3.png'))!.equals(changed)).toBe(true);
  }, 30_000);

  it('the same endpoints spelled with a trailing slash are the same move', async () => {
    const r = await runCli(['--source', 's3://old/a/', '--source-endpoint', `${em.endpoint}/`, '--target', 'assets', '--target-prefix', 's3/', '--env', 'local', '--target-endpoint', `${em.endpoint}//`, '--database-url', db.url]);
    expect(r.stdout).toContain(`s3://old/a/ at ${em.endpoint} -> assets: ${COUNT} objects listed, 0 copied and verified, ${COUNT} already verified`);
  }, 30_000);

  it("a state table of the first version (no target, md5 or source version): its rows are read, the dry run and the run go on from it", async () => {
    const first = await createTestDatabase('stmove_rerun_v1');
    try {
      await query(first.url, `CREATE SCHEMA _storage_move;
        CREATE TABLE _storage_move.objects (
          target_bucket text NOT NULL, source text NOT NULL, source_key text NOT NULL,
          target_key text NOT NULL, size bigint NOT NULL, sha256 text NOT NULL, order_id uuid,
          status text NOT NULL DEFAULT 'verified' CHECK (status IN ('verified')),
          verified_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (target_bucket, source, source_key));
        INSERT INTO _storage_move.objects (target_bucket, source, source_key, target_key, size, sha256)
          VALUES ('assets', 'file://${dir}', '0.png', 'v1/0.png', 3000, 'x')`);
      const args = ['--source', `file://${dir}`, '--target', 'assets', '--target-prefix', 'v1/', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', first.url];
      const dry = await runCli([...args, '--dry-run']);
      expect(dry.stdout).toContain(`${COUNT} to copy, 0 already verified`);
      expect(dry.code).toBe(0);
      const r = await runCli(args);
      expect(r.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
      expect(r.code).toBe(0);
      expect((await runCli(args)).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
    } finally {
      await first.drop();
    }
  }, 60_000);

  it('rows of an earlier version (no source version) are copied and verified again, once', async () => {
    await query(db.url, `UPDATE _storage_move.objects SET source_version = NULL WHERE source = 's3://old/a/ at ${em.endpoint}'`);
    expect((await run('s3://old/a/', 's3/')).stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    expect((await run('s3://old/a/', 's3/')).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
  }, 30_000);
});
